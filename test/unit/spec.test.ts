import { describe, expect, it } from "vitest";
import { X509Certificate } from "node:crypto";
import { CTX as ctx, cfg, dpManagerIdentityConfig, issuesOf } from "../config";
import { certificateNotAfter } from "../../components/config/certificates";
import {
    checkConsumerPasswordRotation,
    checkDatabase,
    checkEtcdCaTrust,
    checkEtcdTiming,
    checkHealthCheck,
    checkStateEncryption,
    ConfigValidationError,
    formatIssue,
    loadPlatform,
    platformConfigSchema,
    secretPathsIn,
    statePassphrase,
} from "../../components/config";
import { loadBalancerSchema } from "../../components/config/schema";




const V3_DSN = "postgres://api7:pw@db.internal:5432/api7ee?sslmode=verify-full";

describe("defaults", () => {
    it("the empty config is the standard 7-node apisix platform plus a balancer node", () => {
        const { spec, topology } = loadPlatform({}, ctx);
        expect(spec.flavor).toBe("apisix");
        expect(spec.target).toBe("docker");
        expect(topology.byRole.etcd.map((n) => n.name)).toEqual(["etcd-1", "etcd-2", "etcd-3"]);
        expect(topology.byRole["control-plane"]).toHaveLength(2);
        expect(topology.byRole["data-plane"]).toHaveLength(2);
        expect(topology.byRole["load-balancer"]).toHaveLength(1);
        expect(topology.nodes.filter((n) => !n.roles.includes("load-balancer"))).toHaveLength(7);
        expect(spec.etcd).toMatchObject({ heartbeatMs: 100, electionMs: 1000, tls: true, auth: true });
        expect(spec.etcd.image).not.toMatch(/bitnami|:latest$/);
    });

    it("every default image is pinned", () => {
        for (const flavor of ["apisix", "api7-v2", "api7-v3"]) {
            const { spec } = loadPlatform(cfg({ flavor, controlPlane: flavor === "api7-v3" ? { databaseDsn: V3_DSN } : {}, ...(flavor === "api7-v2" ? { dataPlane: { clusterId: "c1" } } : {}) }), ctx);
            for (const img of [spec.etcd.image, spec.controlPlane.image, spec.dataPlane.image, spec.loadBalancer.image])
                expect(img).toMatch(/:[\w.-]+$/);
        }
    });

    it("balancers probe readiness: /status/ready on APISIX, /status on the API7 gateways, an explicit path is kept", () => {
        const path = (values: Record<string, unknown>) => loadPlatform(cfg(values), ctx).spec.loadBalancer.healthCheck.path;
        expect(path({})).toBe("/status/ready");
        expect(path({ flavor: "api7-v2", dataPlane: { clusterId: "c1" } })).toBe("/status");
        expect(path({ flavor: "api7-v3", controlPlane: { databaseDsn: V3_DSN } })).toBe("/status");
        expect(path({ loadBalancer: { healthCheck: { path: "/status" } } })).toBe("/status");
    });

    it("compact layout is seed 001's table: etcd+dashboard on 1-2, etcd on 3, gateways on 4-5", () => {
        const { topology } = loadPlatform(cfg({ layout: "compact", flavor: "api7-v2", dataPlane: { clusterId: "c1" } }), ctx);
        const table = topology.nodes.map((n) => [n.name, n.roles.join("+"), n.ports.map((p) => p.port).sort((a, b) => a - b).join(",")]);
        expect(table).toEqual([
            ["node-1", "etcd+control-plane", "2379,2380,9000"],
            ["node-2", "etcd+control-plane", "2379,2380,9000"],
            ["node-3", "etcd", "2379,2380"],
            ["node-4", "data-plane", "80,443,7085,9091"],
            ["node-5", "data-plane", "80,443,7085,9091"],
            ["lb-1", "load-balancer", "80,443,9000"],
        ]);
    });

    it("api7-v3 places no etcd and exposes dashboard 17080 and the DP Manager's mTLS listener 7943", () => {
        const { topology } = loadPlatform(cfg({ flavor: "api7-v3", controlPlane: { databaseDsn: V3_DSN } }), ctx);
        expect(topology.byRole.etcd).toHaveLength(0);
        expect(topology.byRole["control-plane"][0].ports.map((p) => p.port)).toEqual([17080, 7943]);
        expect(topology.flows).toContainEqual(expect.objectContaining({ from: "data-plane", to: "load-balancer", port: 7943 }));
    });

    it("addresses come from the docker subnet; explicit ones are kept and skipped", () => {
        const { topology } = loadPlatform(cfg({ nodes: [{ name: "dp-1", address: "172.28.0.12" }] }), ctx);
        const addr = Object.fromEntries(topology.nodes.map((n) => [n.name, n.address]));
        expect(addr["etcd-1"]).toBe("172.28.0.11");
        expect(addr["dp-1"]).toBe("172.28.0.12");
        expect(addr["etcd-2"]).toBe("172.28.0.13");
        expect(new Set(Object.values(addr)).size).toBe(topology.nodes.length);
    });
});

