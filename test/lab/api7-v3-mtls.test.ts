// API7 v3's whole connected path with the rendered files: the APISIX stand-in as an API7 v3 gateway
// (its rendered config.yaml, the gateway group's certificate and key, the trust bundle) reaches two
// DP Manager stand-ins through the real HAProxy with the rendered control-plane balancer config
// (L4 pass-through), syncs a route and serves it. A gateway holding another CA's certificate never
// gets configuration: the DP Manager refuses its handshake.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { renderHaproxyCfg } from "../../components/render/haproxy";
import { API7_GATEWAY_GROUP_ENV, APISIX_PATHS, renderGatewayConfig } from "../../components/render/gateway";
import { systemRootsBundle } from "../../components/service";
import { DpManagerStandin } from "../../lab/standins/dpManager";
import { issueDpIdentity, type DpIdentity } from "../../lab/standins/dpIdentity";
import { load } from "../config";
import { Pki, balancerManagementFiles, withLocalFiles } from "./etcdHarness";

const ETCD = "/usr/bin/etcd";
const HAPROXY = "/usr/sbin/haproxy";
const haveTools = [ETCD, HAPROXY, "/usr/bin/openssl"].every((p) => existsSync(p));
const REPO = join(__dirname, "..", "..");
const STANDIN = join(REPO, "lab", "standins", "apisix.ts");
const API7_STANDIN = join(REPO, "lab", "standins", "api7.ts");
const LB = "127.0.0.80";
const CPS = ["127.0.0.81", "127.0.0.82"];
const GWS = ["127.0.0.83", "127.0.0.84"];
const BACKEND = "127.0.0.85";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ports handed out in this file: the kernel may offer a just-closed port again, which two services of one node cannot share. */
const handedOut = new Set<number>();

async function freePort(): Promise<number> {
    for (;;) {
        const port = await new Promise<number>((resolve) => {
            const s = net.createServer();
            s.listen(0, "127.0.0.1", () => {
                const { port } = s.address() as net.AddressInfo;
                s.close(() => resolve(port));
            });
        });
        if (!handedOut.has(port)) {
            handedOut.add(port);
            return port;
        }
    }
}

function get(port: number, path: string): Promise<number> {
    return new Promise((resolve) => {
        const req = http.get({ host: "127.0.0.1", port, path, timeout: 2000, agent: false }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve(0));
    });
}

