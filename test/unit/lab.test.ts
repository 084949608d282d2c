// The HA lab's pure parts (lab): the real-secrets state hook, the deployment it reads
// from a stack's offline run, how services map onto host programs, the drill report's figures,
// and the small argument/address helpers. Nothing here creates namespaces or starts daemons.
//
// The mock-engine runs go through the real `labDeployment` (so its image-name and secret
// unwrapping are what is tested). vi.resetModules() before each run makes index.ts and its
// components load afresh, as helpers.ts's importer does; the runs are memoised and sequential.
import { MANAGEMENT_TLS_PATHS } from "../../components/render/managementTls";
import { spawn, spawnSync } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as fs from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { request, type RequestRecord, type WriteRecord } from "../../lab/agent";
import { issueOrgCertificate } from "../../lab/standins/orgPki";
import { exportsOf, labDeployment, parseEnvFile, writeServiceFiles, type LabDeployment, type LabService } from "../../lab/deployment";
import { holdersAt, longestSplitMs, longestVacantMs, parseAddressLine, soleHolderAt, splitBrainMs, timeline, vacantMs, type VipEvent } from "../../lab/vips";
import { AGENT_SCRIPT, clientAddress, waitFor } from "../../lab/lab";
import { nodeNamespace } from "../../lab/netns";
import { renderSshToolPrelude, SSH_KEY_ENV, SSH_KNOWN_HOSTS_ENV } from "../../components/render/sshStep";
import { API7_STANDIN_SCRIPT, API7_V2_CONSOLE_SCRIPT, SUDO_SHIM, dockerShim, sshShim, healthCheckArgv, hostProgram, LAB_PID_FILE, mapArg, mapContent, mapPath, prepareService, serviceKind, STANDIN_SCRIPT } from "../../lab/programs";
import { DATABASE_PORT, planDatabase } from "../../lab/database";
import { loadApi7Config } from "../../lab/standins/api7";
import { loadConsoleConfig } from "../../lab/standins/api7v2Console";
import { testDpIdentity } from "../config";
import { statefulRealState, usageExtensions } from "../../lab/realState";
import { describeLast, formatTable, lostWrites, resumed, streamFigures, unavailabilityWindowMs, type DrillReport, type LabReport } from "../../lab/report";
import { parseLabArgs } from "../../lab/run";
import { procStat } from "../../lab/processes";
import { applySets, UsageError } from "../../scripts/preview-offline";

// ---------------------------------------------------------------------------------------------
// Shared fixtures

/** One lab deployment per distinct stack variant; the mock engine is process-global, so never in parallel. */
const deployments = new Map<string, Promise<LabDeployment>>();
function deploymentOf(sets: string[] = [], stack = "dev"): Promise<LabDeployment> {
    const key = `${stack} ${sets.join(" ")}`;
    let d = deployments.get(key);
    if (!d) {
        const previous = Promise.all(deployments.values()).catch(() => undefined);
        d = previous.then(() => {
            vi.resetModules(); // index.ts must register its resources again on this run
            return labDeployment({ stack, sets });
        });
        deployments.set(key, d);
    }
    return d;
}

const DEV: string[] = [];
const NGINX = ["loadBalancer.kind=nginx"];
const API7 = ["flavor=api7-v2", "dataPlane.clusterId=c1"];
/** API7 v3 as the lab runs it: its database at the free address below the client's, the identity its CA issued. */
const LAB_DB = "172.28.0.253";
const API7_V3 = () => ["flavor=api7-v3", ...planDatabase(LAB_DB, testDpIdentity()).sets];

const scratch: string[] = [];
function tempDir(prefix = "gwha-lab-test-"): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    scratch.push(dir);
    return dir;
}
afterAll(() => {
    for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});

const svc = (d: LabDeployment, container: string): LabService => {
    const s = d.services.find((x) => x.container === container);
    if (!s) throw new Error(`no service ${container}; have ${d.services.map((x) => x.container).join(", ")}`);
    return s;
};
const fileOf = (s: LabService, p: string): string => {
    const f = s.files.find((x) => x.path === p);
    if (!f) throw new Error(`${s.container} has no file ${p}; it has ${s.files.map((x) => x.path).join(", ")}`);
    return f.content;
};
const byRole = (d: LabDeployment, role: string) => d.services.filter((s) => s.role === role);
const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

const ETCD_PKI = "/etc/etcd/pki";
const APISIX_CLIENT_CRT = "/usr/local/apisix/conf/etcd-pki/client.crt";
const APISIX_CLIENT_KEY = "/usr/local/apisix/conf/etcd-pki/client.key";
const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const ALNUM_32 = /^[A-Za-z0-9]{32}$/;

// ---------------------------------------------------------------------------------------------

/** A secret the service's wrapper exports, from its file (withSecretEnvFiles). */
function secretEnv(s: LabService, name: string): string | undefined {
    return s.files.find((f) => f.path === `/run/gateway-ha/env/${name}`)?.content;
}