describe("validation names the key, the value and the rule", () => {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
        ["even etcd members", { etcd: { members: 4 } }, "etcd.members", /odd number/],
        ["too few etcd members", { etcd: { members: 1 } }, "etcd.members", /at least 3/],
        ["a signing CA not trusted", { etcd: { caGeneration: 1, caTrust: [0] } }, "etcd.caTrust", /must include etcd.caGeneration \(1\)/],
        ["one gateway", { dataPlane: { replicas: 1 } }, "dataPlane.replicas", /at least 2 gateways/],
        ["unknown flavor", { flavor: "kong" }, "flavor", /unknown flavor/],
        ["unknown target", { target: "nomad" }, "target", /unknown target/],
        ["target not yet available", { target: "kubernetes" }, "target", /not available yet/],
        ["unknown layout", { layout: "mesh" }, "layout", /unknown layout/],
        ["unknown role", { layout: "custom", nodes: [{ name: "a", roles: ["cache"] }] }, "nodes[0].roles[0]", /unknown role/],
        ["unknown balancer", { loadBalancer: { kind: "traefik" } }, "loadBalancer.kind", /unknown load balancer kind/],
        ["api7-v3 without DSN", { flavor: "api7-v3" }, "controlPlane.databaseDsn", /required for flavor api7-v3/],
        ["api7-v2 without the console's cluster ID", { flavor: "api7-v2" }, "dataPlane.clusterId", /required for flavor api7-v2: the ID of this gateway cluster in the API7 v2 console/],
        ["compact with 5 members", { layout: "compact", etcd: { members: 5 } }, "etcd.members", /exactly 3/],
        ["duplicate node names", { nodes: [{ name: "dp-1" }, { name: "dp-1" }] }, "nodes[1].name", /unique/],
        ["duplicate addresses", { nodes: [{ name: "dp-1", address: "172.28.0.50" }, { name: "dp-2", address: "172.28.0.50" }] }, "nodes[1].address", /unique/],
        ["invalid address", { nodes: [{ name: "dp-1", address: "300.1.1.1" }] }, "nodes[0].address", /IPv4 address or a hostname/],
        ["address outside the subnet", { nodes: [{ name: "dp-1", address: "10.9.9.9" }] }, "nodes[0].address", /inside docker.subnet/],
        ["port out of range", { dataPlane: { httpPort: 70000 } }, "dataPlane.httpPort", /1–65535/],
        ["port zero", { etcd: { clientPort: 0 } }, "etcd.clientPort", /1–65535/],
        ["co-located roles on one port", { layout: "compact", flavor: "api7-v2", dataPlane: { clusterId: "c1" }, controlPlane: { dashboardPort: 2379 } }, "controlPlane.dashboardPort", /both bind tcp port 2379/],
        [
            "custom node with gateway and balancer",
            { layout: "custom", nodes: [{ name: "a", roles: ["etcd", "data-plane", "load-balancer", "control-plane"] }] },
            "nodes[0].roles",
            /both bind tcp port 80/,
        ],
        ["election below 5x heartbeat", { etcd: { heartbeatMs: 100, electionMs: 400 } }, "etcd.electionMs", /at least 5 × etcd.heartbeatMs/],
        ["election above 50000", { etcd: { heartbeatMs: 100, electionMs: 60000 } }, "etcd.electionMs", /at most 50000/],
        ["health-check interval 0", { loadBalancer: { healthCheck: { intervalSeconds: 0 } } }, "loadBalancer.healthCheck.intervalSeconds", /haproxy accepts 1–3600/],
        ["health-check fall 0 on nginx", { loadBalancer: { kind: "nginx", healthCheck: { fall: 0 } } }, "loadBalancer.healthCheck.fall", /nginx accepts 1–100/],
        ["health-check on the wrong port", { loadBalancer: { healthCheck: { port: 8080 } } }, "loadBalancer.healthCheck.port", /dataPlane.statusPort/],
        ["unknown key", { etcd: { member: 3 } }, "etcd.member", /unknown key/],
        ["latest image", { etcd: { image: "quay.io/coreos/etcd:latest" } }, "etcd.image", /pinned/],
        ["bad admin CIDR", { dataPlane: { adminAllow: ["10.0.0.1/8"] } }, "dataPlane.adminAllow[0]", /CIDR/],
        [
            "local and remote Docker nodes mixed",
            { nodes: [{ name: "dp-1", address: "10.0.0.21", sshUser: "deploy" }] },
            "nodes[0].sshUser",
            /remote Docker hosts cannot reach nodes on the local network/,
        ],
        [
            "remote Docker hosts without the operators' networks (their firewall opens the control plane to them alone)",
            { nodes: [{ name: "dp-1", address: "10.0.0.21", sshUser: "deploy" }] },
            "docker.firewall.operatorCidrs",
            /required on remote Docker hosts .*it was all of RFC 1918/,
        ],
        ["remote Docker hosts' firewall open to the internet", { nodes: [{ name: "dp-1", address: "10.0.0.21", sshUser: "deploy" }], docker: { firewall: { operatorCidrs: ["0.0.0.0/0"] } } }, "docker.firewall.operatorCidrs[0]", /must not be open to the internet/],
        ["docker.firewall without remote Docker hosts", { docker: { firewall: { operatorCidrs: ["10.1.0.0/24"] } } }, "docker.firewall", /only read for remote Docker hosts/],
        ["override of a node the layout lacks", { nodes: [{ name: "gw-9", address: "172.28.0.90" }] }, "nodes[0].name", /has no such node/],
        ["roles outside the custom layout", { nodes: [{ name: "dp-1", roles: ["etcd"] }] }, "nodes[0].roles", /layout custom/],
        ["protectData not a boolean", { protectData: "no" }, "protectData", /expected boolean/],
    ];
    it.each(cases)("%s", (_name, values, key, rule) => {
        const issues = issuesOf(values);
        expect(issues, JSON.stringify(issues)).toContainEqual(expect.objectContaining({ key, rule: expect.stringMatching(rule) }));
        try {
            loadPlatform(cfg(values), ctx);
        } catch (e) {
            expect((e as Error).message).toContain(`gateway-ha:${key} = `);
        }
    });

    it("reports every problem at once", () => {
        const issues = issuesOf({ flavor: "api7-v3", etcd: { electionMs: 200 }, dataPlane: { replicas: 1, httpPort: 0 } });
        expect(issues.map((i) => i.key).sort()).toEqual(
            ["controlPlane.databaseDsn", "dataPlane.httpPort", "dataPlane.replicas", "etcd.electionMs"].sort(),
        );
    });

    it("never echoes a secret value in a message", () => {
        try {
            loadPlatform(cfg({ flavor: "api7-v3", controlPlane: { databaseDsn: "mysql://u:hunter2@db/x" } }), ctx);
            expect.unreachable();
        } catch (e) {
            expect((e as Error).message).toContain("gateway-ha:controlPlane.databaseDsn = [secret]");
            expect((e as Error).message).not.toContain("hunter2");
        }
    });

    it("an API7 v3 gateway identity whose certificate does not parse is refused naming the key (its expiry is exported)", () => {
        const id = dpManagerIdentityConfig();
        const issues = issuesOf({ flavor: "api7-v3", controlPlane: { databaseDsn: V3_DSN }, dataPlane: { dpManagerIdentity: { ...id, certificate: "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n" } } });
        expect(issues).toContainEqual(expect.objectContaining({ key: "dataPlane.dpManagerIdentity.certificate", rule: expect.stringMatching(/parses as X\.509/) }));
        expect(certificateNotAfter(id.certificate)).toBe(new Date(new X509Certificate(id.certificate).validTo).toISOString().replace(".000Z", "Z"));
        expect(certificateNotAfter("not a certificate")).toBeUndefined();
    });

    it("accepts the valid variants", () => {
        expect(issuesOf({ flavor: "api7-v3", controlPlane: { databaseDsn: V3_DSN } })).toEqual([]);
        expect(issuesOf({ layout: "compact" })).toEqual([]);
        expect(issuesOf({ etcd: { members: 5 }, dataPlane: { replicas: 3 } })).toEqual([]);
        expect(
            issuesOf({
                layout: "custom",
                nodes: [
                    { name: "a", roles: ["etcd", "control-plane"] },
                    { name: "b", roles: ["etcd", "control-plane"] },
                    { name: "c", roles: ["etcd"] },
                    { name: "d", roles: ["data-plane"] },
                    { name: "e", roles: ["data-plane"] },
                    { name: "f", roles: ["load-balancer"] },
                ],
            }),
        ).toEqual([]);
    });
});

