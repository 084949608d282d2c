// A real three-member etcd cluster on loopback (127.0.0.11-13), started with the rendered member
// flags and bootstrapped with the rendered script: TLS with openssl-made certificates, auth,
// per-role permissions, idempotent re-runs, password rotation, quorum with one member killed.
import { cfg } from "../config";
import { ETCD, ETCDCTL, Pki, freePortPair, haveTools, run } from "./etcdHarness";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPlatform } from "../../components/config";
import type { PlatformSpec } from "../../components/config/types";
import type { Topology } from "../../components/topology";
import {
    ETCD_PKI_FILES,
    etcdClientUrl,
    etcdClientUrls,
    etcdMemberArgs,
    etcdMemberName,
    etcdMemberSans,
    etcdPeerUrl,
    etcdPrefix,
    etcdUsers,
    renderEtcdBootstrapScript,
    renderEtcdHealthCheckScript,
    renderEtcdRevokeScript,
} from "../../components/render/etcd";

const ETCD_ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
const OTHER_NODES: [string, string][] = [
    ["cp-1", "127.0.0.21"],
    ["cp-2", "127.0.0.22"],
    ["dp-1", "127.0.0.31"],
    ["dp-2", "127.0.0.32"],
    ["lb-1", "127.0.0.41"],
];

function platform(clientPort: number, peerPort: number, clusterToken: string): { spec: PlatformSpec; topology: Topology } {
    const nodes = [...ETCD_ADDRS.map((address, i) => ({ name: `etcd-${i + 1}`, address })), ...OTHER_NODES.map(([name, address]) => ({ name, address }))];
    const config = {
        docker: { subnet: "127.0.0.0/24" },
        nodes,
        // Faster elections than production keep the kill/restart steps short.
        etcd: { clientPort, peerPort, clusterToken, heartbeatMs: 50, electionMs: 500 },
    };
    const raw = cfg(config);
    return loadPlatform(raw, { project: "gateway-ha", stack: "lab" });
}


interface Member {
    dir: string;
    args: string[];
    proc?: ChildProcess;
    log: string;
}

/** Three members of one cluster, each in its own temp dir (pki/ + data/). */
class Cluster {
    members: Member[] = [];
    constructor(
        readonly spec: PlatformSpec,
        readonly topology: Topology,
        readonly pki: Pki,
        readonly dirs: string[],
    ) {
        for (let i = 0; i < topology.byRole.etcd.length; i++) {
            const dir = mkdtempSync(join(tmpdir(), `gwha-etcd-m${i + 1}-`));
            dirs.push(dir);
            const pkiDir = join(dir, "pki");
            mkdirSync(pkiDir, { mode: 0o700 });
            writeFileSync(join(pkiDir, ETCD_PKI_FILES.ca), readCa(pki));
            const sans = etcdMemberSans(topology, i);
            // Lab only: on one loopback host a peer's source address is 127.0.0.1, and etcd checks it
            // against the peer certificate's SANs. On real nodes the source is the node address.
            pki.issue(etcdMemberName(topology, i), { ...sans, ipAddresses: [...sans.ipAddresses, "127.0.0.1"] }, pkiDir, ETCD_PKI_FILES.cert, ETCD_PKI_FILES.key);
            const args = etcdMemberArgs(spec, topology, i, { dataDir: join(dir, "data"), pkiDir });
            this.members.push({ dir, args, log: join(dir, "etcd.log") });
        }
    }
    start(i: number) {
        const m = this.members[i];
        const fd = openSync(m.log, "a");
        // Logs to a file, never a pipe: spawnSync elsewhere blocks this event loop.
        m.proc = spawn(ETCD, m.args, { stdio: ["ignore", fd, fd], env: { PATH: process.env.PATH } });
        closeSync(fd);
    }
    async kill(i: number) {
        const p = this.members[i].proc;
        this.members[i].proc = undefined;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => p.once("exit", () => resolve()));
        p.kill("SIGKILL");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    async killAll() {
        await Promise.all(this.members.map((_, i) => this.kill(i)));
    }
}

function readCa(pki: Pki): string {
    return readFileSync(pki.ca, "utf8");
}

function password(): string {
    // Shell- and YAML-hostile characters on purpose (no whitespace: etcdctl reads one word).
    return `p$\`"'\\!;&|<>*?#:${randomBytes(12).toString("base64url")}`;
}