describe("realState: the dev stack's PKI and passwords are real", () => {
    let d: LabDeployment;
    let ca: X509Certificate;
    let etcd: LabService[];
    let apisix: LabService[];

    beforeAll(async () => {
        d = await deploymentOf(DEV);
        etcd = byRole(d, "etcd");
        apisix = d.services.filter((s) => s.service === "gateway" || s.service === "apisix-cp");
        ca = new X509Certificate(fileOf(etcd[0], `${ETCD_PKI}/ca.crt`));
    });

    it("the etcd CA is a self-signed X.509 CA, and every service and the stack output carry that one CA", () => {
        expect(ca.ca).toBe(true);
        expect(ca.checkIssued(ca)).toBe(true);
        expect(ca.verify(ca.publicKey)).toBe(true);
        expect(ca.subject).toContain("O=gateway-ha");
        // Everything that trusts etcd must trust the same CA, or TLS fails between them.
        for (const s of etcd) expect(new X509Certificate(fileOf(s, `${ETCD_PKI}/ca.crt`)).fingerprint256, s.container).toBe(ca.fingerprint256);
        for (const s of apisix) expect(new X509Certificate(fileOf(s, "/usr/local/apisix/conf/etcd-pki/ca.crt")).fingerprint256, s.container).toBe(ca.fingerprint256);
        expect(new X509Certificate(d.outputs.etcdCaCert as string).fingerprint256).toBe(ca.fingerprint256);
    });

    it("every etcd member certificate is a leaf issued and signed by the CA", () => {
        expect(etcd).toHaveLength(3);
        for (const s of etcd) {
            const cert = new X509Certificate(fileOf(s, `${ETCD_PKI}/member.crt`));
            expect(cert.ca, s.container).toBe(false);
            expect(cert.checkIssued(ca), s.container).toBe(true);
            expect(cert.verify(ca.publicKey), s.container).toBe(true);
        }
    });

    it("member certificates name their node's IP (etcd-1 → 172.28.0.11) and allow serverAuth and clientAuth", () => {
        const etcd1 = new X509Certificate(fileOf(svc(d, "dev-etcd-1-etcd"), `${ETCD_PKI}/member.crt`));
        expect(etcd1.subjectAltName).toContain("IP Address:172.28.0.11");
        for (const s of etcd) {
            const cert = new X509Certificate(fileOf(s, `${ETCD_PKI}/member.crt`));
            const address = d.nodes.find((n) => n.name === s.node)!.address;
            expect(cert.subjectAltName, s.container).toContain(`IP Address:${address}`);
            // Members are servers to clients and peers, and clients to each other (peer TLS).
            expect(cert.keyUsage, s.container).toEqual(expect.arrayContaining([EKU_SERVER_AUTH, EKU_CLIENT_AUTH]));
        }
        // The other members' addresses must not leak into a member's certificate.
        expect(etcd1.subjectAltName).not.toContain("172.28.0.12");
    });

    it("APISIX client certificates have no CN (etcd's gRPC gateway refuses CN certs) but O=gateway-ha, and are CA-signed", () => {
        expect(apisix).toHaveLength(4);
        for (const s of apisix) {
            const cert = new X509Certificate(fileOf(s, APISIX_CLIENT_CRT));
            expect(cert.subject, s.container).not.toMatch(/(^|\n)CN=/);
            expect(cert.subject.split("\n"), s.container).toContain("O=gateway-ha");
            expect(cert.checkIssued(ca) && cert.verify(ca.publicKey), s.container).toBe(true);
            expect(cert.keyUsage, s.container).toContain(EKU_CLIENT_AUTH);
        }
    });

    it("each private key belongs to the certificate next to it", () => {
        const pairs: [LabService, string, string][] = [
            ...etcd.map((s): [LabService, string, string] => [s, `${ETCD_PKI}/member.crt`, `${ETCD_PKI}/member.key`]),
            ...apisix.map((s): [LabService, string, string] => [s, APISIX_CLIENT_CRT, APISIX_CLIENT_KEY]),
        ];
        for (const [s, crt, key] of pairs) {
            const cert = new X509Certificate(fileOf(s, crt));
            expect(cert.checkPrivateKey(createPrivateKey(fileOf(s, key))), s.container).toBe(true);
        }
        // Control: the check does tell keys apart (a member's key is not etcd-2's).
        const k1 = createPrivateKey(fileOf(svc(d, "dev-etcd-1-etcd"), `${ETCD_PKI}/member.key`));
        expect(new X509Certificate(fileOf(svc(d, "dev-etcd-2-etcd"), `${ETCD_PKI}/member.crt`)).checkPrivateKey(k1)).toBe(false);
    });

    it("passwords are 32 alphanumerics, distinct per etcd user, consistent with the bootstrap task", () => {
        const gw = byRole(d, "data-plane").map((s) => secretEnv(s, "GATEWAY_HA_ETCD_PASSWORD"));
        const cp = byRole(d, "control-plane").map((s) => secretEnv(s, "GATEWAY_HA_ETCD_PASSWORD"));
        const adminKey = d.outputs.adminKey as string;
        for (const p of [...gw, ...cp, adminKey]) expect(p).toMatch(ALNUM_32);
        expect(new Set(gw).size).toBe(1); // one "gateway" etcd user for every gateway
        expect(new Set(cp).size).toBe(1);
        expect(gw[0]).not.toBe(cp[0]);
        expect(adminKey).not.toBe(gw[0]);
        // The bootstrap task creates the users with exactly the passwords the services use.
        const env = d.tasks.find((t) => t.name === "gateway-ha-etcd-bootstrap")!.env;
        expect(env.ETCD_GATEWAY_PASSWORD).toBe(gw[0]);
        expect(env.ETCD_CONTROL_PLANE_PASSWORD).toBe(cp[0]);
        expect(env.ETCD_ROOT_PASSWORD).toMatch(ALNUM_32);
        for (const s of byRole(d, "control-plane")) expect(secretEnv(s, "GATEWAY_HA_ADMIN_KEY")).toBe(adminKey);
    });

    it("a second run generates new passwords and keys (nothing is a fixed stand-in)", async () => {
        const other = await deploymentOf(NGINX); // any second run of the same stack will do
        const gwPw = (x: LabDeployment) => secretEnv(byRole(x, "data-plane")[0], "GATEWAY_HA_ETCD_PASSWORD");
        const cpPw = (x: LabDeployment) => secretEnv(byRole(x, "control-plane")[0], "GATEWAY_HA_ETCD_PASSWORD");
        expect(gwPw(other)).toMatch(ALNUM_32);
        expect(gwPw(other)).not.toBe(gwPw(d));
        expect(cpPw(other)).not.toBe(cpPw(d));
        expect(other.outputs.adminKey).not.toBe(d.outputs.adminKey);
        expect(new X509Certificate(other.outputs.etcdCaCert as string).fingerprint256).not.toBe(ca.fingerprint256);
    });

    it("the lab's state keeps a resource's values for the same inputs, and forgets them when a destroy deleted it", () => {
        const state = statefulRealState();
        const pw = (name: string) => (state("random:index/randomPassword:RandomPassword", name, { length: 32, special: false }) as { result: { value: string } }).result.value;
        const [a, b] = [pw("a"), pw("b")];
        expect([pw("a"), pw("b")]).toEqual([a, b]);
        state.forget(["random:index/randomPassword:RandomPassword::a"]);
        expect(pw("a")).not.toBe(a);
        expect(pw("b")).toBe(b);
    });

    describe("usageExtensions (tls allowedUses → openssl extension lines)", () => {
        it("a CA gets CA:TRUE and keyCertSign/cRLSign", () => {
            expect(usageExtensions(["cert_signing", "crl_signing", "digital_signature"], true)).toEqual([
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            ]);
        });
        it("a leaf gets CA:FALSE, key usages and extended key usages in order", () => {
            expect(usageExtensions(["digital_signature", "key_encipherment", "server_auth", "client_auth"], false)).toEqual([
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                "extendedKeyUsage=serverAuth,clientAuth",
            ]);
        });
        it("omits empty groups and ignores uses it does not know", () => {
            expect(usageExtensions([], false)).toEqual(["basicConstraints=critical,CA:FALSE"]);
            expect(usageExtensions(["client_auth", "code_signing"], false)).toEqual(["basicConstraints=critical,CA:FALSE", "extendedKeyUsage=clientAuth"]);
        });
    });
});

// ---------------------------------------------------------------------------------------------

describe("deployment: what the lab reads from the dev stack", () => {
    let d: LabDeployment;
    beforeAll(async () => {
        d = await deploymentOf(DEV);
    });

    it("has 8 nodes with distinct host addresses in 172.28.0.0/24", () => {
        expect(d.subnet).toBe("172.28.0.0/24");
        expect(d.nodes).toHaveLength(8);
        for (const n of d.nodes) {
            const m = /^172\.28\.0\.(\d{1,3})$/.exec(n.address);
            expect(m, n.name).not.toBeNull();
            expect(Number(m![1]), n.name).toBeGreaterThan(0);
            expect(Number(m![1]), n.name).toBeLessThan(255);
        }
        expect(new Set(d.nodes.map((n) => n.address)).size).toBe(8);
        expect(d.nodes.find((n) => n.name === "etcd-1")?.address).toBe("172.28.0.11");
    });

    it("has the standard layout's services per role, the two balancers on lb-1", () => {
        const count = (role: string, service: string) => d.services.filter((s) => s.role === role && s.service === service).length;
        expect(count("etcd", "etcd")).toBe(3);
        expect(count("control-plane", "apisix-cp")).toBe(2);
        expect(count("data-plane", "gateway")).toBe(2);
        const lbs = byRole(d, "load-balancer");
        expect(lbs.map((s) => s.service).sort()).toEqual(["control-plane-lb", "gateway-lb"]);
        expect(lbs.every((s) => s.node === "lb-1")).toBe(true);
        expect(d.services).toHaveLength(9); // node pause containers are not services
        // Every service sits on a node of the deployment.
        for (const s of d.services) expect(d.nodes.map((n) => n.name), s.container).toContain(s.node);
    });

    it("carries each service's kernel parameters: none on the dev stack", () => {
        for (const s of d.services) expect(s.sysctls, s.container).toEqual({});
    });

    it("an LVS real server's kernel parameters come from its container (docker) or its host step (ssh), for the lab to set as they would", async () => {
        const arp = { "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2", "net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2" };
        const onDocker = await deploymentOf(["loadBalancer.kind=lvs", 'loadBalancer.keepalived.vips=[{"name":"gw","address":"172.28.0.100","virtualRouterId":51,"protects":"data-plane"},{"name":"cp","address":"172.28.0.101","virtualRouterId":52,"protects":"control-plane"}]']);
        const onHosts = await deploymentOf([], "onprem-lvs");
        for (const dep of [onDocker, onHosts]) {
            const real = dep.services.filter((s) => s.service === "lvs-realserver");
            expect(real.length).toBeGreaterThan(0);
            for (const s of real) expect(s.sysctls, s.container).toEqual(arp);
            for (const s of dep.services.filter((x) => x.service !== "lvs-realserver")) expect(s.sysctls, s.container).toEqual({});
        }
    });

    it("names containers <stack>-<node>-<service>, as `docker exec` in the tasks expects", () => {
        expect(d.services.map((s) => s.container)).toContain("dev-etcd-1-etcd");
        for (const s of d.services) expect(s.container).toBe(`dev-${s.node}-${s.service}`);
    });

    it("keeps image names, not the mocked pull's image ID", () => {
        for (const s of byRole(d, "etcd")) expect(s.image.startsWith("gcr.io/etcd-development/etcd:"), s.image).toBe(true);
        for (const s of d.services) expect(s.image, s.container).not.toMatch(/sha256:|mock/);
    });

    it("gives etcd its data volume and flags exactly the private keys as secret files", () => {
        for (const s of byRole(d, "etcd")) expect(s.volumes, s.container).toEqual(["/var/lib/etcd"]);
        const all = d.services.flatMap((s) => s.files.map((f) => ({ ...f, container: s.container })));
        expect(all.filter((f) => f.secret).length).toBeGreaterThanOrEqual(7); // 3 member + 4 client keys
        // haproxy's certificate file holds its key too.
        for (const f of all) expect(f.secret, `${f.container} ${f.path}`).toBe(f.path.endsWith(".key") || f.path === MANAGEMENT_TLS_PATHS.haproxy.pem || f.path.startsWith("/run/gateway-ha/env/"));
    });

    it("takes health checks in exec form without Docker's CMD marker", () => {
        const hc = svc(d, "dev-etcd-1-etcd").healthCheck!;
        expect(hc[0]).toMatch(/etcdctl$/);
        expect(hc).toContain("--endpoints=https://172.28.0.11:2379");
        expect(hc).not.toContain("CMD");
    });

    it("has the etcd bootstrap task with its passwords and a tool that execs into any running member", () => {
        const boot = d.tasks.filter((t) => t.name === "gateway-ha-etcd-bootstrap");
        expect(boot).toHaveLength(1);
        expect(boot[0].env.ETCD_ROOT_PASSWORD).not.toBe("");
        expect(boot[0].script.startsWith("set -eu\ntool() {")).toBe(true);
        expect(boot[0].script).toContain("docker container inspect");
        // It execs into containers the lab actually runs.
        const candidates = /for c in ([^;]+); do/.exec(boot[0].script)![1].split(" ").map((c) => c.replace(/^'\|/, "").replace(/'$/, ""));
        expect(candidates.length).toBe(3);
        for (const c of candidates) expect(d.services.map((s) => s.container)).toContain(c);
    });

    it("writeServiceFiles lays files out under a root: secrets 0600, others 0644, volumes 0700", () => {
        const root = path.join(tempDir(), "etcd-1");
        const s = svc(d, "dev-etcd-1-etcd");
        writeServiceFiles(root, s);
        for (const f of s.files) {
            const p = path.join(root, f.path);
            expect(fs.readFileSync(p, "utf8"), f.path).toBe(f.content);
            expect(modeOf(p), f.path).toBe(f.secret ? 0o600 : 0o644);
        }
        expect(modeOf(path.join(root, "etc/etcd/pki/member.key"))).toBe(0o600);
        expect(modeOf(path.join(root, "etc/etcd/pki/ca.crt"))).toBe(0o644);
        expect(fs.statSync(path.join(root, "var/lib/etcd")).isDirectory()).toBe(true);
        expect(modeOf(path.join(root, "var/lib/etcd"))).toBe(0o700);
        expect(modeOf(root)).toBe(0o700);
    });

    it("writeServiceFiles tightens a pre-existing file's mode (a rerun over an old work dir)", () => {
        const root = tempDir();
        const s = svc(d, "dev-etcd-1-etcd");
        const key = path.join(root, "etc/etcd/pki/member.key");
        fs.mkdirSync(path.dirname(key), { recursive: true });
        fs.writeFileSync(key, "old", { mode: 0o644 });
        writeServiceFiles(root, s);
        expect(modeOf(key)).toBe(0o600);
        expect(fs.readFileSync(key, "utf8")).toBe(fileOf(s, `${ETCD_PKI}/member.key`));
    });
});

