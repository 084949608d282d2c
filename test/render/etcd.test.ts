// etcd renderers: member flags, client URLs, users/prefixes per flavor, and the bootstrap script's
// handling of secrets. Pure structure; test/lab/etcd-cluster.test.ts runs them against real etcd.
import { spawnSync } from "node:child_process";
import { cfg } from "../config";
import { describe, expect, it } from "vitest";
import { loadPlatform } from "../../components/config";
import { ETCD_TLS_SERVER_NAME } from "../../components/render/etcd";
import type { PlatformSpec } from "../../components/config/types";
import type { Topology } from "../../components/topology";
import {
    ETCD_CONTAINER_PATHS,
    ETCD_PKI_FILES,
    etcdClientUrls,
    etcdctlConnectionArgs,
    etcdInitialCluster,
    etcdMemberArgs,
    etcdMemberName,
    etcdMemberSans,
    etcdConsumerUser,
    etcdPrefix,
    etcdUsers,
    renderEtcdBootstrapScript,
    renderEtcdHealthCheckScript,
} from "../../components/render/etcd";

const ctx = { project: "gateway-ha", stack: "test" };

function load(values: Record<string, unknown> = {}): { spec: PlatformSpec; topology: Topology } {
    const raw = cfg(values);
    return loadPlatform(raw, ctx);
}

/** `--flag=value` list -> map (every flag appears once). */
function flags(args: string[]): Map<string, string> {
    const m = new Map<string, string>();
    for (const a of args) {
        const match = /^--([a-z0-9-]+)=(.*)$/.exec(a);
        expect(match, `flag ${a} is not in --flag=value form`).not.toBeNull();
        expect(m.has(match![1]), `flag --${match![1]} repeated`).toBe(false);
        m.set(match![1], match![2]);
    }
    return m;
}

const ETCD = { heartbeatMs: 150, electionMs: 1500, clusterToken: "prod-etcd-7", clientPort: 12379, peerPort: 12380, quotaBackendBytes: 4 * 1024 **3 };