/** The `tool` function the deploy adapter defines, here with local etcdctl and the given client cert. */
function toolDef(endpoints: string[], ca: string, cert: { cert: string; key: string }, argvLog?: string): string {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const log = argvLog ? `printf '%s\\n' "$*" >> ${q(argvLog)}; ` : "";
    return `tool() { ${log}${ETCDCTL} --endpoints=${q(endpoints.join(","))} --cacert=${q(ca)} --cert=${q(cert.cert)} --key=${q(cert.key)} --dial-timeout=2s --command-timeout=5s "$@"; }`;
}

describe.skipIf(!haveTools)("real etcd cluster from the rendered flags and bootstrap script", () => {
    const dirs: string[] = [];
    let pki: Pki;
    let cluster: Cluster;
    let spec: PlatformSpec;
    let topology: Topology;
    let urls: string[];
    let rootCert: { cert: string; key: string };
    let stranger: { cert: string; key: string };
    let memberCert: { cert: string; key: string };
    const pw = { root: password(), cp: password(), gw: password() };

    const env = (extra: Record<string, string> = {}) => ({
        PATH: process.env.PATH,
        ETCD_ROOT_PASSWORD: pw.root,
        ETCD_CONTROL_PLANE_PASSWORD: pw.cp,
        ETCD_GATEWAY_PASSWORD: pw.gw,
        ...extra,
    });

    /** Runs a rendered script with `sh -c`, the way the deploy adapter does. */
    function runScript(script: string, cert: { cert: string; key: string }, extraEnv: Record<string, string> = {}, timeoutMs = 60_000, pollsHealth = true) {
        // Every argv `tool` receives is logged: passwords must never be among them.
        const argvLog = join(pki.dir, "tool-argv.log");
        rmSync(argvLog, { force: true });
        const r = run("sh", ["-c", `${toolDef(urls, pki.ca, cert, argvLog)}\n${script}`], { env: env(extraEnv), timeoutMs });
        const argv = existsSync(argvLog) ? readFileSync(argvLog, "utf8") : "";
        if (pollsHealth) expect(argv).toMatch(/endpoint health --cluster/);
        for (const secret of [pw.root, pw.cp, pw.gw, ...Object.values(extraEnv).filter((v) => v.startsWith("p$"))]) {
            expect(r.out).not.toContain(secret);
            expect(argv).not.toContain(secret);
        }
        return r;
    }

    /** etcdctl against the whole cluster (or given endpoints) with a cert and optional user:password. */
    function ctl(args: string[], opts: { cert?: { cert: string; key: string }; user?: string; endpoints?: string[] } = {}) {
        const c = opts.cert ?? stranger;
        const e: NodeJS.ProcessEnv = { PATH: process.env.PATH };
        if (opts.user) e.ETCDCTL_USER = opts.user;
        return run(ETCDCTL, [`--endpoints=${(opts.endpoints ?? urls).join(",")}`, `--cacert=${pki.ca}`, `--cert=${c.cert}`, `--key=${c.key}`, "--dial-timeout=2s", "--command-timeout=5s", ...args], {
            env: e,
            timeoutMs: 20_000,
        });
    }
    const asGateway = () => `gateway:${pw.gw}`;
    const asControlPlane = () => `control-plane:${pw.cp}`;
    const asRoot = () => `root:${pw.root}`;

    beforeAll(async () => {
        const [client, peer] = await freePortPair(ETCD_ADDRS);
        ({ spec, topology } = platform(client, peer, `gwha-lab-${randomBytes(4).toString("hex")}`));
        urls = etcdClientUrls(spec, topology);
        pki = new Pki();
        dirs.push(pki.dir);
        rootCert = pki.client("root");
        stranger = pki.client("not-a-user");
        cluster = new Cluster(spec, topology, pki, dirs);
        // Production's tool uses the member cert (CN = member name, not an etcd user) plus ETCDCTL_USER.
        memberCert = { cert: join(cluster.members[0].dir, "pki", ETCD_PKI_FILES.cert), key: join(cluster.members[0].dir, "pki", ETCD_PKI_FILES.key) };
        cluster.members.forEach((_, i) => cluster.start(i));
    }, 60_000);

    afterAll(async () => {
        await cluster?.killAll();
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }, 30_000);

    it("renders what the lab needs: loopback addresses, https, one initial cluster", () => {
        expect(urls).toEqual(ETCD_ADDRS.map((a) => `https://${a}:${spec.etcd.clientPort}`));
        for (const m of cluster.members) expect(m.args.join(" ")).not.toMatch(/0\.0\.0\.0|127\.0\.0\.1[^0-9]/);
        expect(new Set(cluster.members.map((m) => m.args.find((a) => a.startsWith("--initial-cluster="))))).toHaveProperty("size", 1);
    });

    it("bootstrap (root client cert) forms the cluster, creates users and enables auth", () => {
        const r = runScript(renderEtcdBootstrapScript(spec, topology), rootCert);
        console.log(`first bootstrap: exit ${r.status} in ${r.ms} ms`);
        expect(r.status, r.out).toBe(0);
        expect(r.stderr).toContain("auth off: creating roles and users");
        expect(r.stderr).toContain("etcd healthy: 3 of 3 members, auth enabled");
    });

    it("auth is on: a client cert whose CN is no user, without a password, can neither write nor read", () => {
        const put = ctl(["put", "/apisix/routes/evil", "x"]);
        expect(put.status).not.toBe(0);
        expect(put.out).toMatch(/user name not found|permission denied|user name is empty/);
        const get = ctl(["get", "/apisix", "--prefix"]);
        expect(get.status).not.toBe(0);
        expect(ctl(["user", "list"]).status).not.toBe(0);
        // A wrong root password is refused too.
        expect(ctl(["put", "/x", "1"], { user: "root:wrong" }).out).toContain("authentication failed");
    });

    it("the member certificate still passes `endpoint health` with auth on (container health check)", () => {
        for (let i = 0; i < 3; i++) {
            const own = { cert: join(cluster.members[i].dir, "pki", ETCD_PKI_FILES.cert), key: join(cluster.members[i].dir, "pki", ETCD_PKI_FILES.key) };
            const r = ctl(["endpoint", "health"], { cert: own, endpoints: [etcdClientUrl(spec, topology, i)] });
            expect(r.status, r.out).toBe(0);
            expect(r.out).toContain("is healthy");
        }
    });

    it("control-plane writes its prefix; gateway reads it but cannot write; neither leaves its prefix", () => {
        const prefix = etcdPrefix(spec, "gateway");
        expect(prefix).toBe("/apisix");
        expect(etcdUsers(spec).map((u) => u.name)).toEqual(["root", "control-plane", "gateway"]);

        const w = ctl(["put", `${prefix}/routes/1`, `{"uri":"/hello"}`], { user: asControlPlane() });
        expect(w.status, w.out).toBe(0);
        const r = ctl(["get", `${prefix}/routes/1`, "--print-value-only"], { user: asGateway() });
        expect(r.status, r.out).toBe(0);
        expect(r.stdout.trim()).toBe(`{"uri":"/hello"}`);
        const all = ctl(["get", prefix, "--prefix", "--keys-only"], { user: asGateway() });
        expect(all.status, all.out).toBe(0);
        expect(all.stdout).toContain(`${prefix}/routes/1`);

        const gw = ctl(["put", `${prefix}/routes/2`, "x"], { user: asGateway() });
        expect(gw.status).not.toBe(0);
        expect(gw.out).toContain("permission denied");
        expect(ctl(["put", "/other/k", "x"], { user: asControlPlane() }).out).toContain("permission denied");
        expect(ctl(["get", "/secret"], { user: asGateway() }).out).toContain("permission denied");
        expect(ctl(["user", "list"], { user: asControlPlane() }).status).not.toBe(0);
        expect(ctl(["user", "list"], { user: asRoot() }).stdout.split("\n").filter(Boolean).sort()).toEqual(["control-plane", "gateway", "root"]);
    });

    it("the peer port takes member certificates only: a platform client certificate from the same CA is refused there (Raft bypasses auth)", () => {
        const peer = etcdPeerUrl(spec, topology, 0);
        const get = (c: { cert: string; key: string }) =>
            run("curl", ["-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--cacert", pki.ca, "--cert", c.cert, "--key", c.key, `${peer}/version`]);
        const member = get(memberCert);
        expect(member.stdout, member.out).toBe("200");
        // The consumers' certificates have no SANs, which etcd's own peer SAN check lets through.
        for (const client of [pki.consumer("gateway"), rootCert, stranger]) {
            const refused = get(client);
            expect(refused.status, refused.out).not.toBe(0);
            expect(refused.stdout).not.toBe("200");
        }
    });

    it("three healthy members as root", () => {
        const h = ctl(["endpoint", "health", "--cluster"], { user: asRoot() });
        expect(h.status, h.out).toBe(0);
        expect(h.out.match(/ is healthy/g)).toHaveLength(3);
        const m = ctl(["member", "list"], { user: asRoot() });
        expect(m.stdout.trim().split("\n")).toHaveLength(3);
        for (let i = 0; i < 3; i++) expect(m.stdout).toContain(etcdMemberName(topology, i));
    });

    it("a second run is idempotent (with the member cert, as production runs it)", () => {
        const r = runScript(renderEtcdBootstrapScript(spec, topology), memberCert);
        console.log(`second bootstrap: exit ${r.status} in ${r.ms} ms`);
        expect(r.status, r.out).toBe(0);
        expect(r.stderr).toContain("auth already enabled");
        expect(ctl(["get", "/apisix/routes/1", "--print-value-only"], { user: asGateway() }).stdout.trim()).toBe(`{"uri":"/hello"}`);
    });

    it("a changed prefix (api7-v2's clusterId): the re-run grants the new one and revokes the old, so a consumer keeps exactly its keys", () => {
        const grants = (role: string) => {
            const r = ctl(["role", "get", role], { user: asRoot() });
            expect(r.status, r.out).toBe(0);
            // A readwrite grant is listed under KV Read and KV Write: one key range.
            return [...new Set([...r.stdout.matchAll(/\(prefix (\S+)\)/g)].map((m) => m[1]))].sort();
        };
        const v2 = (clusterId: string): PlatformSpec => ({ ...spec, flavor: "api7-v2", dataPlane: { ...spec.dataPlane, clusterId } });
        expect(grants("gateway")).toEqual(["/apisix"]);
        expect(ctl(["put", "/api7/c1/routes/1", "v1"], { user: asRoot() }).status).toBe(0);

        const c1 = runScript(renderEtcdBootstrapScript(v2("c1"), topology), memberCert);
        expect(c1.status, c1.out).toBe(0);
        expect(grants("gateway"), c1.out).toEqual(["/api7/c1"]);
        expect(c1.stderr).toContain("revoked gateway's grant on /apisix");
        expect(grants("control-plane")).toEqual(["/api7"]);
        expect(ctl(["get", "/api7/c1/routes/1", "--print-value-only"], { user: asGateway() }).stdout.trim()).toBe("v1");
        expect(ctl(["get", "/apisix/routes/1"], { user: asGateway() }).out).toContain("permission denied");

        const c2 = runScript(renderEtcdBootstrapScript(v2("c2"), topology), memberCert);
        expect(c2.status, c2.out).toBe(0);
        expect(grants("gateway")).toEqual(["/api7/c2"]);
        expect(ctl(["get", "/api7/c1/routes/1"], { user: asGateway() }).out).toContain("permission denied");

        const back = runScript(renderEtcdBootstrapScript(spec, topology), memberCert);
        expect(back.status, back.out).toBe(0);
        expect(grants("gateway")).toEqual(["/apisix"]);
        expect(grants("control-plane")).toEqual(["/apisix"]);
        expect(ctl(["get", "/apisix/routes/1", "--print-value-only"], { user: asGateway() }).stdout.trim()).toBe(`{"uri":"/hello"}`);
    });

    it("a re-run applies changed passwords; the root password rotates with ETCD_ROOT_PASSWORD_PREVIOUS", () => {
        const old = { ...pw };
        pw.gw = password();
        pw.root = password();
        // Root changed but the previous one not given: a clear, fast failure.
        const refused = runScript(renderEtcdBootstrapScript(spec, topology), memberCert, { ETCD_BOOTSTRAP_TRIES: "60" });
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toContain("etcd rejected the root password in ETCD_ROOT_PASSWORD");
        expect(refused.ms).toBeLessThan(20_000);

        const r = runScript(renderEtcdBootstrapScript(spec, topology), memberCert, { ETCD_ROOT_PASSWORD_PREVIOUS: old.root });
        expect(r.status, r.out).toBe(0);
        expect(r.out).not.toContain(old.root);
        expect(r.stderr).toContain("rotating the root password");
        expect(ctl(["get", "/apisix/routes/1"], { user: `gateway:${old.gw}` }).out).toContain("authentication failed");
        expect(ctl(["get", "/apisix/routes/1"], { user: asGateway() }).status).toBe(0);
        expect(ctl(["user", "list"], { user: `root:${old.root}` }).out).toContain("authentication failed");
        expect(ctl(["user", "list"], { user: asRoot() }).status).toBe(0);
    });

    it("a consumer password rotation: new users beside the previous ones, which work until the revoke deletes them; the next rotation takes turns back", () => {
        const at = (n: number): PlatformSpec => ({ ...spec, etcd: { ...spec.etcd, consumerPasswordRotation: n } });
        const users = () => ctl(["user", "list"], { user: asRoot() }).stdout.split("\n").filter(Boolean).sort();
        const revoke = (n: number) => runScript(renderEtcdRevokeScript(at(n), topology), memberCert, {}, 60_000, false);
        const previous = { ...pw };
        pw.cp = password();
        pw.gw = password();

        // The revoke refuses to run before the bootstrap has made the active users: consumers would be locked out.
        const early = revoke(1);
        expect(early.status).not.toBe(0);
        expect(early.stderr).toContain("the active user control-plane-alt is missing: not revoking control-plane");
        expect(users()).toEqual(["control-plane", "gateway", "root"]);

        const boot = runScript(renderEtcdBootstrapScript(at(1), topology), memberCert);
        expect(boot.status, boot.out).toBe(0);
        expect(users()).toEqual(["control-plane", "control-plane-alt", "gateway", "gateway-alt", "root"]);
        // Consumers not rolled yet keep working as the previous users; rolled ones as the new, with the same rights.
        expect(ctl(["put", "/apisix/routes/3", "old"], { user: `control-plane:${previous.cp}` }).status).toBe(0);
        expect(ctl(["put", "/apisix/routes/3", "new"], { user: `control-plane-alt:${pw.cp}` }).status).toBe(0);
        expect(ctl(["get", "/apisix/routes/3", "--print-value-only"], { user: `gateway-alt:${pw.gw}` }).stdout.trim()).toBe("new");
        expect(ctl(["put", "/apisix/routes/3", "x"], { user: `gateway-alt:${pw.gw}` }).out).toContain("permission denied");
        expect(ctl(["get", "/apisix/routes/3"], { user: `gateway:${previous.gw}` }).status).toBe(0);

        const r = revoke(1);
        expect(r.status, r.out).toBe(0);
        expect(r.stderr).toContain("revoked control-plane (its consumers run as control-plane-alt)");
        expect(r.stderr).toContain("revoked gateway (its consumers run as gateway-alt)");
        expect(users()).toEqual(["control-plane-alt", "gateway-alt", "root"]);
        expect(ctl(["get", "/apisix/routes/3"], { user: `gateway:${previous.gw}` }).out).toContain("authentication failed");
        expect(ctl(["put", "/apisix/routes/3", "x"], { user: `control-plane:${previous.cp}` }).out).toContain("authentication failed");
        expect(ctl(["get", "/apisix/routes/3"], { user: `gateway-alt:${pw.gw}` }).status).toBe(0);
        expect(revoke(1).stderr).toContain("control-plane: already revoked");

        // Rotation 2: back to the first user names, with new passwords.
        const second = { ...pw };
        pw.cp = password();
        pw.gw = password();
        expect(runScript(renderEtcdBootstrapScript(at(2), topology), memberCert).status).toBe(0);
        expect(revoke(2).status).toBe(0);
        expect(users()).toEqual(["control-plane", "gateway", "root"]);
        expect(ctl(["get", "/apisix/routes/3"], { user: `gateway-alt:${second.gw}` }).out).toContain("authentication failed");
        expect(ctl(["put", "/apisix/routes/3", "back"], { user: asControlPlane() }).status).toBe(0);
        expect(ctl(["get", "/apisix/routes/3", "--print-value-only"], { user: asGateway() }).stdout.trim()).toBe("back");
    });

    it("refuses passwords etcdctl would cut (whitespace) or empty ones, before touching etcd", () => {
        for (const bad of ["two words", ""]) {
            const r = run("sh", ["-c", `${toolDef(urls, pki.ca, memberCert)}\n${renderEtcdBootstrapScript(spec, topology)}`], { env: env({ ETCD_GATEWAY_PASSWORD: bad }) });
            expect(r.status).not.toBe(0);
            expect(r.stderr).toContain("ETCD_GATEWAY_PASSWORD");
            expect(r.stderr).not.toContain("waiting for");
        }
    });

    it("one member SIGKILLed: the other two keep quorum; health check and bootstrap fail and say why", async () => {
        await cluster.kill(2);
        const alive = urls.slice(0, 2);
        // If the killed member led, a write forwarded to it before the two noticed is dropped and times
        // out (5 s): quorum means the write succeeds once they elected a leader, so retry, bounded.
        let w = ctl(["put", "/apisix/routes/3", "during-outage"], { user: asControlPlane(), endpoints: alive });
        for (let i = 0; i < 2 && w.status !== 0; i++) w = ctl(["put", "/apisix/routes/3", "during-outage"], { user: asControlPlane(), endpoints: alive });
        expect(w.status, w.out).toBe(0);
        const r = ctl(["get", "/apisix/routes/3", "--print-value-only"], { user: asGateway(), endpoints: alive });
        expect(r.stdout.trim()).toBe("during-outage");

        const check = runScript(renderEtcdHealthCheckScript(spec, topology), memberCert);
        console.log(`health check with a member down: exit ${check.status} in ${check.ms} ms`);
        expect(check.status).not.toBe(0);
        expect(check.stderr).toContain("cluster unhealthy: expected all 3 members healthy");
        expect(check.stderr).toContain(`${urls[2]} is unhealthy`);

        const boot = runScript(renderEtcdBootstrapScript(spec, topology), memberCert, { ETCD_BOOTSTRAP_TRIES: "2", ETCD_BOOTSTRAP_DELAY: "1" });
        console.log(`bootstrap with a member down: exit ${boot.status} in ${boot.ms} ms`);
        expect(boot.status).not.toBe(0);
        expect(boot.stderr).toContain("etcd did not report 3 healthy members after 2 tries");
    }, 90_000);

    it("the restarted member rejoins from its data dir; the cluster is healthy again", async () => {
        cluster.start(2);
        const deadline = Date.now() + 45_000;
        let check = runScript(renderEtcdHealthCheckScript(spec, topology), memberCert);
        while (check.status !== 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 1000));
            check = runScript(renderEtcdHealthCheckScript(spec, topology), memberCert);
        }
        expect(check.status, check.out).toBe(0);
        const r = ctl(["get", "/apisix/routes/3", "--print-value-only", "--consistency=s"], { user: asGateway(), endpoints: [urls[2]] });
        expect(r.stdout.trim()).toBe("during-outage");
        const boot = runScript(renderEtcdBootstrapScript(spec, topology), memberCert);
        expect(boot.status, boot.out).toBe(0);
    }, 90_000);
});