// ---------------------------------------------------------------------------------------------

describe("programs: services on this machine", () => {
    it("the scripts the lab starts (stand-ins, the client agent) are where it looks for them", () => {
        for (const script of [STANDIN_SCRIPT, API7_STANDIN_SCRIPT, API7_V2_CONSOLE_SCRIPT, AGENT_SCRIPT]) expect(fs.existsSync(script), script).toBe(true);
    });

    describe("path mapping", () => {
        let root: string;
        beforeAll(() => {
            root = tempDir();
            fs.mkdirSync(path.join(root, "etc/app"), { recursive: true });
            fs.writeFileSync(path.join(root, "etc/app/app.conf"), "");
        });

        it("mapPath maps /tmp always, paths the lab placed under the root or in a directory it placed, and nothing else", () => {
            expect(mapPath(root, "/tmp/x")).toBe(path.join(root, "tmp/x"));
            expect(mapPath(root, "/tmp")).toBe(path.join(root, "tmp"));
            expect(mapPath(root, "/etc/app/app.conf")).toBe(path.join(root, "etc/app/app.conf"));
            // A joined etcd member's data dir, made by etcd inside its volume: never on the host.
            expect(mapPath(root, "/etc/app/e909b1e99f2b427c")).toBe(path.join(root, "etc/app/e909b1e99f2b427c"));
            expect(mapPath(root, "/etc/other/missing.conf")).toBe("/etc/other/missing.conf");
            expect(mapPath(root, "/tmpfoo")).toBe("/tmpfoo"); // not under /tmp
            expect(mapPath(root, "relative/path")).toBe("relative/path");
            expect(mapPath(root, "daemon off;")).toBe("daemon off;");
        });

        it("mapArg maps bare paths and --flag=/path, leaving URLs and other values alone", () => {
            expect(mapArg(root, "/etc/app/app.conf")).toBe(path.join(root, "etc/app/app.conf"));
            expect(mapArg(root, "--config=/etc/app/app.conf")).toBe(`--config=${path.join(root, "etc/app/app.conf")}`);
            expect(mapArg(root, "--pid=/tmp/a.pid")).toBe(`--pid=${path.join(root, "tmp/a.pid")}`);
            expect(mapArg(root, "--config=/etc/other/missing.conf")).toBe("--config=/etc/other/missing.conf");
            expect(mapArg(root, "--endpoints=https://172.28.0.11:2379")).toBe("--endpoints=https://172.28.0.11:2379");
            expect(mapArg(root, "-f")).toBe("-f");
        });

        it("mapContent rewrites whole container paths under the service's directories, and only those", () => {
            const s = { files: [{ path: "/etc/nginx/gw.conf", content: "", secret: false }], volumes: ["/var/lib/data"] } as unknown as LabService;
            const text = [
                "pid /tmp/nginx.pid;",
                "include /etc/nginx/extra.conf;",
                'root "/var/lib/data/www";',
                "key=/tmp/k",
                "/tmp/at-line-start",
                "access_log /dev/stdout;", // not under a known prefix
                "path /var/tmp/x;", // /tmp/ inside a longer path
                "url http://h/etc/nginx/x;", // prefix inside a longer word
                "other /etc/nginxfoo/y;", // a sibling directory, not the config dir
            ].join("\n");
            expect(mapContent("/R", s, text).split("\n")).toEqual([
                "pid /R/tmp/nginx.pid;",
                "include /R/etc/nginx/extra.conf;",
                'root "/R/var/lib/data/www";',
                "key=/R/tmp/k",
                "/R/tmp/at-line-start",
                "access_log /dev/stdout;",
                "path /var/tmp/x;",
                "url http://h/etc/nginx/x;",
                "other /etc/nginxfoo/y;",
            ]);
        });
    });

    it("hostProgram finds Debian's program by basename and names an unknown command", () => {
        expect(hostProgram("/usr/local/bin/etcd")).toBe("/usr/bin/etcd");
        expect(hostProgram("/usr/local/bin/etcdctl")).toBe("/usr/bin/etcdctl");
        expect(hostProgram("haproxy")).toBe("/usr/sbin/haproxy");
        expect(() => hostProgram("/opt/bin/frobnicate")).toThrow(/\/opt\/bin\/frobnicate/);
    });

    describe("serviceKind", () => {
        it("is the program for etcd and HAProxy, and the stand-in for the apisix flavor's APISIX services", async () => {
            const d = await deploymentOf(DEV);
            const kinds = Object.fromEntries(d.services.map((s) => [s.container, serviceKind(d, s)]));
            expect(kinds).toEqual({
                "dev-etcd-1-etcd": "etcd",
                "dev-etcd-2-etcd": "etcd",
                "dev-etcd-3-etcd": "etcd",
                "dev-lb-1-gateway-lb": "haproxy",
                "dev-lb-1-control-plane-lb": "haproxy",
                "dev-cp-1-apisix-cp": "apisix-standin",
                "dev-cp-2-apisix-cp": "apisix-standin",
                "dev-dp-1-gateway": "apisix-standin",
                "dev-dp-2-gateway": "apisix-standin",
            });
        });

        it("is nginx for an nginx balancer", async () => {
            const d = await deploymentOf(NGINX);
            for (const s of byRole(d, "load-balancer")) expect(serviceKind(d, s), s.container).toBe("nginx");
        });

        it("is the API7 v3 stand-ins for the dashboard and DP Manager, the APISIX stand-in for its gateways", async () => {
            const d = await deploymentOf(API7_V3());
            const kinds = Object.fromEntries(d.services.filter((s) => s.node !== "lb-1").map((s) => [s.container, serviceKind(d, s)]));
            expect(kinds).toEqual({
                "dev-cp-1-dashboard": "api7-dashboard-standin",
                "dev-cp-1-dp-manager": "api7-dp-manager-standin",
                "dev-cp-2-dashboard": "api7-dashboard-standin",
                "dev-cp-2-dp-manager": "api7-dp-manager-standin",
                "dev-dp-1-gateway": "apisix-standin",
                "dev-dp-2-gateway": "apisix-standin",
            });
            // The database the lab runs is the one the stack's DSN names; no node has its address.
            expect(clientAddress(d.subnet, [...d.nodes.map((n) => n.address), clientAddress(d.subnet, d.nodes.map((n) => n.address))])).toBe(LAB_DB);
        });

        it("launches API7 v3 services with their program and flavor, reading the rendered files unmodified", async () => {
            const d = await deploymentOf(API7_V3());
            for (const program of ["dashboard", "dp-manager"]) {
                const s = d.services.find((x) => x.service === program && x.node === "cp-1")!;
                const root = path.join(tempDir(), program);
                const launch = prepareService(d, s, { root, httpsCert: "/c.crt", httpsKey: "/c.key" });
                expect(launch.argv.slice(2)).toEqual(["tsx", API7_STANDIN_SCRIPT, "--program", program, "--root", root]);
                const config = loadApi7Config(program as "dashboard" | "dp-manager", root);
                expect(config.database).toEqual({ host: LAB_DB, port: DATABASE_PORT });
                if (program === "dp-manager") expect(config.tls).toEqual({ host: "0.0.0.0", port: 7943 });
            }
            const gw = svc(d, "dev-dp-1-gateway");
            const launch = prepareService(d, gw, { root: path.join(tempDir(), "dp-1"), httpsCert: "/c.crt", httpsKey: "/c.key" });
            expect(launch.argv.slice(-2)).toEqual(["--flavor", "api7-v3"]);
            expect(launch.env.API7_GATEWAY_GROUP_SHORT_ID).toBe("default");
        });

        it("the API7 v3 stand-ins refuse what the contract rejects, naming the rule", () => {
            const root = tempDir();
            const file = path.join(root, "app/conf/config.yaml");
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, "server:\n  listen:\n    port: 7080\ndatabase:\n  dsn: mysql://u:p@db:3306/api7\n");
            expect(() => loadApi7Config("dashboard", root)).toThrow(/database\.dsn must be a PostgreSQL URL .*\[v3-dsn/);
        });

        it("launches API7 v2's console stand-in on its conf.yaml with the stack's cluster, and gateways in the 2.13 shape", async () => {
            const d = await deploymentOf(API7);
            const dashboard = d.services.find((s) => s.service === "dashboard");
            expect(dashboard, d.services.map((s) => s.container).join(",")).toBeDefined();
            expect(serviceKind(d, dashboard!)).toBe("api7-v2-console-standin");
            const root = path.join(tempDir(), "console");
            const launch = prepareService(d, dashboard!, { root, httpsCert: "/c.crt", httpsKey: "/c.key" });
            expect(launch.argv.slice(2)).toEqual(["tsx", API7_V2_CONSOLE_SCRIPT, "--root", root, "--cluster-id", "c1"]);
            const config = loadConsoleConfig(root);
            expect(config.etcd.prefix).toBe("/api7");
            expect(config.users.map((u) => u.username)).toEqual(["admin"]);
            const gw = byRole(d, "data-plane")[0];
            expect(serviceKind(d, gw)).toBe("apisix-standin");
            const gwRoot = path.join(tempDir(), "gw");
            const gwLaunch = prepareService(d, gw, { root: gwRoot, httpsCert: "/c.crt", httpsKey: "/c.key" });
            expect(gwLaunch.argv.slice(-2)).toEqual(["--flavor", "api7-v2"]);
            // Its etcd password reaches it as the container gets it: a file the wrapper exports, never the environment.
            expect(gwLaunch.env).toEqual({});
            expect(gwLaunch.argv.slice(0, 2)).toEqual(["/bin/sh", "-c"]);
            expect(gwLaunch.argv[2]).toContain(`GATEWAY_HA_ETCD_PASSWORD=$(cat ${gwRoot}/run/gateway-ha/env/GATEWAY_HA_ETCD_PASSWORD)`);
            expect(fs.readFileSync(path.join(gwRoot, "run/gateway-ha/env/GATEWAY_HA_ETCD_PASSWORD"), "utf8")).toMatch(ALNUM_32);
        });
    });

    describe("prepareService", () => {
        it("runs etcd as Debian's etcd with its data dir and certificates under its root", async () => {
            const d = await deploymentOf(DEV);
            const root = path.join(tempDir(), "etcd-1");
            const s = svc(d, "dev-etcd-1-etcd");
            const launch = prepareService(d, s, { root, httpsCert: "/unused.crt", httpsKey: "/unused.key" });
            expect(launch.argv[0]).toBe("/usr/bin/etcd");
            expect(launch.argv).toContain(`--data-dir=${root}/var/lib/etcd`);
            expect(launch.argv).toContain(`--cert-file=${root}/etc/etcd/pki/member.crt`);
            expect(launch.argv).toContain(`--key-file=${root}/etc/etcd/pki/member.key`);
            // Not paths: left exactly as rendered.
            expect(launch.argv).toContain("--name=etcd-1-etcd");
            expect(launch.argv).toContain("--listen-client-urls=https://172.28.0.11:2379");
            expect(launch.argv).toHaveLength(s.command.length);
            expect(fs.readFileSync(path.join(root, "etc/etcd/pki/member.crt"), "utf8")).toBe(fileOf(s, `${ETCD_PKI}/member.crt`));
            expect(fs.statSync(path.join(root, "tmp")).isDirectory()).toBe(true);
            // Its health check resolves the same way once the files are in place.
            const hc = healthCheckArgv(s, root)!;
            expect(hc[0]).toBe("/usr/bin/etcdctl");
            expect(hc).toContain(`--cacert=${root}/etc/etcd/pki/ca.crt`);
            expect(hc).toContain("--endpoints=https://172.28.0.11:2379");
        });

        it("runs an nginx balancer with its config's pid file under its root", async () => {
            const d = await deploymentOf(NGINX);
            const root = path.join(tempDir(), "lb-1");
            const s = svc(d, "dev-lb-1-gateway-lb");
            const launch = prepareService(d, s, { root, httpsCert: "/unused.crt", httpsKey: "/unused.key" });
            expect(launch.argv[0]).toBe("/usr/sbin/nginx");
            const conf = path.join(root, "etc/nginx/gateway-lb.conf");
            expect(launch.argv[launch.argv.indexOf("-c") + 1]).toBe(conf);
            const written = fs.readFileSync(conf, "utf8");
            expect(written).toContain(`pid ${root}/tmp/nginx.pid;`);
            expect(written).not.toContain("pid /tmp/nginx.pid;"); // (the temp root itself is under /tmp)
            expect(written).toContain("access_log /dev/stdout;");
            // -g keeps the container's directives (a load_module for Debian's nginx may precede them).
            expect(launch.argv[launch.argv.indexOf("-g") + 1]).toMatch(/daemon off;$/);
        });

        it("runs an APISIX gateway as the stand-in, with its files written unmodified", async () => {
            const d = await deploymentOf(DEV);
            const root = path.join(tempDir(), "dp-1");
            const s = svc(d, "dev-dp-1-gateway");
            const launch = prepareService(d, s, { root, httpsCert: "/c.crt", httpsKey: "/c.key" });
            expect(launch.argv).toContain(STANDIN_SCRIPT);
            expect(launch.argv[launch.argv.indexOf("--root") + 1]).toBe(root);
            expect(launch.argv[launch.argv.indexOf("--https-cert") + 1]).toBe("/c.crt");
            expect(launch.env.GATEWAY_HA_ETCD_PASSWORD).toBe(s.env.GATEWAY_HA_ETCD_PASSWORD);
            const config = "/usr/local/apisix/conf/config.yaml";
            expect(fs.readFileSync(path.join(root, config), "utf8")).toBe(fileOf(s, config));
        });
    });

    describe("dockerShim", () => {
        let dir: string;
        let shim: string;
        let root: string;
        const ns = nodeNamespace("etcd-1");
        /** Runs the shim with a fake `ip` first on PATH that prints its argv, one per line. */
        const docker = (args: string[], env: Record<string, string> = {}) =>
            spawnSync("sh", [shim, ...args], { encoding: "utf8", env: { ...process.env, ...env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}` } });

        beforeAll(() => {
            dir = tempDir();
            // A space and a quote in the root: the generated script must quote it.
            root = path.join(dir, "nodes", "etcd 1's root");
            fs.mkdirSync(path.join(root, "etc/etcd/pki"), { recursive: true });
            fs.writeFileSync(path.join(root, "etc/etcd/pki/ca.crt"), "ca");
            fs.mkdirSync(path.join(dir, "bin"));
            fs.writeFileSync(path.join(dir, "bin", "ip"), '#!/bin/sh\nfor a in "$@"; do printf \'%s\\n\' "$a"; done\necho "ETCDCTL_USER=${ETCDCTL_USER:-}" >&2\n', { mode: 0o755 });
            shim = path.join(dir, "docker");
            fs.writeFileSync(
                shim,
                dockerShim([
                    { container: "dev-etcd-1-etcd", ns, root },
                    { container: "dev-etcd-2-etcd", ns: nodeNamespace("etcd-2"), root: path.join(dir, "nodes", "etcd-2") },
                ]),
            );
        });

        it("runs `docker exec` as the host program in the container's namespace with container paths mapped", () => {
            const r = docker(
                ["exec", "-i", "-e", "ETCDCTL_USER", "dev-etcd-1-etcd", "/usr/local/bin/etcdctl", "--cacert=/etc/etcd/pki/ca.crt", "--endpoints=https://x:2379", "endpoint", "health"],
                { ETCDCTL_USER: "root:pw" },
            );
            expect(r.status, r.stderr).toBe(0);
            expect(r.stdout.split("\n").slice(0, -1)).toEqual([
                "netns",
                "exec",
                ns,
                "/usr/bin/etcdctl",
                `--cacert=${root}/etc/etcd/pki/ca.crt`,
                "--endpoints=https://x:2379",
                "endpoint",
                "health",
            ]);
            // -e VAR: the caller's variable reaches the program.
            expect(r.stderr).toContain("ETCDCTL_USER=root:pw");
        });

        it("puts the lab's flags for a program before the task's own arguments, which win over them", () => {
            const slow = path.join(dir, "docker-slow");
            fs.writeFileSync(slow, dockerShim([{ container: "dev-etcd-1-etcd", ns, root }], { etcdctl: ["--command-timeout=75s"] }));
            const r = spawnSync("sh", [slow, "exec", "dev-etcd-1-etcd", "etcdctl", "--command-timeout=9s", "get", "k"], { encoding: "utf8", env: { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}` } });
            expect(r.status, r.stderr).toBe(0);
            expect(r.stdout.split("\n").slice(3, -1)).toEqual(["/usr/bin/etcdctl", "--command-timeout=75s", "--command-timeout=9s", "get", "k"]);
            // Other programs get none.
            expect(docker(["exec", "dev-etcd-1-etcd", "curl", "-f", "http://x"]).stdout.split("\n").slice(3, -1)).toEqual(["/usr/bin/curl", "-f", "http://x"]);
        });

        it("maps a bare path that exists under the root and leaves one that does not", () => {
            const r = docker(["exec", "dev-etcd-1-etcd", "etcdctl", "/etc/etcd/pki/ca.crt", "/etc/etcd/pki/missing", "--key=/nope"]);
            expect(r.status, r.stderr).toBe(0);
            expect(r.stdout.split("\n").slice(3, -1)).toEqual(["/usr/bin/etcdctl", `${root}/etc/etcd/pki/ca.crt`, "/etc/etcd/pki/missing", "--key=/nope"]);
        });

        it("picks the named container's namespace", () => {
            const r = docker(["exec", "dev-etcd-2-etcd", "etcdctl", "member", "list"]);
            expect(r.status, r.stderr).toBe(0);
            expect(r.stdout.split("\n")[2]).toBe(nodeNamespace("etcd-2"));
        });

        it("passes arguments with spaces and single quotes through intact", () => {
            const tricky = ["it's a key", "value with  two spaces", "'", "a\"b", "$HOME", "*"];
            const r = docker(["exec", "dev-etcd-1-etcd", "etcdctl", "put", ...tricky]);
            expect(r.status, r.stderr).toBe(0);
            expect(r.stdout.split("\n").slice(4, -1)).toEqual(["put", ...tricky]);
        });

        it("maps a socat UNIX-CONNECT address under the root (a balancer's runtime API)", () => {
            fs.mkdirSync(path.join(root, "tmp"), { recursive: true });
            fs.writeFileSync(path.join(root, "tmp", "haproxy-admin.sock"), "");
            const r = docker(["exec", "-i", "dev-etcd-1-etcd", "socat", "-t", "5", "-", "UNIX-CONNECT:/tmp/haproxy-admin.sock"]);
            expect(r.status, r.stderr).toBe(0);
            expect(r.stdout.split("\n").slice(3, -1)).toEqual(["/usr/bin/socat", "-t", "5", "-", `UNIX-CONNECT:${root}/tmp/haproxy-admin.sock`]);
        });

        it("inspects a container's state from its process and its health from its own check; stop signals its group, then kills it", async () => {
            const hcShim = path.join(dir, "docker-hc");
            fs.writeFileSync(hcShim, dockerShim([{ container: "c", ns, root, healthCheck: ["/usr/bin/curl", "-f", "http://127.0.0.1:1/"] }]));
            const run = (...args: string[]) => spawnSync("sh", [hcShim, ...args], { encoding: "utf8", env: { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}` } }).stdout.trim();
            const health = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}";
            fs.rmSync(path.join(root, LAB_PID_FILE), { force: true });
            expect(run("container", "inspect", "-f", "{{.State.Running}}", "c")).toBe("false");
            expect(run("container", "inspect", "-f", health, "c")).toBe("unhealthy");
            // A process that ignores the graceful signal: stop waits --time, then kills the group.
            const child = spawn("sh", ["-c", "trap '' QUIT; sleep 30 & wait"], { detached: true, stdio: "ignore" });
            const exited = new Promise((r) => child.once("exit", r));
            fs.writeFileSync(path.join(root, LAB_PID_FILE), `${child.pid}\n`);
            expect(run("container", "inspect", "-f", "{{.State.Running}}", "c")).toBe("true");
            // The fake `ip` exits 0: the health check passes.
            expect(run("container", "inspect", "-f", health, "c")).toBe("healthy");
            expect(run("container", "inspect", "-f", "{{if .State.Health}}-{{else}}{{.State.Status}}{{end}}", "c")).toBe("-");
            const started = Date.now();
            expect(run("stop", "--signal", "QUIT", "--time", "1", "c")).toBe("c");
            await exited;
            expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
            expect(run("container", "inspect", "-f", "{{.State.Running}}", "c")).toBe("false");
        });

        it("fails for an unknown container (1), an unknown program (127) and anything but exec (2)", () => {
            const unknown = docker(["exec", "-i", "no-such-container", "etcdctl", "endpoint", "health"]);
            expect(unknown.status).toBe(1);
            expect(unknown.stderr).toContain("no-such-container");
            expect(unknown.stdout).toBe(""); // ip was never run
            const program = docker(["exec", "dev-etcd-1-etcd", "/bin/frobnicate"]);
            expect(program.status).toBe(127);
            expect(program.stdout).toBe("");
            const run = docker(["run", "--rm", "alpine"]);
            expect(run.status).toBe(2);
            expect(run.stdout).toBe("");
            expect(docker([]).status).toBe(2);
        });
    });
});

// ---------------------------------------------------------------------------------------------

describe("report: figures and checks from request records", () => {
    const FAULT = 10_000;
    const END = 20_000;
    const rec = (t1: number, ok: boolean, t0 = t1 - 5): RequestRecord => ({ t0, t1, ok, status: ok ? 200 : 502 });
    /** Successes every `step` ms completing in [from, to). */
    const paced = (from: number, to: number, step = 50, ok = true) => Array.from({ length: Math.ceil((to - from) / step) }, (_, i) => rec(from + i * step, ok));

    describe("unavailabilityWindowMs", () => {
        it("is about the pacing gap when nothing fails", () => {
            expect(unavailabilityWindowMs(paced(FAULT - 1000, END), FAULT, END)).toBe(50);
        });

        it("is the stall when responses stop for 3 s", () => {
            const records = [...paced(FAULT - 1000, FAULT + 2000), ...paced(FAULT + 5000, END)];
            expect(unavailabilityWindowMs(records, FAULT, END)).toBe(3050); // last success before the stall at +1950
        });

        it("counts failures as unavailability until the first success after them", () => {
            const records = [...paced(FAULT - 500, FAULT), ...paced(FAULT, FAULT + 1500, 50, false), ...paced(FAULT + 1500, END)];
            expect(unavailabilityWindowMs(records, FAULT, END)).toBe(1500);
        });

        it("counts from the fault itself: records completed before it are ignored", () => {
            const records = [rec(FAULT - 10, true), rec(FAULT + 200, true), ...paced(FAULT + 250, END)];
            expect(unavailabilityWindowMs(records, FAULT, END)).toBe(200);
        });

        it("is the whole rest of the drill with no success after the fault", () => {
            expect(unavailabilityWindowMs([...paced(0, FAULT), ...paced(FAULT, END, 50, false)], FAULT, END)).toBe(END - FAULT);
            expect(unavailabilityWindowMs([], FAULT, END)).toBe(END - FAULT);
        });

        it("rounds to whole milliseconds (the agent's clock is fractional)", () => {
            expect(unavailabilityWindowMs([rec(FAULT + 100.4, true), rec(FAULT + 150.9, true)], FAULT, FAULT + 151)).toBe(100);
        });

        // A stream that dies for good shortly after the fault must count to the end of the drill.
        it("counts the outage after the last success up to the end of the drill", () => {
            const records = [...paced(FAULT - 500, FAULT), rec(FAULT + 100, true), ...paced(FAULT + 150, END, 50, false)];
            expect(unavailabilityWindowMs(records, FAULT, END)).toBe(END - (FAULT + 100));
        });
    });

    it("lostWrites counts only acknowledged writes missing afterwards", () => {
        const w = (id: string, ok: boolean): WriteRecord => ({ id, seq: Number(id.slice(1)), t0: 0, t1: 1, ok, status: ok ? 201 : 503 });
        const writes = [w("w1", true), w("w2", true), w("w3", false), w("w4", false), w("w5", true)];
        // w3 failed and is missing: not lost. w4 failed but landed: fine. w2 and w5 were acked and are gone.
        expect(lostWrites(writes, new Set(["w1", "w4", "other"]))).toEqual(["w2", "w5"]);
        expect(lostWrites(writes, new Set(["w1", "w2", "w5"]))).toEqual([]);
        expect(lostWrites([], new Set())).toEqual([]);
    });

    it("resumed looks at the last n requests by start time", () => {
        // Out of order on purpose: completion order differs from start order.
        const records = [rec(300, true, 250), rec(400, false, 100), rec(200, true, 150), rec(500, true, 300)];
        expect(resumed(records)).toBe(true);
        expect(resumed(records, 3)).toBe(true); // starts 150, 250, 300 all ok
        expect(resumed(records, 4)).toBe(false); // includes the failure started at 100
        expect(resumed([...records, rec(600, false, 400)])).toBe(false);
        expect(resumed(records.slice(0, 2), 3)).toBe(false); // too few requests to tell
        expect(resumed([])).toBe(false);
    });

    it("the report describes the requests resumed judged, not the last ones to finish (a VM run said \"ok, ok, ok\" beside a FAIL)", () => {
        // Started last, finished before the others: the one a drill's end must not hide.
        const records = [rec(300, true, 100), rec(310, true, 110), rec(320, true, 120), rec(250, false, 200)];
        expect(resumed(records, 3)).toBe(false);
        expect(describeLast(records, 3)).toBe("ok, ok, 502");
        expect(describeLast([], 3)).toBe("none");
    });

    it("streamFigures sums sent and failed, computes the window, and tells the failures by kind and time", () => {
        const records = [...paced(FAULT, FAULT + 1000, 50, false), ...paced(FAULT + 1000, FAULT + 2000)];
        const figures = streamFigures(records, FAULT, FAULT + 2000);
        expect(figures).toMatchObject({ sent: 40, failed: 20, windowMs: 1000, failures: { "HTTP 502": 20 } });
        expect(figures.failedAtMs.slice(0, 3)).toEqual([-5, 45, 95]);
        const mixed = [
            { t0: FAULT + 300, t1: FAULT + 10300, ok: false, status: 0, error: "timeout after 10000 ms" },
            { t0: FAULT + 100, t1: FAULT + 101, ok: false, status: 0, error: "ECONNRESET" },
            ...Array.from({ length: 30 }, (_, i) => rec(FAULT + 2000 + i, false)),
        ];
        const many = streamFigures(mixed, FAULT, FAULT + 3000);
        expect(many.failures).toEqual({ "timeout after 10000 ms": 1, ECONNRESET: 1, "HTTP 502": 30 });
        // Oldest first, and no more than FAILURE_TIMES of them.
        expect(many.failedAtMs).toHaveLength(20);
        expect(many.failedAtMs.slice(0, 3)).toEqual([100, 300, 1995]);
    });

    describe("formatTable", () => {
        const drill = (id: string, ok: boolean): DrillReport => ({
            id,
            title: `title of ${id}`,
            reads: { sent: 1234, failed: 0, windowMs: 51, failures: {}, failedAtMs: [] },
            writes: { sent: 100, failed: 3, windowMs: 1200, failures: { "HTTP 503": 3 }, failedAtMs: [10, 400, 900], acknowledged: 97, lost: ok ? 0 : 2, lostIds: ok ? [] : ["a", "b"] },
            facts: { leader: "etcd-2" },
            checks: [{ name: "no lost writes", ok, detail: ok ? "none" : "2 missing" }],
        });
        const report = (drills: DrillReport[]): LabReport => ({
            stack: "dev",
            layout: "standard",
            balancer: "haproxy",
            flavor: "apisix",
            startedAt: "2024-01-01T00:00:00.000Z",
            setupMs: 4321,
            drills,
            skipped: [],
            passed: drills.every((d) => d.checks.every((c) => c.ok)),
        });

        it("lists every drill with its figures and facts", () => {
            const out = formatTable(report([drill("kill-gateway", true), drill("kill-etcd-leader", true)]));
            expect(out).toContain("kill-gateway");
            expect(out).toContain("kill-etcd-leader");
            expect(out).toContain("1234");
            expect(out).toContain("leader=etcd-2");
            // What the failed requests got and when, so a CI log tells a burst at the fault from strays.
            expect(out).toContain("  writes failed: HTTP 503 ×3; started at +10, +400, +900 ms from the fault");
            expect(out).not.toContain("reads failed");
            expect(out).toContain("stack dev");
            expect(out).not.toContain("FAIL");
            expect(out).toContain("All drills passed.");
        });

        it("marks a drill with a failed check FAIL, in the row and the check list", () => {
            const out = formatTable(report([drill("kill-gateway", true), drill("kill-etcd-leader", false)]));
            const row = out.split("\n").find((l) => l.startsWith("kill-etcd-leader"))!;
            expect(row).toMatch(/FAIL$/);
            expect(out.split("\n").find((l) => l.startsWith("kill-gateway"))).toMatch(/pass$/);
            expect(out).toContain("[FAIL] no lost writes: 2 missing");
            expect(out).toContain("Some checks FAILED.");
        });
    });
});

// ---------------------------------------------------------------------------------------------

describe("lab helpers and argument parsing", () => {
    describe("clientAddress", () => {
        it("is the subnet's highest host address no node uses", () => {
            expect(clientAddress("172.28.0.0/24", ["172.28.0.11", "172.28.0.12"])).toBe("172.28.0.254");
            expect(clientAddress("172.28.0.0/24", ["172.28.0.254", "172.28.0.253"])).toBe("172.28.0.252");
        });
        it("never hands out the network or broadcast address", () => {
            expect(clientAddress("10.0.0.0/30", [])).toBe("10.0.0.2");
            expect(clientAddress("10.0.0.0/30", ["10.0.0.2"])).toBe("10.0.0.1");
            expect(() => clientAddress("10.0.0.0/30", ["10.0.0.1", "10.0.0.2"])).toThrow(/no free address in 10\.0\.0\.0\/30/);
        });
        it("rejects a malformed subnet", () => {
            expect(() => clientAddress("172.28.0.1/24", [])).toThrow(/bad subnet/);
            expect(() => clientAddress("nonsense", [])).toThrow(/bad subnet/);
        });
    });

    describe("waitFor", () => {
        it("resolves once the probe says yes, having polled until then", async () => {
            let calls = 0;
            await waitFor("third time", 10_000, async () => ++calls === 3, 1);
            expect(calls).toBe(3);
        });
        it("rejects naming what it waited for when the probe never succeeds", async () => {
            await expect(waitFor("the thing", 20, async () => false, 1)).rejects.toThrow("timed out after 20 ms waiting for the thing");
        });
    });

    describe("applySets", () => {
        const P = "gateway-ha";
        it("sets a top-level key as a string", () => {
            expect(applySets(P, {}, ["flavor=api7-v2"])).toEqual({ "gateway-ha:flavor": "api7-v2" });
        });
        it("sets a nested path inside an existing JSON object, keeping its other keys", () => {
            const config = { "gateway-ha:loadBalancer": JSON.stringify({ kind: "haproxy", retries: 2 }), "gateway-ha:flavor": "apisix" };
            const out = applySets(P, config, ["loadBalancer.kind=nginx", "loadBalancer.healthCheck.fall=5"]);
            expect(JSON.parse(out["gateway-ha:loadBalancer"])).toEqual({ kind: "nginx", retries: 2, healthCheck: { fall: 5 } });
            expect(out["gateway-ha:flavor"]).toBe("apisix");
            expect(JSON.parse(config["gateway-ha:loadBalancer"])).toEqual({ kind: "haproxy", retries: 2 }); // input untouched
        });
        it("reads values as YAML, so numbers, booleans and lists keep their types", () => {
            const out = applySets(P, {}, ["etcd.members=3", "etcd.tls=true", "dataPlane.adminAllow=[10.0.0.0/8, 127.0.0.1/32]", "etcd.clusterToken=abc"]);
            expect(JSON.parse(out["gateway-ha:etcd"])).toEqual({ members: 3, tls: true, clusterToken: "abc" });
            expect(JSON.parse(out["gateway-ha:dataPlane"])).toEqual({ adminAllow: ["10.0.0.0/8", "127.0.0.1/32"] });
            // Top level: Pulumi passes strings; non-strings are serialised.
            expect(applySets(P, {}, ["replicas=3"])["gateway-ha:replicas"]).toBe("3");
        });
        it("keeps everything after the first = as the value", () => {
            expect(applySets(P, {}, ["token=a=b"])["gateway-ha:token"]).toBe("a=b");
        });
        it("rejects a set without KEY=", () => {
            expect(() => applySets(P, {}, ["loadBalancer.kind"])).toThrow(UsageError);
            expect(() => applySets(P, {}, ["loadBalancer.kind"])).toThrow(/expected KEY=VALUE/);
            expect(() => applySets(P, {}, ["=nginx"])).toThrow(UsageError);
        });
    });

    describe("parseLabArgs", () => {
        it("defaults to the dev stack and lab-report.json", () => {
            expect(parseLabArgs([])).toEqual({ stack: "dev", sets: [], changes: [], replace: [], then: [], destroy: false, report: "lab-report.json", drills: [] });
        });
        it("reads every option, --set repeatedly", () => {
            expect(parseLabArgs(["--stack", "s1", "--config-file", "f.yaml", "--set", "a=1", "--set", "b.c=2", "--report", "out.json", "--drills", "vip-keepalived-kill,lvs-real-server-failure"])).toEqual({
                stack: "s1",
                drills: ["vip-keepalived-kill", "lvs-real-server-failure"],
                configFile: "f.yaml",
                sets: ["a=1", "b.c=2"],
                changes: [],
                replace: [],
                then: [],
                destroy: false,
                report: "out.json",
            });
        });
        it("reads --org-certificate: the host an organisation's certificate is issued for", () => {
            expect(parseLabArgs(["--org-certificate", "cp.lab.test"]).orgCertificate).toBe("cp.lab.test");
            expect(parseLabArgs([]).orgCertificate).toBeUndefined();
        });
        it("reads --change repeatedly, and refuses it with --drills (the update drill runs alone)", () => {
            expect(parseLabArgs(["--change", "dataPlane.image=x:1", "--change", "loadBalancer.healthCheck.rise=3"]).changes).toEqual(["dataPlane.image=x:1", "loadBalancer.healthCheck.rise=3"]);
            expect(() => parseLabArgs(["--change", "a=1", "--drills", "kill-gateway"])).toThrow(/--change and --replace run the update drill alone/);
        });
        it("reads --replace repeatedly and --wipe, a fault only before an update", () => {
            expect(parseLabArgs(["--wipe", "etcd-2", "--replace", "etcd-2-etcd-join"])).toMatchObject({ wipe: "etcd-2", replace: ["etcd-2-etcd-join"], changes: [] });
            expect(() => parseLabArgs(["--replace", "x", "--drills", "kill-gateway"])).toThrow(/run the update drill alone/);
            expect(() => parseLabArgs(["--wipe", "etcd-2"])).toThrow(/--wipe is a fault before an update: give --change or --replace too/);
        });
        it("reads --then repeatedly, in order: further `pulumi up`s after a change", () => {
            expect(parseLabArgs(["--change", "etcd.caTrust=[0,1]", "--then", "etcd.caGeneration=1", "--then", "etcd.caTrust=[1]"]).then).toEqual(["etcd.caGeneration=1", "etcd.caTrust=[1]"]);
            expect(() => parseLabArgs(["--then", "etcd.caGeneration=1"])).toThrow(/--then is a further `pulumi up` after the change: give --change or --replace too/);
        });
        it("reads --destroy: destroy --exclude-protected, then up, after the --change if any", () => {
            expect(parseLabArgs(["--set", "loadBalancer.kind=haproxy", "--destroy"])).toMatchObject({ destroy: true, changes: [], sets: ["loadBalancer.kind=haproxy"] });
            expect(parseLabArgs(["--change", "etcd.members=5", "--destroy"])).toMatchObject({ destroy: true, changes: ["etcd.members=5"] });
            for (const extra of [["--replace", "x"], ["--wipe", "etcd-2"], ["--drills", "kill-gateway"], ["--change", "a=1", "--then", "b=2"]])
                expect(() => parseLabArgs(["--destroy", ...extra]), extra[0]).toThrow(/--destroy is destroy --exclude-protected, then up, after any --change/);
        });
        it("throws a usage error on an unknown argument or a missing value", () => {
            expect(() => parseLabArgs(["--bogus"])).toThrow(UsageError);
            expect(() => parseLabArgs(["--bogus"])).toThrow(/Unknown option '--bogus'/);
            expect(() => parseLabArgs(["--stack"])).toThrow(/Option '--stack <value>' argument missing/);
            expect(() => parseLabArgs(["--drills", "kill-gateway,kill-everything"])).toThrow(/--drills: no drill kill-everything \(drills: kill-gateway, /);
        });
    });
});

// ---------------------------------------------------------------------------------------------

/** The on-prem stack as the lab runs it (docs/lab.md): APISIX stand-ins, the lab's interface and client. */
const ONPREM_LAB = ["flavor=apisix", "loadBalancer.keepalived.interface=eth0", "loadBalancer.keepalived.scriptUser=nobody", "dataPlane.adminAllow=[192.168.101.254/32]"];

describe("deployment: the on-prem stack over SSH, read back from what its steps write to the hosts", () => {
    let d: LabDeployment;
    beforeAll(async () => {
        d = await deploymentOf(ONPREM_LAB, "onprem");
    });

    it("has the five hosts on the VIPs' segment and both VIPs, master first", () => {
        expect(d.subnet).toBe("192.168.101.0/24");
        expect(d.nodes.map((n) => `${n.name}=${n.address}`)).toEqual(["node-1=192.168.101.11", "node-2=192.168.101.12", "node-3=192.168.101.13", "node-4=192.168.101.14", "node-5=192.168.101.15"]);
        expect(d.vips.map((v) => [v.name, v.address, v.nodes.map((n) => n.name)])).toEqual([
            ["control_plane", "192.168.101.10", ["node-1", "node-2"]],
            ["gateway", "192.168.101.20", ["node-4", "node-5"]],
        ]);
    });

    it("takes each service from its Compose file: labels give node, role and service; containers are named <node>-<service>", () => {
        const got = d.services.map((s) => `${s.container}:${s.role}/${s.service}`).sort();
        expect(got).toEqual([
            "node-1-apisix-cp:control-plane/apisix-cp",
            "node-1-etcd:etcd/etcd",
            "node-1-keepalived:control-plane/keepalived",
            "node-2-apisix-cp:control-plane/apisix-cp",
            "node-2-etcd:etcd/etcd",
            "node-2-keepalived:control-plane/keepalived",
            "node-3-etcd:etcd/etcd",
            "node-4-gateway:data-plane/gateway",
            "node-4-keepalived:data-plane/keepalived",
            "node-5-gateway:data-plane/gateway",
            "node-5-keepalived:data-plane/keepalived",
        ]);
        for (const s of d.services) expect(s.node, s.container).toBe(s.container.slice(0, "node-1".length));
    });

    it("mounts files with their host content: keepalived.conf secret, the check script and supervisor plain", () => {
        const k = svc(d, "node-4-keepalived");
        expect(k.command.slice(0, 3)).toEqual(["/bin/sh", "/etc/keepalived/run-keepalived.sh", "/usr/sbin/keepalived"]);
        expect(k.files.map((f) => `${f.path}:${f.secret}`).sort()).toEqual(["/etc/keepalived/check-gateway.sh:false", "/etc/keepalived/keepalived.conf:true", "/etc/keepalived/run-keepalived.sh:false"]);
        expect(fileOf(k, "/etc/keepalived/keepalived.conf")).toMatch(/virtual_router_id 52\n[\s\S]*192\.168\.101\.20\/24 dev eth0/);
        expect(serviceKind(d, k)).toBe("keepalived");
        // etcd's data directory is a volume; its key a secret file.
        const etcd = svc(d, "node-1-etcd");
        expect(etcd.volumes).toEqual(["/var/lib/etcd"]);
        expect(etcd.files.find((f) => f.path.endsWith("member.key"))?.secret).toBe(true);
        expect(etcd.healthCheck?.[0]).toBe("/usr/local/bin/etcdctl");
    });

    it("reads the env file into the environment, and the bootstrap task with its exported passwords", () => {
        // APISIX's secrets are files on the host, not an env file.
        expect(svc(d, "node-1-apisix-cp").env).toEqual({});
        expect(secretEnv(svc(d, "node-1-apisix-cp"), "GATEWAY_HA_ADMIN_KEY")).toBe(d.outputs.adminKey);
        // etcd's steps on the deployer, in the order `pulumi up` runs them: records, members one by one, the bootstrap.
        const members = ["node-1-etcd", "node-2-etcd", "node-3-etcd"];
        expect(d.tasks.map((t) => t.name)).toEqual([
            "gateway-ha-etcd-ca-phase",
            "gateway-ha-etcd-rotation-guard",
            "gateway-ha-etcd-founders",
            ...members.map((m) => `${m}-join`),
            ...members.flatMap((m) => [`${m}-gate`, `${m}-rollout`]),
            "gateway-ha-etcd-bootstrap",
        ]);
        const bootstrap = d.tasks.find((t) => t.name === "gateway-ha-etcd-bootstrap")!;
        expect(bootstrap.env.ETCD_ROOT_PASSWORD).toMatch(ALNUM_32);
        // Its tool reaches the members' hosts with ssh (the lab's stand-in, sshShim).
        expect(bootstrap.script).toContain("tool() {");
        expect(bootstrap.script).toContain("gwha_ssh '192.168.101.11' 22 'deploy'");
    });

    it("launches keepalived under its supervisor with Debian's programs and pid files under its root", () => {
        const k = svc(d, "node-5-keepalived");
        const root = path.join(tempDir(), "k");
        const launch = prepareService(d, k, { root, httpsCert: "/unused.crt", httpsKey: "/unused.key" });
        expect(launch.argv.slice(0, 3)).toEqual(["/bin/sh", `${root}/etc/keepalived/run-keepalived.sh`, "/usr/sbin/keepalived"]);
        expect(launch.argv).toContain(`${root}/etc/keepalived/keepalived.conf`);
        expect(launch.argv.slice(-3)).toEqual([`--pid=${root}/run/keepalived.pid`, `--vrrp_pid=${root}/run/vrrp.pid`, `--checkers_pid=${root}/run/checkers.pid`]);
        // The script user reaches the check script; the secret config stays private.
        expect(modeOf(path.join(root, "etc/keepalived")) & 0o001).toBe(0o001);
        expect(modeOf(path.join(root, "etc/keepalived/keepalived.conf"))).toBe(0o600);
    });
});

describe("sshShim: the deployer's ssh for the ssh target's steps, as strict as OpenSSH where the steps use it", () => {
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIpinnedkeyofhost1";
    let dir: string;
    const host = { address: "192.168.101.11", port: 2222, user: "deploy", hostKey: KEY };
    beforeAll(() => {
        dir = tempDir();
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "ssh"), sshShim([host]), { mode: 0o755 });
        fs.writeFileSync(path.join(bin, "sudo"), SUDO_SHIM, { mode: 0o755 });
        // The hosts' docker: a running container, and exec prints what it got.
        fs.writeFileSync(path.join(bin, "docker"), '#!/bin/sh\nif [ "$1" = container ]; then echo true; exit 0; fi\necho "exec $* user=${ETCDCTL_USER-unset} stdin=$(cat)"\n', { mode: 0o755 });
    });
    /** The real prelude through the stand-in: `known` is the step's known_hosts, `keyMode` its key file's mode when there is a key. */
    const step = (script: string, opts: { known?: string; user?: string; key?: boolean } = {}) => {
        const prelude = renderSshToolPrelude({ candidates: [{ node: "node-1", address: host.address, port: host.port, user: opts.user ?? host.user, container: "node-1-etcd" }], toolArgv: ["etcdctl"], toolEnv: ["ETCDCTL_USER"], connectTimeoutSeconds: 5 });
        return spawnSync("/bin/sh", ["-c", prelude + script], {
            encoding: "utf8",
            env: { PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, [SSH_KNOWN_HOSTS_ENV]: opts.known ?? `[${host.address}]:${host.port} ${KEY}`, ...(opts.key === false ? {} : { [SSH_KEY_ENV]: "a private key" }), ETCDCTL_USER: "root:pw" },
        });
    };

    it("runs the step's tool through sudo -n and the host's docker, with the forwarded variable and stdin", () => {
        const r = step("echo in | tool member list");
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout.trim()).toBe("exec exec -i -e ETCDCTL_USER node-1-etcd etcdctl member list user=root:pw stdin=in");
        // With the agent instead of a key file.
        expect(step("tool member list", { key: false }).status).toBe(0);
    });

    it("refuses, as ssh would, a host key other than the pinned one, another user, and an unknown host", () => {
        const other = step('tool member list || echo "exit $?"', { known: `[${host.address}]:${host.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIanotherkeyentirely` });
        expect(other.stdout.trim()).toBe("exit 3");
        const plain = spawnSync(path.join(dir, "bin", "ssh"), ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${path.join(dir, "none")}`, "-p", "2222", "-l", "deploy", host.address, "true"], { encoding: "utf8" });
        expect([plain.status, plain.stderr.trim()]).toEqual([255, "Host key verification failed."]);
        expect(step('tool member list || echo "exit $?"', { user: "root" }).stdout.trim()).toBe("exit 3");
        const unknown = spawnSync(path.join(dir, "bin", "ssh"), ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-p", "22", host.address, "true"], { encoding: "utf8" });
        expect(unknown.status).toBe(255);
    });

    it("refuses a readable key file, a possible prompt, and sudo without -n", () => {
        const known = path.join(dir, "known");
        fs.writeFileSync(known, `[${host.address}]:${host.port} ${KEY}\n`);
        const key = path.join(dir, "key");
        fs.writeFileSync(key, "k", { mode: 0o644 });
        fs.chmodSync(key, 0o644);
        const ssh = (args: string[]) => spawnSync(path.join(dir, "bin", "ssh"), args, { encoding: "utf8", env: { PATH: `${path.join(dir, "bin")}:${process.env.PATH}` } });
        const base = ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${known}`, "-p", "2222", "-l", "deploy"];
        expect(ssh(["-o", "BatchMode=yes", ...base, "-i", key, host.address, "true"]).status).toBe(255);
        fs.chmodSync(key, 0o600);
        expect(ssh(["-o", "BatchMode=yes", ...base, "-i", key, host.address, "true"]).status).toBe(0);
        expect(ssh([...base, host.address, "true"]).status).toBe(255);
        expect(ssh(["-o", "BatchMode=yes", ...base, host.address, "sudo sh -c true"]).status).toBe(1);
        expect(ssh(["-o", "BatchMode=yes", ...base, host.address, "sudo -n sh -c true"]).status).toBe(0);
    });
});

describe("procStat", () => {
    it("reads a process's name and parent, and nothing for a process that is gone", () => {
        expect(procStat(process.pid)?.ppid).toBe(process.ppid);
        expect(procStat(process.pid)?.comm.length).toBeGreaterThan(0);
        expect(procStat(2 ** 22 + 1)).toBeUndefined();
    });
});

describe("deployment helpers", () => {
    it("parseEnvFile reads KEY='value' lines and refuses anything else", () => {
        expect(parseEnvFile("A='x y'\nB=''\n")).toEqual({ A: "x y", B: "" });
        expect(() => parseEnvFile("A=x\n")).toThrow(/A=x/);
    });

    it("exportsOf reads a script's export lines, undoing q()'s quoting", () => {
        expect(exportsOf("set -eu\nexport A='p'\\''q'\nexport B='2'\necho export C='3'\n")).toEqual({ A: "p'q", B: "2" });
    });
});

describe("VIP timeline", () => {
    const line = "[2026-11-22T00:23:12.446135] 3: eth0    inet 192.168.101.20/24 scope global secondary eth0";

    it("parseAddressLine matches the exact address, tells add from delete and reads the µs timestamp", () => {
        const added = parseAddressLine(line, "192.168.101.20")!;
        expect(added.held).toBe(true);
        expect(added.t! - new Date(2026, 10, 22, 0, 23, 12).getTime()).toBeCloseTo(446.135, 3);
        expect(parseAddressLine(`[2026-11-22T00:23:12.5] Deleted ${line.slice(29)}`, "192.168.101.20")?.held).toBe(false);
        expect(parseAddressLine(line, "192.168.101.2")).toBeUndefined();
        expect(parseAddressLine("    inet 192.168.101.20/24 scope global secondary eth0", "192.168.101.20")).toEqual({ held: true });
    });

    // n1 holds it; at 100 it fails over to n2 (n1 drops at 100, n2 adds at 400); at 900 n1 takes it back, n2 drops 2 ms later.
    const events: VipEvent[] = [
        { t: 100, node: "n1", held: false },
        { t: 400, node: "n2", held: true },
        { t: 900, node: "n1", held: true },
        { t: 902, node: "n2", held: false },
    ];
    const t = timeline(events, ["n1"], 0, 1000);

    it("splits time into spans of holders", () => {
        expect(t.spans).toEqual([
            { from: 0, to: 100, holders: ["n1"] },
            { from: 100, to: 400, holders: [] },
            { from: 400, to: 900, holders: ["n2"] },
            { from: 900, to: 902, holders: ["n1", "n2"] },
            { from: 902, to: 1000, holders: ["n1"] },
        ]);
        expect(holdersAt(events, ["n1"], 500)).toEqual(["n2"]);
    });

    it("measures the move, the vacancy and the overlap", () => {
        expect(soleHolderAt(t, "n2", 50)).toBe(400);
        expect(soleHolderAt(t, "n1", 500)).toBe(902);
        expect(soleHolderAt(t, "n3", 0)).toBeUndefined();
        expect(vacantMs(t)).toBe(300);
        expect(splitBrainMs(t)).toBe(2);
        expect(longestSplitMs(t)).toBe(2);
        expect(longestSplitMs(timeline([], ["n1"], 0, 10))).toBe(0);
        expect(longestVacantMs(t)).toBe(300);
        expect(longestVacantMs(timeline([], ["n1"], 0, 10))).toBe(0);
        expect(longestVacantMs(timeline([{ t: 5, node: "n1", held: false }, { t: 7, node: "n2", held: true }, { t: 8, node: "n2", held: false }], ["n1"], 0, 10))).toBe(2);
    });

    it("counts events before the window into its starting holders", () => {
        expect(timeline(events, ["n1"], 500, 600).spans).toEqual([{ from: 500, to: 600, holders: ["n2"] }]);
    });
});

describe("the lab client's requests to an operator's certificate", () => {
    const org = issueOrgCertificate("cp.lab.test");
    let server: https.Server;
    let port: number;
    beforeAll(async () => {
        server = https.createServer({ cert: org.certificate, key: org.privateKey }, (_req, res) => res.end("ok"));
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
        port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("verify it by the name it carries while connecting to the entry address, through its intermediate to the root", async () => {
        const url = `https://127.0.0.1:${port}/`;
        expect(await request("GET", url, { timeoutMs: 5000, ca: org.caCertificate, servername: "cp.lab.test" })).toEqual({ status: 200, body: "ok" });
        // By the address alone the name does not match; without the root, the chain does not verify.
        expect((await request("GET", url, { timeoutMs: 5000, ca: org.caCertificate })).error).toMatch(/IP: 127.0.0.1 is not in the cert's list/);
        expect((await request("GET", url, { timeoutMs: 5000, servername: "cp.lab.test" })).error).toMatch(/unable to get local issuer certificate|self-signed/);
    });
});