describe("etcd member flags", () => {
    const { spec, topology } = load({ etcd: ETCD });
    const all = topology.byRole.etcd.map((_, i) => flags(etcdMemberArgs(spec, topology, i)));

    it("every member gets the same initial cluster, token and timings, from the spec", () => {
        expect(all).toHaveLength(3);
        const initial = etcdInitialCluster(spec, topology);
        expect(initial).toBe(
            "etcd-1-etcd=https://172.28.0.11:12380,etcd-2-etcd=https://172.28.0.12:12380,etcd-3-etcd=https://172.28.0.13:12380",
        );
        for (const f of all) {
            expect(f.get("initial-cluster")).toBe(initial);
            expect(f.get("initial-cluster-token")).toBe("prod-etcd-7");
            expect(f.get("initial-cluster-state")).toBe("new");
            expect(f.get("heartbeat-interval")).toBe("150");
            expect(f.get("election-timeout")).toBe("1500");
            expect(f.get("quota-backend-bytes")).toBe(String(4 * 1024 ** 3));
            expect(f.get("auto-compaction-mode")).toBe("periodic");
            expect(f.get("auto-compaction-retention")).toMatch(/^\d+[hm]$/);
            expect(f.get("data-dir")).toBe(ETCD_CONTAINER_PATHS.dataDir);
        }
        expect(new Set(all.map((f) => f.get("name"))).size).toBe(3);
    });

    it("the default token is derived from project and stack", () => {
        const d = load();
        expect(flags(etcdMemberArgs(d.spec, d.topology, 0)).get("initial-cluster-token")).toBe("gateway-ha-test-etcd");
    });

    it("each member listens and advertises on its own address only", () => {
        all.forEach((f, i) => {
            const addr = topology.byRole.etcd[i].address;
            expect(f.get("name")).toBe(etcdMemberName(topology, i));
            expect(f.get("listen-client-urls")).toBe(`https://${addr}:12379`);
            expect(f.get("advertise-client-urls")).toBe(`https://${addr}:12379`);
            expect(f.get("listen-peer-urls")).toBe(`https://${addr}:12380`);
            expect(f.get("initial-advertise-peer-urls")).toBe(`https://${addr}:12380`);
            const text = [...f.values()].join(" ");
            expect(text).not.toContain("0.0.0.0");
            expect(text).not.toMatch(/127\.0\.0\.1\b/);
        });
    });

    it("TLS on: client and peer cert auth with the member files in pkiDir", () => {
        for (const f of all) {
            expect(f.get("client-cert-auth")).toBe("true");
            expect(f.get("peer-client-cert-auth")).toBe("true");
            expect(f.get("peer-cert-allowed-hostname")).toBe(ETCD_TLS_SERVER_NAME);
            expect(f.get("trusted-ca-file")).toBe(`/etc/etcd/pki/${ETCD_PKI_FILES.ca}`);
            expect(f.get("peer-trusted-ca-file")).toBe(`/etc/etcd/pki/${ETCD_PKI_FILES.ca}`);
            expect(f.get("cert-file")).toBe(`/etc/etcd/pki/${ETCD_PKI_FILES.cert}`);
            expect(f.get("peer-cert-file")).toBe(`/etc/etcd/pki/${ETCD_PKI_FILES.cert}`);
            expect(f.get("key-file")).toBe(`/etc/etcd/pki/${ETCD_PKI_FILES.key}`);
            expect(f.get("peer-key-file")).toBe(`/etc/etcd/pki/${ETCD_PKI_FILES.key}`);
        }
        expect(etcdClientUrls(spec, topology)).toEqual(["https://172.28.0.11:12379", "https://172.28.0.12:12379", "https://172.28.0.13:12379"]);
    });

    it("TLS off: http URLs and no certificate flags at all", () => {
        const p = load({ etcd: { ...ETCD, tls: false } });
        for (let i = 0; i < 3; i++) {
            const args = etcdMemberArgs(p.spec, p.topology, i);
            const f = flags(args);
            for (const k of ["listen-client-urls", "advertise-client-urls", "listen-peer-urls", "initial-advertise-peer-urls"]) expect(f.get(k)).toMatch(/^http:\/\//);
            expect(f.get("initial-cluster")).not.toContain("https://");
            expect(args.join(" ")).not.toMatch(/cert|trusted-ca|key-file/);
        }
        expect(etcdClientUrls(p.spec, p.topology).every((u) => u.startsWith("http://"))).toBe(true);
        expect(etcdctlConnectionArgs(p.spec, p.topology)).toEqual(["--endpoints=http://172.28.0.11:12379,http://172.28.0.12:12379,http://172.28.0.13:12379"]);
    });

    it("paths are the caller's; output is deterministic", () => {
        const paths = { dataDir: "/tmp/m1/data", pkiDir: "/tmp/m1/pki/" };
        const f = flags(etcdMemberArgs(spec, topology, 0, paths));
        expect(f.get("data-dir")).toBe("/tmp/m1/data");
        expect(f.get("cert-file")).toBe("/tmp/m1/pki/member.crt");
        expect(etcdMemberArgs(spec, topology, 1)).toEqual(etcdMemberArgs(spec, topology, 1));
        expect(renderEtcdBootstrapScript(spec, topology)).toBe(renderEtcdBootstrapScript(spec, topology));
    });

    it("compact layout: members on node-1..3, five and seven members", () => {
        const c = load({ layout: "compact", flavor: "api7-v2", dataPlane: { clusterId: "c1" } });
        expect(topologyNames(c.topology)).toEqual(["node-1-etcd", "node-2-etcd", "node-3-etcd"]);
        const five = load({ etcd: { members: 5 } });
        expect(flags(etcdMemberArgs(five.spec, five.topology, 4)).get("initial-cluster")!.split(",")).toHaveLength(5);
        expect(etcdClientUrls(five.spec, five.topology)).toHaveLength(5);
    });

    it("a node known by hostname binds all interfaces and advertises the hostname", () => {
        const t: Topology = structuredClone(topology);
        t.byRole.etcd[1].address = "etcd-b.internal";
        const f = flags(etcdMemberArgs(spec, t, 1));
        expect(f.get("listen-client-urls")).toBe("https://0.0.0.0:12379");
        expect(f.get("advertise-client-urls")).toBe("https://etcd-b.internal:12379");
        expect(etcdMemberSans(t, 1)).toEqual({ ipAddresses: [], dnsNames: ["etcd-b.internal", "etcd-2-etcd", "etcd-2", ETCD_TLS_SERVER_NAME] });
    });

    it("certificate SANs: node address, member name, node name", () => {
        expect(etcdMemberSans(topology, 0)).toEqual({ ipAddresses: ["172.28.0.11"], dnsNames: ["etcd-1-etcd", "etcd-1", ETCD_TLS_SERVER_NAME] });
    });

    it("refuses a bad index and api7-v3", () => {
        expect(() => etcdMemberArgs(spec, topology, 3)).toThrow(/out of range/);
        expect(() => etcdMemberArgs(spec, topology, -1)).toThrow(/out of range/);
        const v3 = load({ flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://u:p@db:5432/x?sslmode=verify-full" } });
        expect(() => etcdMemberArgs(v3.spec, v3.topology, 0)).toThrow(/api7-v3/);
        expect(() => etcdUsers(v3.spec)).toThrow(/api7-v3/);
        expect(() => etcdPrefix(v3.spec, "gateway")).toThrow(/api7-v3/);
        expect(() => renderEtcdBootstrapScript(v3.spec, v3.topology)).toThrow(/api7-v3/);
    });

    it("etcdctl connection args for a member's health check use its own endpoint and member cert", () => {
        expect(etcdctlConnectionArgs(spec, topology, 2)).toEqual([
            "--endpoints=https://172.28.0.13:12379",
            "--cacert=/etc/etcd/pki/ca.crt",
            "--cert=/etc/etcd/pki/member.crt",
            "--key=/etc/etcd/pki/member.key",
        ]);
    });
});

/** The script without its comment lines. */
function code(script: string): string {
    return script
        .split("\n")
        .filter((l) => !/^\s*#/.test(l))
        .join("\n");
}

function topologyNames(t: Topology): string[] {
    return t.byRole.etcd.map((_, i) => etcdMemberName(t, i));
}

describe("etcd users and key prefixes", () => {
    it("apisix: /apisix for both; control-plane readwrite, gateway read", () => {
        const { spec } = load();
        expect(etcdPrefix(spec, "control-plane")).toBe("/apisix");
        expect(etcdPrefix(spec, "gateway")).toBe("/apisix");
        expect(etcdUsers(spec)).toEqual([
            { name: "root", role: "root", passwordEnv: "ETCD_ROOT_PASSWORD" },
            { name: "control-plane", role: "control-plane", permission: "readwrite", prefix: "/apisix", passwordEnv: "ETCD_CONTROL_PLANE_PASSWORD" },
            { name: "gateway", role: "gateway", permission: "read", prefix: "/apisix", passwordEnv: "ETCD_GATEWAY_PASSWORD" },
        ]);
    });

    it("a consumer password rotation moves each consumer between two users in turn; roles, prefixes and password variables stay", () => {
        const names = (n: number) => etcdUsers(load({ etcd: { consumerPasswordRotation: n } }).spec).map((u) => `${u.name}:${u.role}:${u.passwordEnv}`);
        expect(names(1)).toEqual(["root:root:ETCD_ROOT_PASSWORD", "control-plane-alt:control-plane:ETCD_CONTROL_PLANE_PASSWORD", "gateway-alt:gateway:ETCD_GATEWAY_PASSWORD"]);
        expect(names(2)).toEqual(names(0));
        expect(names(3)).toEqual(names(1));
        const spec = load({ etcd: { consumerPasswordRotation: 3 } }).spec;
        expect([etcdConsumerUser(spec, "gateway"), etcdConsumerUser(spec, "gateway", "previous")]).toEqual(["gateway-alt", "gateway"]);
    });

    it("api7-v2: the dashboard owns /api7, gateways read /api7/<clusterId>", () => {
        const { spec } = load({ flavor: "api7-v2", dataPlane: { clusterId: "eu-west_1" } });
        expect(etcdPrefix(spec, "control-plane")).toBe("/api7");
        expect(etcdPrefix(spec, "gateway")).toBe("/api7/eu-west_1");
        const byName = Object.fromEntries(etcdUsers(spec).map((u) => [u.name, u]));
        expect(byName["control-plane"]).toMatchObject({ permission: "readwrite", prefix: "/api7" });
        expect(byName.gateway).toMatchObject({ permission: "read", prefix: "/api7/eu-west_1" });
        expect(byName.root.prefix).toBeUndefined();
    });
});

describe("bootstrap script", () => {
    const { spec, topology } = load({ etcd: ETCD });
    const script = renderEtcdBootstrapScript(spec, topology);
    const users = etcdUsers(spec);
    const pwVars = users.map((u) => u.passwordEnv);

    it("is valid POSIX sh (dash -n), strict, and only talks to etcd through `tool`", () => {
        const r = spawnSync("sh", ["-n"], { input: script, encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
        expect(script).toMatch(/^set -eu$/m);
        expect(script).not.toMatch(/^\s*set -[a-z]*x/m);
        // No command position runs etcdctl or docker directly (messages may name etcdctl).
        expect(code(script)).not.toMatch(/(^|[;&|]|\bthen|\bdo)\s*(\S*\/)?(etcdctl|docker)\s/m);
        expect(script).toMatch(/^expected=3$/m);
        expect(script).toContain("tool endpoint health --cluster");
        expect(script).toContain("tool member list");
        expect(script).toContain("run auth enable");
    });

    it("never contains a password literal and reads passwords only from the environment", () => {
        // Every place a password variable appears is one of the allowed, non-argv uses.
        const allowed = [
            /^need_password (ETCD_[A-Z_]+) "\$\{\1-\}"$/, // presence check
            /^\s*ETCDCTL_USER="root:\$ETCD_ROOT_PASSWORD(_PREVIOUS)?"$/, // etcdctl reads it from its environment
            /^\s*printf '%s\\n' "\$ETCD_[A-Z_]+" \| run user passwd root --interactive=false >\/dev\/null/, // stdin
            /^ensure_user '?[a-z-]+'? "\$ETCD_[A-Z_]+_PASSWORD" '?[a-z-]+'?$/, // shell function argument (in-process)
            /^\s*\[ -n "\$\{ETCD_ROOT_PASSWORD_PREVIOUS-\}" \] \|\| die /,
            /^\s*need_password ETCD_ROOT_PASSWORD_PREVIOUS "\$ETCD_ROOT_PASSWORD_PREVIOUS"$/,
        ];
        const uses = script.split("\n").filter((l) => /\$\{?ETCD_[A-Z_]*PASSWORD/.test(l));
        expect(uses.length).toBeGreaterThan(0);
        for (const l of uses) expect(allowed.some((re) => re.test(l)), `unexpected password use: ${l}`).toBe(true);
        for (const v of pwVars) expect(script).toContain(`"\${${v}-}"`);
        // Inside ensure_user the password ($2) only ever goes to etcdctl's stdin.
        const ensureUser = /ensure_user\(\) \{[\s\S]*?\n\}/.exec(script)![0];
        expect(ensureUser.match(/"\$2"/g)).toHaveLength(2);
        expect(ensureUser).toMatch(/printf '%s\\n' "\$2" \| run user passwd "\$1" --interactive=false/);
        expect(ensureUser).toMatch(/printf '%s\\n' "\$2" \| run user add "\$1" --interactive=false/);
        // No password-bearing etcdctl flags, no `user add name:password`, no echo of secrets.
        expect(script).not.toMatch(/--password|--new-user-password|--user[= ]|user add [^ ]+:/);
        expect(script).not.toMatch(/\becho\b/);
        expect(script).not.toMatch(/password\s*=\s*['"]?[A-Za-z0-9]/i);
    });

    it("creates the roles, grants prefixes per user, enables auth idempotently, then verifies", () => {
        expect(script).toContain("ensure_role root\nensure_user root \"$ETCD_ROOT_PASSWORD\" root");
        expect(script).toContain("grant 'control-plane' readwrite '/apisix'");
        expect(script).toContain("grant 'gateway' read '/apisix'");
        expect(script).toMatch(/role grant-permission "\$1" "\$2" "\$3" --prefix=true/);
        expect(script).toMatch(/user grant-role "\$1" "\$3"/);
        expect(script.indexOf("run auth enable")).toBeGreaterThan(script.indexOf("ensure_user 'gateway'"));
        expect(script.lastIndexOf("\nverify\n")).toBeGreaterThan(script.indexOf("run auth enable"));
        expect(script).toContain("ETCD_BOOTSTRAP_TRIES:-60");
        expect(script).toContain("ETCD_BOOTSTRAP_DELAY:-2");
        const v2 = load({ flavor: "api7-v2", dataPlane: { clusterId: "c1" } });
        const s2 = renderEtcdBootstrapScript(v2.spec, v2.topology);
        expect(s2).toContain("grant 'control-plane' readwrite '/api7'");
        expect(s2).toContain("grant 'gateway' read '/api7/c1'");
    });

    it("with auth off: no users, roles, passwords or auth commands, only wait and verify", () => {
        const p = load({ etcd: { ...ETCD, auth: false } });
        const s = renderEtcdBootstrapScript(p.spec, p.topology);
        expect(code(s)).not.toMatch(/PASSWORD|ETCDCTL_USER|auth enable|user add|role add|grant/);
        expect(s).toContain("tool endpoint health --cluster");
        expect(s).toMatch(/\nverify\n/);
        expect(spawnSync("sh", ["-n"], { input: s }).status).toBe(0);
    });

    it("the health-check script only verifies (no waiting, no changes)", () => {
        const s = renderEtcdHealthCheckScript(spec, topology);
        expect(spawnSync("sh", ["-n"], { input: s }).status).toBe(0);
        expect(s).not.toMatch(/user add|user passwd|role add|auth enable|grant-permission/);
        expect(s).toMatch(/\nverify\n/);
        expect(s).toContain('ETCDCTL_USER="root:$ETCD_ROOT_PASSWORD"');
    });

    it("fails fast in sh when `tool` is missing or a password is unset, printing no secret", () => {
        const noTool = spawnSync("sh", ["-c", script], { encoding: "utf8", env: { PATH: process.env.PATH } });
        expect(noTool.status).not.toBe(0);
        expect(noTool.stderr).toContain("must define the shell function 'tool'");
        const secret = "s3cr3t-value";
        const r = spawnSync("sh", ["-c", `tool() { echo "tool called" >&2; return 1; }\n${script}`], {
            encoding: "utf8",
            env: { PATH: process.env.PATH, ETCD_ROOT_PASSWORD: secret, ETCD_CONTROL_PLANE_PASSWORD: secret },
        });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("ETCD_GATEWAY_PASSWORD is not set or empty");
        expect(r.stderr).not.toContain("tool called");
        expect(`${r.stdout}${r.stderr}`).not.toContain(secret);
    });
});