describe.skipIf(!haveTools)("bootstrap against a cluster that cannot form", () => {
    const dirs: string[] = [];
    let cluster: Cluster | undefined;

    afterAll(async () => {
        await cluster?.killAll();
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }, 30_000);

    it("fails (non-zero) within bounded time when only one of three members runs", async () => {
        const [client, peer] = await freePortPair(ETCD_ADDRS);
        const { spec, topology } = platform(client, peer, `gwha-lab-${randomBytes(4).toString("hex")}`);
        const pki = new Pki();
        dirs.push(pki.dir);
        const rootCert = pki.client("root");
        cluster = new Cluster(spec, topology, pki, dirs);
        cluster.start(0);
        const script = `${toolDef(etcdClientUrls(spec, topology), pki.ca, rootCert)}\n${renderEtcdBootstrapScript(spec, topology)}`;
        const r = run("sh", ["-c", script], {
            env: { PATH: process.env.PATH, ETCD_ROOT_PASSWORD: password(), ETCD_CONTROL_PLANE_PASSWORD: password(), ETCD_GATEWAY_PASSWORD: password(), ETCD_BOOTSTRAP_TRIES: "3", ETCD_BOOTSTRAP_DELAY: "1" },
            timeoutMs: 60_000,
        });
        console.log(`bootstrap with 1 of 3 members: exit ${r.status} in ${r.ms} ms`);
        expect(r.error).toBeUndefined();
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("etcd did not report 3 healthy members after 3 tries");
        expect(r.ms).toBeLessThan(45_000);
    }, 90_000);
});
