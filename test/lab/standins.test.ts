// The APISIX stand-ins (lab/standins) against one real etcd 3.4 member with TLS,
// client-cert-auth and auth on, fed with config.yaml files from the repo's own renderers:
// the start-time etcd majority rule, sync and readiness, Admin API access rules, proxying, etcd
// stopped, killed and restarted; and the strictness that hid faults before: member certificates
// with IP SANs only fail the way real APISIX fails, and a file the flavor's contract rejects
// never starts.
import { cfg } from "../config";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadPlatform } from "../../components/config";
import { renderApisixControlPlaneConfig } from "../../components/render/controlPlane";
import { ETCD_TLS_SERVER_NAME } from "../../components/render/etcd";
import { APISIX_PATHS, SECRET_ENV, renderGatewayConfig } from "../../components/render/gateway";
import { MANAGEMENT_TLS_NAME, MANAGEMENT_TLS_PATHS } from "../../components/render/managementTls";
import { systemRootsBundle } from "../../components/service";
import { ConfigError, loadConfig, pathUnderRoot, resolveEnvRefs } from "../../lab/standins/config";
import { EtcdClient, EtcdError, opensslHostMismatch } from "../../lab/standins/etcdClient";

const ETCD = "/usr/bin/etcd";
const ETCDCTL = "/usr/bin/etcdctl";
const OPENSSL = "/usr/bin/openssl";
const haveTools = [ETCD, ETCDCTL, OPENSSL].every((p) => existsSync(p));

const REPO = join(__dirname, "..", "..");
const STANDIN = join(REPO, "lab", "standins", "apisix.ts");
/**
 * The rendered host list names three members. One etcd process answers on the second and third
 * addresses (a majority, which init_etcd needs at start); the first refuses, so every fresh
 * connection fails over once.
 */
const ETCD_ADDRS = ["127.0.0.61", "127.0.0.62", "127.0.0.63"];
const ETCD_ADDR = ETCD_ADDRS[1];
const ETCD_ANSWERING = ETCD_ADDRS.slice(1);
/** What the control-plane stand-in waits for one member per attempt (--etcd-timeout-ms). */
const CP_ETCD_TIMEOUT_MS = 1500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) {
    const r = spawnSync(cmd, args, { env, timeout: 20_000, encoding: "utf8", killSignal: "SIGKILL" });
    return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, stdout: r.stdout ?? "" };
}

function openssl(args: string[], cwd: string) {
    const r = spawnSync(OPENSSL, args, { cwd, encoding: "utf8", timeout: 20_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stdout}${r.stderr}`);
}

/** A free port on `host`, from the kernel. */
function freePort(host = "0.0.0.0"): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(0, host, () => {
            const { port } = srv.address() as net.AddressInfo;
            srv.close(() => resolve(port));
        });
    });
}

/** One CA; certificates with EC prime256v1 keys. `subject` without CN for etcd clients (see etcdClient.ts). */
class Pki {
    constructor(readonly dir: string) {
        openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=standins-lab-ca"], dir);
    }
    get ca() {
        return join(this.dir, "ca.crt");
    }
    issue(name: string, subject: string, extensions: string): { cert: string; key: string } {
        const [cert, key, csr, ext] = ["crt", "key", "csr", "ext"].map((x) => join(this.dir, `${name}.${x}`));
        openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", subject], this.dir);
        writeFileSync(ext, `${extensions}\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
        openssl(["x509", "-req", "-in", csr, "-CA", this.ca, "-CAkey", join(this.dir, "ca.key"), "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", ext], this.dir);
        return { cert, key };
    }
}

interface Answer {
    status: number;
    body: string;
    ms: number;
}

/** `ca`: HTTPS, verified against it and `servername` (default: the address, 127.0.0.1). */
function request(opts: { port: number; path: string; method?: string; headers?: Record<string, string>; body?: string; ca?: string; servername?: string; timeoutMs?: number }): Promise<Answer> {
    const started = Date.now();
    const mod = opts.ca ? https : http;
    return new Promise((resolve, reject) => {
        const tlsOptions = opts.ca ? { ca: readFileSync(opts.ca), ...(opts.servername ? { servername: opts.servername } : {}) } : {};
        const req = mod.request(
            { host: "127.0.0.1", port: opts.port, path: opts.path, method: opts.method ?? "GET", headers: opts.headers, agent: false, ...tlsOptions },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), ms: Date.now() - started }));
                res.on("error", reject);
            },
        );
        req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error("request timeout")));
        req.on("error", reject);
        req.end(opts.body);
    });
}