describe("pure rule functions", () => {
    it("checkEtcdTiming", () => {
        expect(checkEtcdTiming({ heartbeatMs: 100, electionMs: 500 })).toEqual([]);
        expect(checkEtcdTiming({ heartbeatMs: 100, electionMs: 499 })).toHaveLength(1);
        expect(checkEtcdTiming({ heartbeatMs: 100, electionMs: 50001 })).toHaveLength(1);
    });
    it("checkEtcdCaTrust: the signing CA trusted, at most two consecutive generations, only with TLS", () => {
        const at = (caGeneration: number, caTrust?: number[], tls = true) => checkEtcdCaTrust({ tls, caGeneration, ...(caTrust ? { caTrust } : {}) });
        // The three phases of a rotation, and the steady states around them.
        for (const [g, t] of [[0, undefined], [0, [0, 1]], [1, [0, 1]], [1, [1]], [1, undefined], [1, [2, 1]]] as const) expect(at(g, t ? [...t] : undefined)).toEqual([]);
        expect(at(1, [0])).toEqual([{ key: "etcd.caTrust", value: [0], rule: "must include etcd.caGeneration (1): the CA that signs the certificates must be trusted" }]);
        expect(at(0, [0, 2])[0].rule).toMatch(/two consecutive ones/);
        expect(at(1, [0, 1, 2])[0].rule).toMatch(/two consecutive ones/);
        expect(at(1, [1, 1])[0].rule).toMatch(/two consecutive ones/);
        expect(at(1, undefined, false)).toEqual([{ key: "etcd.caGeneration", value: 1, rule: "needs etcd.tls: without TLS there is no CA to rotate" }]);
        expect(at(0, [0, 1], false)[0].key).toBe("etcd.caTrust");
    });
    it("checkConsumerPasswordRotation: only where the consumers have etcd passwords", () => {
        const at = (consumerPasswordRotation: number, flavor = "apisix", auth = true) =>
            checkConsumerPasswordRotation({ flavor, etcd: { auth, consumerPasswordRotation } } as Parameters<typeof checkConsumerPasswordRotation>[0]);
        expect([at(0), at(1), at(2, "api7-v2"), at(0, "api7-v3"), at(0, "apisix", false)]).toEqual([[], [], [], [], []]);
        expect(at(1, "api7-v3")).toEqual([{ key: "etcd.consumerPasswordRotation", value: 1, rule: expect.stringMatching(/has no etcd/) }]);
        expect(at(1, "apisix", false)[0].rule).toMatch(/^needs etcd.auth/);
    });
    it("checkDatabase", () => {
        expect(checkDatabase("api7-v3", V3_DSN)).toEqual([]);
        expect(checkDatabase("api7-v3", "postgres://host")).toHaveLength(1);
        expect(checkDatabase("apisix", V3_DSN)[0].rule).toMatch(/only used by flavor api7-v3/);
    });
    it("checkDatabase: a connection that can never run without TLS (sslmode require, verify-ca or verify-full)", () => {
        const base = "postgres://api7:pw@db.internal:5432/api7ee";
        for (const ok of ["?sslmode=require", "?sslmode=verify-ca", "?connect_timeout=5&sslmode=verify-full"]) expect(checkDatabase("api7-v3", base + ok), ok).toEqual([]);
        for (const [bad, got] of [["", "none"], ["?sslmode=prefer", "prefer"], ["?sslmode=disable", "disable"], ["?sslmode=allow", "allow"], ["?application_name=x", "none"]]) {
            const issues = checkDatabase("api7-v3", base + bad);
            expect(issues, bad).toEqual([{ key: "controlPlane.databaseDsn", value: base + bad, rule: expect.stringContaining(`(got ${got})`) }]);
            // The DSN holds the password: the message shows [secret], never the value.
            expect(formatIssue(issues[0])).not.toContain("pw@");
        }
    });
    it("checkSecretsMarked: a secret value set without --secret is refused by its path, its value never shown", () => {
        const dsn = { flavor: "api7-v3", controlPlane: { databaseDsn: V3_DSN }, dataPlane: { dpManagerIdentity: dpManagerIdentityConfig() } };
        const loadWith = (values: Record<string, unknown>, secretKeys: string[]) => {
            try {
                loadPlatform(cfg(values), { ...ctx, secretKeys });
                return [];
            } catch (e) {
                return (e as ConfigValidationError).issues;
            }
        };
        const plain = loadWith(dsn, []);
        expect(plain.map((i) => i.key).sort()).toEqual(["controlPlane.databaseDsn", "dataPlane.dpManagerIdentity.privateKey"]);
        expect(plain.map(formatIssue).join("\n")).not.toContain("pw@");
        expect(plain[0].rule).toMatch(/pulumi config set --secret --path controlPlane.databaseDsn/);
        expect(loadWith(dsn, ["gateway-ha:controlPlane", "gateway-ha:dataPlane"])).toEqual([]);
        // An unrelated secret section does not stand in for the one holding the value.
        expect(loadWith(dsn, ["gateway-ha:controlPlane", "gateway-ha:ssh"]).map((i) => i.key)).toEqual(["dataPlane.dpManagerIdentity.privateKey"]);
        expect(secretPathsIn({ loadBalancer: { keepalived: { vips: [{ name: "a" }, { name: "b", authPass: "x" }] } }, ssh: { privateKey: "k" } })).toEqual([
            "ssh.privateKey",
            "loadBalancer.keepalived.vips[].authPass",
        ]);
        expect(secretPathsIn({ loadBalancer: { keepalived: { vips: [{ name: "a" }] } }, ssh: {} })).toEqual([]);
    });
    it("checkStateEncryption: an empty passphrase only for a local development stack, which stays on this machine's Docker", () => {
        const parse = (values: Record<string, unknown>) => platformConfigSchema.parse(values);
        expect(checkStateEncryption(parse({}), "empty")).toEqual([{ key: "localDevelopment", value: false, rule: expect.stringMatching(/^PULUMI_CONFIG_PASSPHRASE is empty/) }]);
        expect(checkStateEncryption(parse({}), "set")).toEqual([]);
        expect(checkStateEncryption(parse({}), "unknown")).toEqual([]);
        expect(checkStateEncryption(parse({ localDevelopment: true }), "empty")).toEqual([]);
        expect(checkStateEncryption(parse({ localDevelopment: true, target: "ssh" }), "empty")).toEqual([{ key: "localDevelopment", value: true, rule: expect.stringContaining("target ssh") }]);
        expect(checkStateEncryption(parse({ localDevelopment: true, nodes: [{ name: "dp-1", address: "10.0.0.5", sshUser: "deploy" }] }), "set")[0].rule).toContain("remote Docker hosts dp-1");
        expect(statePassphrase({ PULUMI_CONFIG_PASSPHRASE: "" })).toBe("empty");
        expect(statePassphrase({ PULUMI_CONFIG_PASSPHRASE: "", PULUMI_CONFIG_PASSPHRASE_FILE: "/run/pass" })).toBe("set");
        expect(statePassphrase({ PULUMI_CONFIG_PASSPHRASE: "s3cret" })).toBe("set");
        expect(statePassphrase({})).toBe("unknown");
    });
    it("checkHealthCheck", () => {
        const lb = loadBalancerSchema.parse({});
        expect(checkHealthCheck(lb, 7085)).toEqual([]);
        expect(checkHealthCheck({ ...lb, healthCheck: { ...lb.healthCheck, timeoutSeconds: 5, intervalSeconds: 2 } }, 7085)[0].key).toBe(
            "loadBalancer.healthCheck.timeoutSeconds",
        );
    });
});