async function until(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (await ok()) return;
        await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}`);
}

class Proc {
    readonly child: ChildProcess;
    out = "";
    constructor(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
        this.child = spawn(cmd, args, { env, cwd: REPO, stdio: ["ignore", "pipe", "pipe"], detached: true });
        this.child.stdout!.on("data", (d) => (this.out += d));
        this.child.stderr!.on("data", (d) => (this.out += d));
    }
    async stop(): Promise<void> {
        if (this.child.exitCode !== null || !this.child.pid) return;
        const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
        try {
            process.kill(-this.child.pid, "SIGKILL");
        } catch {
            return;
        }
        await exited;
    }
}

describe.skipIf(!haveTools)("API7 v3 gateway → rendered HAProxy (L4) → DP Manager, with the group's certificate", () => {
    const id = issueDpIdentity();
    let dir: string;
    const procs: Proc[] = [];
    const managers: DpManagerStandin[] = [];
    let upstream: http.Server;
    let etcdUrl: string;
    let ports: { http: number; https: number; status: number; metrics: number; dpm: number; dashboard: number };

    /** A gateway stand-in on `address` with the rendered files and the given identity. */
    async function gateway(name: string, identity: Pick<DpIdentity, "certificate" | "privateKey">, httpPort: number, statusPort: number): Promise<Proc> {
        const { spec, topology } = load({
            flavor: "api7-v3",
            layout: "custom",
            docker: { subnet: "127.0.0.0/24" },
            controlPlane: { databaseDsn: "postgres://u:p@db:5432/api7ee?sslmode=verify-full", dpManagerPort: ports.dpm, dashboardPort: ports.dashboard },
            dataPlane: {
                httpPort,
                httpsPort: await freePort(),
                statusPort,
                metricsPort: await freePort(),
                dpManagerIdentity: { certificate: id.certificate, caCertificate: id.caCertificate, privateKey: id.privateKey },
            },
            loadBalancer: { kind: "haproxy", healthCheck: { intervalSeconds: 1, timeoutSeconds: 1, fall: 1, rise: 1, port: statusPort } },
            nodes: [
                ...CPS.map((address, i) => ({ name: `cp-${i + 1}`, address, roles: ["control-plane"] })),
                ...GWS.map((address, i) => ({ name: `gw-${i + 1}`, address, roles: ["data-plane"] })),
                { name: "lb-1", address: LB, roles: ["load-balancer"] },
            ],
        });
        const root = join(dir, name);
        const files: Record<string, string> = {
            [APISIX_PATHS.config]: renderGatewayConfig(spec, topology),
            [APISIX_PATHS.dpCert]: identity.certificate,
            [APISIX_PATHS.dpKey]: identity.privateKey,
            [APISIX_PATHS.dpTrustBundle]: systemRootsBundle(spec.dataPlane.dpManagerIdentity!.caCertificate),
        };
        for (const [path, content] of Object.entries(files)) {
            mkdirSync(dirname(join(root, path)), { recursive: true });
            writeFileSync(join(root, path), content);
        }
        return new Proc(process.execPath, ["--import", "tsx", STANDIN, "--root", root, "--config", APISIX_PATHS.config, "--flavor", "api7-v3"], {
            ...process.env,
            [API7_GATEWAY_GROUP_ENV]: spec.dataPlane.gatewayGroup,
        });
    }

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), "gateway-ha-v3-mtls-"));
        ports = { http: await freePort(), https: 0, status: await freePort(), metrics: 0, dpm: await freePort(), dashboard: await freePort() };
        // The database's stand-in: a plain etcd only the DP Managers reach.
        const [client, peer] = [await freePort(), await freePort()];
        etcdUrl = `http://${BACKEND}:${client}`;
        const etcd = new Proc(ETCD, [
            "--name=db",
            `--data-dir=${join(dir, "etcd")}`,
            `--listen-client-urls=${etcdUrl}`,
            `--advertise-client-urls=${etcdUrl}`,
            `--listen-peer-urls=http://${BACKEND}:${peer}`,
            `--initial-advertise-peer-urls=http://${BACKEND}:${peer}`,
            `--initial-cluster=db=http://${BACKEND}:${peer}`,
        ]);
        procs.push(etcd);
        await until("etcd", 20_000, async () => (await fetch(`${etcdUrl}/health`).then((r) => r.ok).catch(() => false)) === true);

        upstream = http.createServer((_req, res) => res.writeHead(200).end("upstream"));
        await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
        const upstreamPort = (upstream.address() as net.AddressInfo).port;
        const route = { uri: "/v3/hello", upstream: { type: "roundrobin", nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } } };
        const b64 = (s: string) => Buffer.from(s).toString("base64");
        const put = await fetch(`${etcdUrl}/v3/kv/put`, { method: "POST", body: JSON.stringify({ key: b64("/apisix/routes/hello"), value: b64(JSON.stringify(route)) }) });
        expect(put.ok).toBe(true);

        for (const address of CPS) {
            const m = new DpManagerStandin(id, etcdUrl);
            await m.listen(address, ports.dpm);
            managers.push(m);
        }
        // The rendered control-plane balancer; only its bind addresses change (in a container it binds all).
        const { spec, topology } = load({
            flavor: "api7-v3",
            layout: "custom",
            docker: { subnet: "127.0.0.0/24" },
            controlPlane: { databaseDsn: "postgres://u:p@db:5432/api7ee?sslmode=verify-full", dpManagerPort: ports.dpm, dashboardPort: ports.dashboard },
            loadBalancer: { kind: "haproxy", healthCheck: { intervalSeconds: 1, timeoutSeconds: 1, fall: 1, rise: 1 } },
            nodes: [
                ...CPS.map((address, i) => ({ name: `cp-${i + 1}`, address, roles: ["control-plane"] })),
                ...GWS.map((address, i) => ({ name: `gw-${i + 1}`, address, roles: ["data-plane"] })),
                { name: "lb-1", address: LB, roles: ["load-balancer"] },
            ],
        });
        // The dashboards' port terminates TLS with the balancer's management certificate.
        const tlsFiles = balancerManagementFiles(new Pki(), dir);
        const cfg = withLocalFiles(renderHaproxyCfg(spec, topology, "control-plane"), tlsFiles).replace(/^(\s+bind ):(\d+)(.*)$/gm, `$1${LB}:$2$3`);
        writeFileSync(join(dir, "cp-lb.cfg"), cfg);
        expect(spawnSync(HAPROXY, ["-c", "-f", join(dir, "cp-lb.cfg")]).status).toBe(0);
        procs.push(new Proc(HAPROXY, ["-f", join(dir, "cp-lb.cfg"), "-db"]));
        await until("the balancer", 10_000, () => new Promise((resolve) => net.connect(ports.dpm, LB).on("connect", function (this: net.Socket) { this.destroy(); resolve(true); }).on("error", () => resolve(false))));
    }, 60_000);

    afterAll(async () => {
        await Promise.all(procs.map((p) => p.stop()));
        await Promise.all(managers.map((m) => m.close()));
        await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("the gateway syncs through the balancer's pass-through and serves the route; the DP Manager saw the group's certificate", async () => {
        const gw = await gateway("gw-ok", id, ports.http, ports.status);
        procs.push(gw);
        await until(`the gateway to serve the route:\n${gw.out}`, 30_000, async () => (await get(ports.http, "/v3/hello")) === 200);
        expect(await get(ports.status, "/status")).toBe(200);
        const served = managers.flatMap((m) => m.served);
        expect(served.map((s) => s.path)).toEqual(expect.arrayContaining(["/version", "/v3/kv/range", "/v3/watch"]));
        expect(new Set(served.map((s) => s.cn))).toEqual(new Set(["gateway-group-default"]));
    }, 60_000);

    it("a route written afterwards reaches it over the watch", async () => {
        const b64 = (s: string) => Buffer.from(s).toString("base64");
        const route = JSON.parse(Buffer.from(((await (await fetch(`${etcdUrl}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: b64("/apisix/routes/hello") }) })).json()) as { kvs: { value: string }[] }).kvs[0].value, "base64").toString());
        await fetch(`${etcdUrl}/v3/kv/put`, { method: "POST", body: JSON.stringify({ key: b64("/apisix/routes/later"), value: b64(JSON.stringify({ ...route, uri: "/v3/later" })) }) });
        await until("the later route", 10_000, async () => (await get(ports.http, "/v3/later")) === 200);
    }, 20_000);

    it("a gateway with another CA's certificate is refused by the DP Manager and never serves a route", async () => {
        const stranger = issueDpIdentity("gateway-group-stranger");
        const [httpPort, statusPort] = [await freePort(), await freePort()];
        const refusedBefore = managers.reduce((n, m) => n + m.refused.length, 0);
        const gw = await gateway("gw-stranger", stranger, httpPort, statusPort);
        procs.push(gw);
        // init_etcd's /version needs a majority too: with every handshake refused the gateway dies at start.
        await until(`the stranger gateway to exit:\n${gw.out}`, 30_000, async () => gw.child.exitCode !== null);
        expect(gw.child.exitCode).toBe(1);
        expect(gw.out).toMatch(/init_etcd/);
        expect(managers.reduce((n, m) => n + m.refused.length, 0)).toBeGreaterThan(refusedBefore);
        expect(managers.flatMap((m) => m.served).some((s) => s.cn === "gateway-group-stranger")).toBe(false);
    }, 45_000);

    it("the DP Manager serves gateways read-only: a write with a valid certificate is refused", async () => {
        const res = await new Promise<number>((resolve) => {
            const req = https.request(
                { host: LB, port: ports.dpm, method: "POST", path: "/v3/kv/put", servername: "api7ee3-dp-manager", ca: id.caCertificate, cert: id.certificate, key: id.privateKey, agent: false },
                (r) => {
                    r.resume();
                    resolve(r.statusCode ?? 0);
                },
            );
            req.on("error", () => resolve(0));
            req.end(JSON.stringify({ key: "eA==", value: "eA==" }));
        });
        expect(res).toBe(403);
        expect(readFileSync(join(dir, "cp-lb.cfg"), "utf8")).toMatch(/mode tcp/);
    }, 20_000);

    it("the control-plane programs exit at start without their database, and the DP Manager without the control plane's CA in it", async () => {
        const program = async (name: "dashboard" | "dp-manager", dsn: string) => {
            const root = join(dir, `cp-${name}-${Date.now()}`);
            const file = name === "dashboard" ? "/app/conf/config.yaml" : "/usr/local/api7/conf/config.yaml";
            mkdirSync(dirname(join(root, file)), { recursive: true });
            const [plain, port] = [await freePort(), await freePort()];
            const server =
                name === "dashboard"
                    ? { server: { listen: { disable: true, host: "127.0.0.1", port: plain }, tls: { host: "127.0.0.1", port, cert_file: "/app/certs/tls.crt", key_file: "/app/certs/tls.key" } }, session_options_config: { secure: true } }
                    : { server: { listen: { host: "127.0.0.1", port: plain }, tls: { host: "127.0.0.1", port } } };
            writeFileSync(join(root, file), stringify({ ...server, database: { dsn } }));
            const p = new Proc(process.execPath, ["--import", "tsx", API7_STANDIN, "--program", name, "--root", root]);
            procs.push(p);
            await until(`${name} to exit:\n${p.out}`, 20_000, async () => p.child.exitCode !== null);
            return { code: p.child.exitCode, out: p.out };
        };
        const closed = await freePort();
        const noDb = await program("dashboard", `postgres://u:p@127.0.0.1:${closed}/api7`);
        expect(noDb.code).toBe(1);
        expect(noDb.out).toContain(`failed to connect to the database at 127.0.0.1:${closed}`);
        // This database holds routes but no CA: nothing to serve gateways with.
        const noCa = await program("dp-manager", `postgres://u:p@${new URL(etcdUrl).host}/api7`);
        expect(noCa.code).toBe(1);
        expect(noCa.out).toContain("the database holds no control-plane CA");
    }, 45_000);
});