/** Polls until `check` passes (returns truthy) or `ms` elapse; returns the last value. */
async function waitFor<T>(what: string, ms: number, attempt: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
    const deadline = Date.now() + ms;
    let last: T | Error = new Error("never tried");
    while (Date.now() < deadline) {
        try {
            last = await attempt();
            if (check(last)) return last;
        } catch (e) {
            last = e as Error;
        }
        await sleep(100);
    }
    throw new Error(`${what}: not within ${ms} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

function password(): string {
    // YAML-hostile on purpose (etcdctl takes no whitespace): it reaches config.yaml only as ${{VAR}}.
    return `p#: '"{}[]&*${randomBytes(9).toString("base64url")}`;
}

interface Proc {
    child: ChildProcess;
    log: string;
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(cmd: string, args: string[], log: string, env: NodeJS.ProcessEnv): Proc {
    const fd = openSync(log, "a");
    // Output to a file, never a pipe nobody reads.
    const child = spawn(cmd, args, { cwd: REPO, stdio: ["ignore", fd, fd], env: { PATH: process.env.PATH, ...env } });
    closeSync(fd);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    return { child, log, exited };
}

async function stop(p: Proc | undefined, signal: NodeJS.Signals = "SIGKILL") {
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill(signal);
    await Promise.race([p.exited, sleep(5000)]);
}

describe("stand-in config loading", () => {
    const dirs: string[] = [];
    afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

    it("resolves ${{VAR}} and ${{VAR:=default}} on parsed values, as APISIX does", () => {
        const env = { PW: "p#: x", EMPTY: "", PORT: "9180", ON: "true" };
        expect(resolveEnvRefs({ a: "${{PW}}", b: "${{ MISSING:=fallback }}", c: "x-${{EMPTY}}-y", d: ["${{PORT}}"], e: "${{ON}}", f: 7 }, env)).toEqual({
            a: "p#: x",
            b: "fallback",
            c: "x--y",
            d: [9180],
            e: true,
            f: 7,
        });
        // Without a reference a numeric-looking string stays a string.
        expect(resolveEnvRefs({ s: "123" }, {})).toEqual({ s: "123" });
    });

    it("an unset variable without default is an error naming the variable and where it is used", () => {
        expect(() => resolveEnvRefs({ deployment: { etcd: { password: "${{GATEWAY_HA_ETCD_PASSWORD}}" } } }, {})).toThrow(
            new ConfigError("deployment.etcd.password: can't find environment variable GATEWAY_HA_ETCD_PASSWORD"),
        );
    });

    it("matches server names as OpenSSL's X509_check_host: DNS SANs only, one leftmost wildcard label, the CN only without DNS SANs", () => {
        const cert = (subjectaltname: string, CN?: string) => ({ subjectaltname, subject: { CN } as never });
        expect(opensslHostMismatch("etcd.gateway-ha.internal", cert("IP Address:10.0.0.1, DNS:etcd.gateway-ha.internal"))).toBeUndefined();
        expect(opensslHostMismatch("ETCD.gateway-ha.internal", cert("DNS:etcd.gateway-ha.internal"))).toBeUndefined();
        expect(opensslHostMismatch("10.0.0.1", cert("IP Address:10.0.0.1, DNS:etcd-1"))?.message).toMatch(/certificate host mismatch \(10\.0\.0\.1 is not a DNS SAN/);
        expect(opensslHostMismatch("a.example.com", cert("DNS:*.example.com"))).toBeUndefined();
        expect(opensslHostMismatch("a.b.example.com", cert("DNS:*.example.com"))).toBeInstanceOf(Error);
        expect(opensslHostMismatch("example.com", cert("DNS:*.com"))).toBeInstanceOf(Error);
        // The subject CN counts only when the certificate has no DNS SAN at all.
        expect(opensslHostMismatch("etcd-1", cert("IP Address:10.0.0.1", "etcd-1"))).toBeUndefined();
        expect(opensslHostMismatch("etcd-1", cert("DNS:other", "etcd-1"))).toBeInstanceOf(Error);
    });

    it("takes paths inside --root; relative ones inside APISIX's home", () => {
        expect(pathUnderRoot("/srv/gw-1", "/usr/local/apisix/conf/etcd-pki/ca.crt")).toBe("/srv/gw-1/usr/local/apisix/conf/etcd-pki/ca.crt");
        expect(pathUnderRoot("/srv/gw-1", "conf/cert.pem")).toBe("/srv/gw-1/usr/local/apisix/conf/cert.pem");
    });

    it("reads the rendered gateway and control-plane configs", () => {
        const { spec, topology } = platform({ etcd: { clientPort: 2379, peerPort: 2380 } });
        const root = mkdtempSync(join(tmpdir(), "gwha-standin-cfg-"));
        dirs.push(root);
        const write = (text: string) => {
            mkdirSync(dirname(pathUnderRoot(root, APISIX_PATHS.config)), { recursive: true });
            writeFileSync(pathUnderRoot(root, APISIX_PATHS.config), text);
        };
        mkdirSync(dirname(pathUnderRoot(root, APISIX_PATHS.trustBundle)), { recursive: true });
        mkdirSync(join(root, "pki"));
        writeFileSync(pathUnderRoot(root, APISIX_PATHS.trustBundle), systemRootsBundle(readFileSync(new Pki(join(root, "pki")).ca, "utf8")));
        write(renderGatewayConfig(spec, topology));
        const env = { [SECRET_ENV.etcdPassword]: "pw", [SECRET_ENV.adminKey]: "k" };
        const gw = loadConfig({ root, configPath: APISIX_PATHS.config, env });
        expect(gw).toMatchObject({
            role: "data_plane",
            http: [{ ip: "0.0.0.0", port: 80 }],
            https: [{ ip: "0.0.0.0", port: 443 }],
            status: { ip: "0.0.0.0", port: 7085 },
            metrics: { ip: "0.0.0.0", port: 9091 },
            etcd: {
                hosts: ETCD_ADDRS.map((a) => `https://${a}:2379`),
                prefix: "/apisix",
                timeoutMs: 30_000,
                user: "gateway",
                password: "pw",
                sni: ETCD_TLS_SERVER_NAME,
                startupRetry: 2,
                caFile: `${root}/usr/local/apisix/conf/etcd-pki/trusted.crt`,
                certFile: `${root}/usr/local/apisix/conf/etcd-pki/client.crt`,
                keyFile: `${root}/usr/local/apisix/conf/etcd-pki/client.key`,
                verify: true,
            },
        });
        expect(() => loadConfig({ root, configPath: APISIX_PATHS.config, env: {} })).toThrow(/can't find environment variable GATEWAY_HA_ETCD_PASSWORD/);

        write(renderApisixControlPlaneConfig(spec, topology));
        const cp = loadConfig({ root, configPath: APISIX_PATHS.config, env });
        expect(cp).toMatchObject({
            role: "control_plane",
            http: [],
            https: [],
            admin: {
                listen: { ip: "0.0.0.0", port: 9180 },
                keyRequired: true,
                keys: ["k"],
                tls: { certFile: pathUnderRoot(root, MANAGEMENT_TLS_PATHS.apisix.cert), keyFile: pathUnderRoot(root, MANAGEMENT_TLS_PATHS.apisix.key) },
            },
        });
        // apisix/cli/ops.lua: https_admin without its certificate stops APISIX before nginx starts.
        write(renderApisixControlPlaneConfig(spec, topology).replace(/^ {6}admin_ssl_cert_key: .*\n/m, ""));
        expect(() => loadConfig({ root, configPath: APISIX_PATHS.config, env })).toThrow("missing ssl cert for https admin");
        write(renderApisixControlPlaneConfig(spec, topology));
        expect(cp.admin.allow).toContain("127.0.0.0/24");
        expect(cp.etcd.user).toBe("control-plane");
        expect(() => loadConfig({ root, configPath: APISIX_PATHS.config, env: { [SECRET_ENV.etcdPassword]: "pw" } })).toThrow(/GATEWAY_HA_ADMIN_KEY/);
        expect(() => loadConfig({ root, configPath: "/nope.yaml", env })).toThrow(/cannot read .*\/nope\.yaml/);
    });

    it("refuses what the flavor's contract rejects, naming the key, the rule and the upstream source", () => {
        const { spec, topology } = platform({});
        const root = mkdtempSync(join(tmpdir(), "gwha-standin-cfg-"));
        dirs.push(root);
        const put = (path: string, text: string) => {
            mkdirSync(dirname(pathUnderRoot(root, path)), { recursive: true });
            writeFileSync(pathUnderRoot(root, path), text);
        };
        const env = { [SECRET_ENV.etcdPassword]: "pw" };
        const rendered = parse(renderGatewayConfig(spec, topology));
        // The faults as they were rendered before: IP hosts without sni, the etcd CA alone as the trust store.
        delete rendered.deployment.etcd.tls.sni;
        mkdirSync(join(root, "pki"));
        const ca = readFileSync(new Pki(join(root, "pki")).ca, "utf8");
        put(APISIX_PATHS.config, stringify(rendered));
        put(APISIX_PATHS.trustBundle, systemRootsBundle(ca));
        expect(() => loadConfig({ root, configPath: APISIX_PATHS.config, env })).toThrow(/deployment\.etcd\.host\[0\] the TLS server name 127\.0\.0\.61 is an IP address.*\[etcd-tls-ip-host; apache\/apisix 3\.14\.1/);
        rendered.deployment.etcd.tls.sni = ETCD_TLS_SERVER_NAME;
        put(APISIX_PATHS.config, stringify(rendered));
        // The etcd CA alone: it would replace the system store for every outbound connection.
        put(APISIX_PATHS.trustBundle, ca);
        expect(() => loadConfig({ root, configPath: APISIX_PATHS.config, env })).toThrow(/holds no public roots.*\[trust-no-system-roots;/);
        // API7 v2 reads APISIX 2.13's shape: the 3.x file is refused under that flavor.
        put(APISIX_PATHS.trustBundle, systemRootsBundle(ca));
        expect(() => loadConfig({ root, configPath: APISIX_PATHS.config, env, flavor: "api7-v2" })).toThrow(/v2-no-deployment/);
        expect(loadConfig({ root, configPath: APISIX_PATHS.config, env }).etcd.sni).toBe(ETCD_TLS_SERVER_NAME);
    });
});

/** A loopback platform like test/lab/etcd-cluster.test.ts builds, with the given overrides. */
function platform(overrides: Record<string, unknown>, etcdAddrs = ETCD_ADDRS) {
    const nodes = [
        ...etcdAddrs.map((address, i) => ({ name: `etcd-${i + 1}`, address })),
        { name: "cp-1", address: "127.0.0.71" },
        { name: "cp-2", address: "127.0.0.72" },
        { name: "dp-1", address: "127.0.0.81" },
        { name: "dp-2", address: "127.0.0.82" },
        { name: "lb-1", address: "127.0.0.91" },
    ];
    const config = { docker: { subnet: "127.0.0.0/24" }, nodes, ...overrides };
    const raw = cfg(config);
    return loadPlatform(raw, { project: "gateway-ha", stack: "lab" });
}

describe.skipIf(!haveTools)("APISIX stand-ins against real etcd (TLS, client-cert-auth, auth)", () => {
    const dirs: string[] = [];
    const procs: Proc[] = [];
    let work: string;
    let pki: Pki;
    /** The management channel's own CA, and the Admin API's certificate from it. */
    let management: Pki;
    let etcd: Proc | undefined;
    let etcdArgs: string[];
    let etcdUrl: string;
    let gateway: Proc;
    let cp: Proc;
    let cpDenied: Proc;
    let upstream: http.Server;
    let rootCert: { cert: string; key: string };
    const ports = { http: 0, https: 0, status: 0, metrics: 0, admin: 0, adminDenied: 0, upstream: 0, narrowHttp: 0, narrowHttps: 0, narrowStatus: 0, narrowMetrics: 0 };
    const pw = { root: randomBytes(12).toString("hex"), cp: password(), gw: password() };
    const adminKey = `key-${randomBytes(12).toString("hex")}`;

    const ctl = (args: string[], user = `root:${pw.root}`) =>
        run(ETCDCTL, [`--endpoints=${etcdUrl}`, `--cacert=${pki.ca}`, `--cert=${rootCert.cert}`, `--key=${rootCert.key}`, "--dial-timeout=2s", "--command-timeout=5s", ...(user ? [`--user=${user}`] : []), ...args]);
    /** The Admin API over HTTPS, its certificate verified as a balancer does: the management CA, the name all nodes carry. */
    const admin = (method: string, path: string, body?: unknown, headers: Record<string, string> = { "X-API-KEY": adminKey }, port = ports.admin) =>
        request({ port, path, method, headers: { "content-type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body), ca: management.ca, servername: MANAGEMENT_TLS_NAME });
    const gw = (path: string, method = "GET") => request({ port: ports.http, path, method });
    const route = (uri: string, extra: Record<string, unknown> = {}) => ({ uri, upstream: { type: "roundrobin", nodes: { [`127.0.0.1:${ports.upstream}`]: 1 } }, ...extra });
    const metrics = () => request({ port: ports.metrics, path: "/apisix/prometheus/metrics" }).then((r) => r.body);

    /** One root per service: its "container filesystem" with config.yaml and the etcd PKI at the rendered paths. */
    function serviceRoot(name: string, configYaml: string, client: { cert: string; key: string }): string {
        const root = join(work, name);
        const put = (path: string, content: string | Buffer) => {
            mkdirSync(dirname(pathUnderRoot(root, path)), { recursive: true });
            writeFileSync(pathUnderRoot(root, path), content);
        };
        put(APISIX_PATHS.config, configYaml);
        put(APISIX_PATHS.ca, readFileSync(pki.ca));
        put(APISIX_PATHS.trustBundle, systemRootsBundle(readFileSync(pki.ca, "utf8")));
        put(APISIX_PATHS.cert, readFileSync(client.cert));
        put(APISIX_PATHS.key, readFileSync(client.key));
        put(MANAGEMENT_TLS_PATHS.apisix.cert, readFileSync(join(management.dir, "admin.crt")));
        put(MANAGEMENT_TLS_PATHS.apisix.key, readFileSync(join(management.dir, "admin.key")));
        return root;
    }

    function standin(name: string, root: string, etcdPassword: string, extra: string[] = []): Proc {
        const p = start(process.execPath, ["--import", "tsx", STANDIN, "--root", root, "--config", APISIX_PATHS.config, ...extra], join(work, `${name}.log`), {
            [SECRET_ENV.etcdPassword]: etcdPassword,
            [SECRET_ENV.adminKey]: adminKey,
        });
        procs.push(p);
        return p;
    }

    const logOf = (p: Proc) => readFileSync(p.log, "utf8");
    const roots = { gateway: "", cp: "", cpDenied: "", narrow: "" };
    const httpsArgs = () => ["--https-cert", join(work, "pki", "gateway-https.crt"), "--https-key", join(work, "pki", "gateway-https.key")];
    function startAll(): void {
        gateway = standin("gateway", roots.gateway, pw.gw, httpsArgs());
        cp = standin("cp", roots.cp, pw.cp, ["--etcd-timeout-ms", String(CP_ETCD_TIMEOUT_MS)]);
        cpDenied = standin("cp-denied", roots.cpDenied, pw.cp);
    }

    beforeAll(async () => {
        work = mkdtempSync(join(tmpdir(), "gwha-standins-"));
        dirs.push(work);
        mkdirSync(join(work, "pki"));
        pki = new Pki(join(work, "pki"));
        // As the stack issues them: the addresses as IP SANs and the shared server name as a DNS SAN.
        const member = pki.issue("member", "/CN=etcd-2-etcd", `subjectAltName=${ETCD_ANSWERING.map((a) => `IP:${a}`).join(",")},DNS:${ETCD_TLS_SERVER_NAME}\nextendedKeyUsage=serverAuth,clientAuth`);
        // No CommonName: etcd's JSON gateway refuses client certificates that have one (see etcdClient.ts).
        const client = pki.issue("client", "/O=gateway-ha", "subjectAltName=DNS:etcd-client\nextendedKeyUsage=clientAuth");
        rootCert = client;
        pki.issue("gateway-https", "/CN=gateway", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth");
        mkdirSync(join(work, "management"));
        management = new Pki(join(work, "management"));
        management.issue("admin", `/CN=${MANAGEMENT_TLS_NAME}`, `subjectAltName=DNS:${MANAGEMENT_TLS_NAME}\nextendedKeyUsage=serverAuth`);

        const [clientPort, peerPort] = [await freePort(ETCD_ADDR), await freePort(ETCD_ADDR)];
        for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
        etcdUrl = `https://${ETCD_ADDR}:${clientPort}`;
        etcdArgs = [
            "--name=etcd-2-etcd",
            `--data-dir=${join(work, "etcd-data")}`,
            `--listen-client-urls=${ETCD_ANSWERING.map((a) => `https://${a}:${clientPort}`).join(",")}`,
            `--advertise-client-urls=${etcdUrl}`,
            `--listen-peer-urls=https://${ETCD_ADDR}:${peerPort}`,
            `--initial-advertise-peer-urls=https://${ETCD_ADDR}:${peerPort}`,
            `--initial-cluster=etcd-2-etcd=https://${ETCD_ADDR}:${peerPort}`,
            "--heartbeat-interval=50",
            "--election-timeout=500",
            "--client-cert-auth=true",
            `--trusted-ca-file=${pki.ca}`,
            `--cert-file=${member.cert}`,
            `--key-file=${member.key}`,
            "--peer-client-cert-auth=true",
            `--peer-trusted-ca-file=${pki.ca}`,
            `--peer-cert-file=${member.cert}`,
            `--peer-key-file=${member.key}`,
            "--logger=zap",
        ];

        const base = {
            etcd: { clientPort, peerPort },
            dataPlane: { httpPort: ports.http, httpsPort: ports.https, statusPort: ports.status, metricsPort: ports.metrics, adminAllow: ["127.0.0.0/8"] },
            controlPlane: { adminPort: ports.admin },
        };
        const main = platform(base);
        const denied = platform({ ...base, dataPlane: { ...base.dataPlane, adminAllow: ["10.0.0.0/8", "192.168.0.0/16"] }, controlPlane: { adminPort: ports.adminDenied } });

        upstream = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", async () => {
                if (req.url === "/slow") await sleep(400);
                res.end(`upstream: ${req.method} ${req.url} xff=${req.headers["x-forwarded-for"]} body=${Buffer.concat(chunks).toString("utf8")}`);
            });
        });
        await new Promise<void>((r) => upstream.listen(ports.upstream, "127.0.0.1", () => r()));

        // Services first, etcd later: every role dies at start, as init_etcd makes APISIX do; Docker's
        // restart policy (here: the test) starts them again once etcd answers.
        roots.gateway = serviceRoot("gateway", renderGatewayConfig(main.spec, main.topology), client);
        roots.cp = serviceRoot("cp", renderApisixControlPlaneConfig(main.spec, main.topology), client);
        roots.cpDenied = serviceRoot("cp-denied", renderApisixControlPlaneConfig(denied.spec, denied.topology), client);
        // A gateway whose etcd user may read only under "/apisix/" (the exact prefix with its slash).
        const narrow = platform({ ...base, dataPlane: { ...base.dataPlane, httpPort: ports.narrowHttp, httpsPort: ports.narrowHttps, statusPort: ports.narrowStatus, metricsPort: ports.narrowMetrics } });
        const narrowYaml = renderGatewayConfig(narrow.spec, narrow.topology);
        expect(narrowYaml).toMatch(/^ {4}user: gateway$/m);
        roots.narrow = serviceRoot("gateway-narrow", narrowYaml.replace(/^ {4}user: gateway$/m, "    user: gateway-narrow"), client);
        startAll();
    }, 60_000);

    afterAll(async () => {
        // STANDINS_TEST_LOGS=1 prints what the stand-ins logged, for looking into a failure.
        if (process.env.STANDINS_TEST_LOGS) for (const p of procs) console.log(`${p.log}:\n${readFileSync(p.log, "utf8")}`);
        await Promise.all([...procs, etcd].map((p) => stop(p)));
        await new Promise((r) => (upstream ? upstream.close(r) : r(undefined)));
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }, 30_000);

    it("before etcd runs: gateway and control plane die at start (init_etcd), listening on nothing", async () => {
        const [g, c] = await Promise.all([gateway.exited, cp.exited, cpDenied.exited]);
        expect(g).toEqual({ code: 1, signal: null });
        expect(c).toEqual({ code: 1, signal: null });
        for (const p of [gateway, cp]) {
            expect(logOf(p)).toMatch(/init_etcd: Warning! Request etcd endpoint 'https:\/\/127\.0\.0\.6\d:\d+\/version' error, .*ECONNREFUSED.*, retry time=2/);
            expect(logOf(p)).toMatch(/fatal: all etcd nodes are unavailable/);
            expect(logOf(p)).not.toMatch(/listening/);
        }
        await expect(request({ port: ports.status, path: "/status", timeoutMs: 1000 })).rejects.toThrow(/ECONNREFUSED/);
    });

    it("etcd comes up with users, roles and auth; the gateway syncs and turns ready", async () => {
        etcd = start(ETCD, etcdArgs, join(work, "etcd.log"), {});
        await waitFor("etcd healthy", 20_000, async () => ctl(["endpoint", "health"], ""), (r) => r.status === 0);
        for (const args of [
            ["user", "add", `root:${pw.root}`],
            ["user", "grant-role", "root", "root"],
            ["role", "add", "apisix-rw"],
            ["role", "grant-permission", "apisix-rw", "readwrite", "/apisix", "--prefix=true"],
            ["user", "add", `control-plane:${pw.cp}`],
            ["user", "grant-role", "control-plane", "apisix-rw"],
            ["role", "add", "apisix-ro"],
            ["role", "grant-permission", "apisix-ro", "read", "/apisix", "--prefix=true"],
            ["user", "add", `gateway:${pw.gw}`],
            ["user", "grant-role", "gateway", "apisix-ro"],
            ["auth", "enable"],
        ]) {
            const r = ctl(args, "");
            expect(r.status, `etcdctl ${args.join(" ")}: ${r.out}`).toBe(0);
        }
        startAll();
        const status = await waitFor("gateway /status", 15_000, () => request({ port: ports.status, path: "/status" }), (r) => r.status === 200);
        expect(JSON.parse(status.body)).toEqual({ status: "ok" });
        const ready = await waitFor("gateway ready", 10_000, () => request({ port: ports.status, path: "/status/ready" }), (r) => r.status === 200);
        expect(logOf(gateway)).toMatch(/init_etcd: 2 of 3 etcd hosts answered/);
        expect(ready.status).toBe(200);
        expect(logOf(gateway)).toMatch(/etcd: synced 0 routes at revision \d+/);
        expect(await metrics()).toMatch(/^apisix_etcd_reachable 1$/m);
    });

    it("a grant on the exact prefix (/apisix/) is too narrow: APISIX's full load reads [/apisix, /apisiy), so that gateway never syncs", async () => {
        for (const args of [
            ["role", "add", "apisix-narrow"],
            ["role", "grant-permission", "apisix-narrow", "read", "/apisix/", "--prefix=true"],
            ["user", "add", `gateway-narrow:${pw.gw}`],
            ["user", "grant-role", "gateway-narrow", "apisix-narrow"],
        ]) {
            const r = ctl(args);
            expect(r.status, `etcdctl ${args.join(" ")}: ${r.out}`).toBe(0);
        }
        const narrow = standin("gateway-narrow", roots.narrow, pw.gw);
        await waitFor("a refused full load", 15_000, async () => logOf(narrow), (log) => /etcd: sync failed \(.*permission denied/.test(log));
        expect(logOf(narrow)).not.toMatch(/etcd: synced/);
        expect((await request({ port: ports.narrowStatus, path: "/status/ready" })).status).toBe(503);
        await stop(narrow);
        // The grant the stack makes (/apisix, no slash) is what the gateway above synced with.
        expect(logOf(gateway)).toMatch(/etcd: synced \d+ routes/);
    });

    it("etcd's JSON gateway: a client cert with a CommonName is refused; the gateway user cannot write", async () => {
        const withCn = pki.issue("with-cn", "/CN=gateway", "extendedKeyUsage=clientAuth");
        const options = { hosts: [etcdUrl], ca: readFileSync(pki.ca), verify: true, sni: ETCD_TLS_SERVER_NAME, timeoutMs: 3000 };
        const refused = await new EtcdClient({ ...options, cert: readFileSync(withCn.cert), key: readFileSync(withCn.key), user: "gateway", password: pw.gw })
            .range("/apisix/routes/", { prefix: true })
            .catch((e) => e);
        expect(refused).toBeInstanceOf(EtcdError);
        expect(refused.certHasCommonName).toBe(true);

        const asGateway = new EtcdClient({ ...options, cert: readFileSync(rootCert.cert), key: readFileSync(rootCert.key), user: "gateway", password: pw.gw });
        expect((await asGateway.range("/apisix/routes/", { prefix: true })).kvs).toEqual([]);
        await expect(asGateway.put("/apisix/routes/evil", "{}")).rejects.toThrow("permission denied");

        // A watch from a compacted revision fails with the compaction point, so the gateway re-syncs.
        const asRoot = new EtcdClient({ ...options, cert: readFileSync(rootCert.cert), key: readFileSync(rootCert.key), user: "root", password: pw.root });
        await asRoot.put("/compaction/a", "1");
        const { revision } = await asRoot.put("/compaction/a", "2");
        expect(ctl(["compaction", String(revision)]).status).toBe(0);
        const compacted = await asRoot
            .watch("/compaction/", { prefix: true, startRevision: 1, idleMs: 5000 }, { onEvents: () => {} })
            .then((w) => w.done)
            .catch((e) => e);
        expect(compacted).toBeInstanceOf(EtcdError);
        expect(compacted.details.compactRevision).toBe(revision);
        // A quiet watch ends as idle after idleMs (the gateway then re-makes it where it stopped).
        const quiet = await asRoot
            .watch("/compaction/", { prefix: true, startRevision: revision + 1, idleMs: 300 }, { onEvents: () => {} })
            .then((w) => w.done)
            .catch((e) => e);
        expect(quiet.details).toMatchObject({ idle: true });
        await expect(new EtcdClient({ ...options, cert: readFileSync(rootCert.cert), key: readFileSync(rootCert.key), user: "gateway", password: "wrong" }).range("/apisix")).rejects.toThrow(
            "authentication failed",
        );
    });

    it("Admin API: 401 without the key, 403 outside allow_admin, 400 for a bad body; a PUT is in etcd when answered", async () => {
        expect((await admin("PUT", "/apisix/admin/routes/1", route("/hello"), {})).status).toBe(401);
        expect((await admin("PUT", "/apisix/admin/routes/1", route("/hello"), { "X-API-KEY": "wrong" })).status).toBe(401);
        const denied = await waitFor("denied admin listener", 15_000, () => admin("PUT", "/apisix/admin/routes/1", route("/hello"), undefined, ports.adminDenied), () => true);
        expect(denied.status).toBe(403);
        expect((await admin("PUT", "/apisix/admin/routes/1", { uri: "/hello" })).status).toBe(400);
        expect((await request({ port: ports.admin, path: "/apisix/admin/routes/1", method: "PUT", headers: { "X-API-KEY": adminKey }, body: "{not json", ca: management.ca, servername: MANAGEMENT_TLS_NAME })).status).toBe(400);
        // Plain HTTP never reaches it: the key would cross the network in clear.
        await expect(request({ port: ports.admin, path: "/apisix/admin/routes", headers: { "X-API-KEY": adminKey }, timeoutMs: 2000 })).rejects.toThrow();
        // Nor does a client that trusts another CA (the etcd CA signs no management certificate).
        await expect(request({ port: ports.admin, path: "/apisix/admin/routes", ca: pki.ca, servername: MANAGEMENT_TLS_NAME, timeoutMs: 2000 })).rejects.toThrow(/self-signed|unable to verify|certificate/i);
        expect(ctl(["get", "/apisix/routes/1"]).stdout).toBe("");

        const created = await admin("PUT", "/apisix/admin/routes/1", route("/hello", { methods: ["GET", "POST"] }));
        expect(created.status, created.body).toBe(201);
        expect(JSON.parse(created.body)).toMatchObject({ key: "/apisix/routes/1", value: { id: "1", uri: "/hello" } });
        const stored = ctl(["get", "/apisix/routes/1", "--print-value-only"]);
        expect(stored.status, stored.out).toBe(0);
        expect(JSON.parse(stored.stdout)).toMatchObject({ uri: "/hello", methods: ["GET", "POST"] });

        expect((await admin("PUT", "/apisix/admin/routes/2", route("/api/*"))).status).toBe(201);
        expect((await admin("PUT", "/apisix/admin/routes/2", route("/api/*"))).status).toBe(200);
        const one = await admin("GET", "/apisix/admin/routes/2");
        expect(JSON.parse(one.body)).toMatchObject({ key: "/apisix/routes/2", value: { uri: "/api/*" } });
        expect((await admin("GET", "/apisix/admin/routes/404")).status).toBe(404);
        expect(JSON.parse((await admin("GET", "/apisix/admin/routes")).body)).toMatchObject({ total: 2 });
        expect((await admin("GET", "/elsewhere")).status).toBe(404);
        // Only the first start's refusal (etcd was not up yet) is fatal.
        expect(logOf(cpDenied).replace(/^.* fatal: all etcd nodes are unavailable$/m, "")).not.toMatch(/fatal/);
    });

    it("the gateway proxies the synced routes over HTTP and HTTPS", async () => {
        const hello = await waitFor("route /hello served", 5000, () => gw("/hello"), (r) => r.status === 200);
        expect(hello.body).toBe("upstream: GET /hello xff=127.0.0.1 body=");
        const post = await request({ port: ports.http, path: "/hello?x=1", method: "POST", body: "ping", headers: { "x-forwarded-for": "10.9.9.9" } });
        expect(post.body).toBe("upstream: POST /hello?x=1 xff=10.9.9.9, 127.0.0.1 body=ping");
        expect((await gw("/hello", "DELETE")).status).toBe(404);
        expect((await gw("/api/v1/items")).body).toBe("upstream: GET /api/v1/items xff=127.0.0.1 body=");
        expect((await gw("/hello/more")).status).toBe(404);
        const tls = await request({ port: ports.https, path: "/hello", ca: pki.ca });
        expect(tls.status).toBe(200);
        expect(await metrics()).toMatch(/^apisix_standin_routes_cached 2$/m);
        expect(await metrics()).toMatch(/^apisix_http_requests_total \d+$/m);
    });

    it("a node that refuses connections is skipped for the next one; with none left the answer is 502", async () => {
        const closedPort = await freePort("127.0.0.1");
        const dead = { host: "127.0.0.1", port: closedPort, weight: 1 };
        expect((await admin("PUT", "/apisix/admin/routes/dead", { uri: "/dead", upstream: { nodes: [dead] } })).status).toBe(201);
        expect((await admin("PUT", "/apisix/admin/routes/half", { uri: "/half", upstream: { nodes: [dead, { host: "127.0.0.1", port: ports.upstream, weight: 1 }] } })).status).toBe(201);
        const r = await waitFor("route /dead synced", 5000, () => gw("/dead"), (a) => a.status !== 404);
        expect(r.status).toBe(502);
        await waitFor("route /half synced", 5000, () => gw("/half"), (a) => a.status !== 404);
        for (let i = 0; i < 4; i++) expect((await gw("/half")).status).toBe(200);
        expect((await admin("DELETE", "/apisix/admin/routes/half")).status).toBe(200);
        expect((await admin("DELETE", "/apisix/admin/routes/dead")).status).toBe(200);
        await waitFor("route /dead removed", 5000, () => gw("/dead"), (a) => a.status === 404);
    });

    it("etcd stopped (SIGSTOP): an admin PUT answers 503 within the etcd timeout; the gateway keeps serving", async () => {
        etcd!.child.kill("SIGSTOP");
        try {
            const put = await admin("PUT", "/apisix/admin/routes/3", route("/frozen"));
            console.log(`admin PUT with etcd stopped: ${put.status} in ${put.ms} ms`);
            expect(put.status).toBe(503);
            expect(JSON.parse(put.body).error_msg).toMatch(/no host answered/);
            expect(put.ms).toBeGreaterThanOrEqual(CP_ETCD_TIMEOUT_MS - 100);
            expect(put.ms).toBeLessThan(CP_ETCD_TIMEOUT_MS + 2000);
            expect((await gw("/hello")).status).toBe(200);
        } finally {
            etcd!.child.kill("SIGCONT");
        }
        expect(ctl(["get", "/apisix/routes/3"]).stdout).toBe("");
    });

    it("etcd killed: the gateway serves its cached routes, stays ready; admin writes answer 503", async () => {
        const killedAt = Date.now();
        await stop(etcd);
        await waitFor("gateway notices", 5000, metrics, (m) => /^apisix_etcd_reachable 0$/m.test(m));
        for (let i = 0; i < 5; i++) expect((await gw("/hello")).status).toBe(200);
        expect((await request({ port: ports.status, path: "/status" })).status).toBe(200);
        expect((await request({ port: ports.status, path: "/status/ready" })).status).toBe(200);
        const put = await admin("PUT", "/apisix/admin/routes/4", route("/after"));
        expect(put.status).toBe(503);
        expect(put.ms).toBeLessThan(CP_ETCD_TIMEOUT_MS);
        expect(logOf(gateway)).toMatch(/etcd: watch lost \(.*\), retrying in \d+ ms/);
        console.log(`etcd down for the checks: ${Date.now() - killedAt} ms`);
    });

    it("etcd restarted: writes go through again (fresh token) and the gateway's re-made watch serves them", async () => {
        const restarted = Date.now();
        etcd = start(ETCD, etcdArgs, join(work, "etcd.log"), {});
        const put = await waitFor("admin PUT after restart", 20_000, () => admin("PUT", "/apisix/admin/routes/4", route("/after")), (r) => r.status === 201);
        const written = Date.now();
        const served = await waitFor("route /after served", 5000, () => gw("/after"), (r) => r.status === 200);
        console.log(`after etcd restart: admin PUT ${put.status} after ${written - restarted} ms, served ${Date.now() - written} ms later`);
        expect(served.body).toBe("upstream: GET /after xff=127.0.0.1 body=");
        expect(ctl(["get", "/apisix/routes/4", "--print-value-only"]).stdout).toContain('"/after"');
        expect((await gw("/hello")).status).toBe(200);
        expect(await metrics()).toMatch(/^apisix_etcd_reachable 1$/m);
    });

    it("SIGTERM: requests in flight finish, both stand-ins exit 0 within about a second", async () => {
        expect((await admin("PUT", "/apisix/admin/routes/slow", route("/slow"))).status).toBe(201);
        await waitFor("route /slow served", 5000, () => gw("/slow"), (r) => r.status === 200);
        const inFlight = gw("/slow");
        await sleep(100);
        const t0 = Date.now();
        gateway.child.kill("SIGTERM");
        cp.child.kill("SIGTERM");
        const [g, c] = await Promise.all([gateway.exited, cp.exited]);
        const ms = Date.now() - t0;
        console.log(`SIGTERM to exit: ${ms} ms`);
        expect(g).toEqual({ code: 0, signal: null });
        expect(c).toEqual({ code: 0, signal: null });
        expect(ms).toBeLessThan(1500);
        expect((await inFlight).status).toBe(200);
        expect(logOf(gateway)).toMatch(/SIGTERM: shutting down/);
    });
});

/**
 * The TLS fault the lab could not see before: member certificates that carry the address only as
 * an IP SAN. They pass a check by address (openssl -verify_ip, Node's TLS) and APISIX's own start
 * check (luasec verifies no name), but OpenResty matches the server name against DNS SANs only:
 * every sync fails with "certificate host mismatch" and the gateway never turns ready.
 */
describe.skipIf(!haveTools)("regression: etcd member certificates with IP SANs only", () => {
    const ADDRS = ["127.0.0.64", "127.0.0.65", "127.0.0.66"];
    let work: string;
    let etcd: Proc | undefined;
    let gateway: Proc | undefined;
    let pki: Pki;
    let member: { cert: string; key: string };
    const ports = { http: 0, https: 0, status: 0, metrics: 0, client: 0, peer: 0 };

    beforeAll(async () => {
        work = mkdtempSync(join(tmpdir(), "gwha-standins-ip-"));
        mkdirSync(join(work, "pki"));
        pki = new Pki(join(work, "pki"));
        member = pki.issue("member", "/CN=etcd-2-etcd", `subjectAltName=${ADDRS.slice(1).map((a) => `IP:${a}`).join(",")}\nextendedKeyUsage=serverAuth,clientAuth`);
        const client = pki.issue("client", "/O=gateway-ha", "subjectAltName=DNS:etcd-client\nextendedKeyUsage=clientAuth");
        for (const k of ["http", "https", "status", "metrics"] as const) ports[k] = await freePort();
        [ports.client, ports.peer] = [await freePort(ADDRS[1]), await freePort(ADDRS[1])];
        const peer = `http://${ADDRS[1]}:${ports.peer}`;
        etcd = start(
            ETCD,
            [
                "--name=etcd-2-etcd",
                `--data-dir=${join(work, "etcd-data")}`,
                `--listen-client-urls=${ADDRS.slice(1).map((a) => `https://${a}:${ports.client}`).join(",")}`,
                `--advertise-client-urls=https://${ADDRS[1]}:${ports.client}`,
                `--listen-peer-urls=${peer}`,
                `--initial-advertise-peer-urls=${peer}`,
                `--initial-cluster=etcd-2-etcd=${peer}`,
                "--client-cert-auth=true",
                `--trusted-ca-file=${pki.ca}`,
                `--cert-file=${member.cert}`,
                `--key-file=${member.key}`,
                "--logger=zap",
            ],
            join(work, "etcd.log"),
            {},
        );
        const { spec, topology } = platform(
            { etcd: { clientPort: ports.client, peerPort: ports.peer, auth: false }, dataPlane: { httpPort: ports.http, httpsPort: ports.https, statusPort: ports.status, metricsPort: ports.metrics } },
            ADDRS,
        );
        const root = join(work, "gateway");
        const put = (path: string, content: string | Buffer) => {
            mkdirSync(dirname(pathUnderRoot(root, path)), { recursive: true });
            writeFileSync(pathUnderRoot(root, path), content);
        };
        put(APISIX_PATHS.config, renderGatewayConfig(spec, topology));
        put(APISIX_PATHS.trustBundle, systemRootsBundle(readFileSync(pki.ca, "utf8")));
        put(APISIX_PATHS.cert, readFileSync(client.cert));
        put(APISIX_PATHS.key, readFileSync(client.key));
        const url = `https://${ADDRS[1]}:${ports.client}/version`;
        await waitFor("etcd answers", 20_000, async () => run("/usr/bin/curl", ["-sS", "--cacert", pki.ca, "--cert", client.cert, "--key", client.key, url]), (r) => r.status === 0);
        gateway = start(process.execPath, ["--import", "tsx", STANDIN, "--root", root, "--config", APISIX_PATHS.config], join(work, "gateway.log"), {});
    }, 60_000);

    afterAll(async () => {
        await Promise.all([gateway, etcd].map((p) => stop(p)));
        rmSync(work, { recursive: true, force: true });
    }, 30_000);

    it("the certificate verifies by address, not by the name APISIX sends", () => {
        const verify = (flag: string, value: string) => run(OPENSSL, ["verify", "-CAfile", pki.ca, flag, value, member.cert]).status;
        expect(verify("-verify_ip", ADDRS[1]!)).toBe(0);
        expect(verify("-verify_hostname", ETCD_TLS_SERVER_NAME)).not.toBe(0);
        expect(verify("-verify_hostname", ADDRS[1]!)).not.toBe(0);
    });

    it("the gateway starts (init_etcd checks no name) but never syncs: certificate host mismatch, /status/ready 503", async () => {
        await waitFor("gateway /status", 15_000, () => request({ port: ports.status, path: "/status" }), (r) => r.status === 200);
        await waitFor("a failed sync", 10_000, async () => readFileSync(join(work, "gateway.log"), "utf8"), (log) => /etcd: sync failed/.test(log));
        const log = readFileSync(join(work, "gateway.log"), "utf8");
        expect(log).toMatch(/init_etcd: 2 of 3 etcd hosts answered/);
        expect(log).toMatch(new RegExp(`certificate host mismatch \\(${ETCD_TLS_SERVER_NAME.replace(/\./g, "\\.")} is not the subject CN of the member certificate`));
        expect(log).not.toMatch(/etcd: synced/);
        expect((await request({ port: ports.status, path: "/status/ready" })).status).toBe(503);
        expect((await request({ port: ports.http, path: "/anything" })).status).toBe(404);
    });
});
