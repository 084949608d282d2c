// The whole program (index.ts) under Pulumi's mock engine: what each configuration deploys,
// asserted on the recorded resource inputs.
import * as path from "node:path";
import { rootCertificates } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ETCD_TLS_SERVER_NAME } from "../../components/render/etcd";
import { APISIX_PATHS } from "../../components/render/gateway";
import { loadPlatform } from "../../components/config";
import { certificateNotAfter } from "../../components/config/certificates";
import { DEFAULT_IMAGES } from "../../components/config/schema";
import { PAUSE_IMAGE, reloadFileVar } from "../../components/targets/docker";
import { balancerConfigPath } from "../../components/loadBalancer";
import { MANAGEMENT_TLS_NAME, MANAGEMENT_TLS_PATHS } from "../../components/render/managementTls";
import { firewallInstalled, sysctlsInstalled } from "../../components/render/ssh";
import { isSecretWrapper, MOCK_CERT_START, unwrapSecrets, type RecordedResource } from "../../scripts/lib/mockEngine";
import { stackConfig } from "../../scripts/preview-offline";
import { dpManagerIdentityConfig, testDpIdentity } from "../config";
import {
    PROJECT,
    ROOT,
    T,
    cfg,
    dependsOn,
    envs,
    find,
    imageRef,
    label,
    nodeContainers,
    ofType,
    registration,
    runPlatform,
    services,
    upload,
    uploads,
    type PlatformRun,
} from "./helpers";

const GATEWAY_CONFIG = "/usr/local/apisix/conf/config.yaml";
const ETCD_PW_REF = "${{GATEWAY_HA_ETCD_PASSWORD}}";
const DSN = "postgres://u:pw-9f3c1e@db:5432/api7ee?sslmode=verify-full";

const names = (rs: RecordedResource[]) => rs.map((r) => r.name).sort();
const nodeOf = (r: RecordedResource) => label(r, "gateway-ha.node");
const flag = (cmd: string[], name: string) => {
    const hits = cmd.filter((a) => a.startsWith(`--${name}=`));
    expect(hits, `${name} in ${cmd.join(" ")}`).toHaveLength(1);
    return hits[0].slice(name.length + 3);
};
const passwordOf = (run: PlatformRun, suffix: string) => {
    const pw = ofType(run, T.password).find((r) => r.name.endsWith(suffix));
    if (!pw) throw new Error(`no RandomPassword *${suffix}`);
    return unwrapSecrets(pw.state.result) as string;
};
/** The node container a service joins: `container:<id>`, where the mock id of resource N is `N-id`. */
const anchorOf = (run: PlatformRun, svc: RecordedResource) => {
    const mode = svc.inputs.networkMode as string;
    expect(mode).toMatch(/^container:/);
    const anchor = nodeContainers(run).find((n) => `container:${n.name}-id` === mode);
    if (!anchor) throw new Error(`${svc.name}: networkMode ${mode} names no node container`);
    return anchor;
};
type EtcdBlock = { host: string[]; prefix: string; password?: string; user?: string; tls?: Record<string, unknown> };
/** `deployment.etcd` in APISIX 3.x; API7 v2 (APISIX 2.13) has the top-level `etcd` instead. */
const gatewayYaml = (r: RecordedResource) =>
    parse(upload(r, GATEWAY_CONFIG)) as { apisix: { ssl: { ssl_trusted_certificate?: string } }; deployment: { role: string; etcd: EtcdBlock }; etcd?: EtcdBlock };

describe("default dev stack (apisix, standard layout, haproxy)", () => {
    const { config, secretKeys } = stackConfig(path.join(ROOT, "Pulumi.yaml"), path.join(ROOT, "Pulumi.dev.yaml"));
    const stack = "devunit";
    const { topology } = loadPlatform(config, { project: PROJECT, stack });
    const address = Object.fromEntries(topology.nodes.map((n) => [n.name, n.address]));
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config, { secretKeys, stack });
    });

    it("deploys 3 etcd members, 2 control-plane replicas, 2 gateways and both balancers on lb-1", () => {
        expect(names(services(run, "etcd"))).toEqual(["etcd-1-etcd", "etcd-2-etcd", "etcd-3-etcd"]);
        expect(names(services(run, "control-plane"))).toEqual(["cp-1-apisix-cp", "cp-2-apisix-cp"]);
        expect(names(services(run, "data-plane"))).toEqual(["dp-1-gateway", "dp-2-gateway"]);
        const lbs = services(run, "load-balancer");
        expect(names(lbs)).toEqual(["lb-1-control-plane-lb", "lb-1-gateway-lb"]);
        for (const lb of lbs) expect(nodeOf(lb)).toBe("lb-1");
        for (const svc of services(run)) expect(svc.inputs.name).toBe(`${stack}-${svc.name}`);
    });

    it("one pause node container per node, holding the node's fixed address on the platform network", () => {
        const network = find(run, T.network, "gateway-ha-docker-network");
        expect(network.inputs).toMatchObject({ name: "gateway-ha", ipamConfigs: [{ subnet: "172.28.0.0/24" }] });
        const anchors = nodeContainers(run);
        expect(anchors.map(nodeOf).sort()).toEqual(topology.nodes.map((n) => n.name).sort());
        expect(address["etcd-1"]).toBe("172.28.0.11");
        for (const a of anchors) {
            const node = nodeOf(a)!;
            expect(a.name).toBe(`gateway-ha-docker-${node}`);
            expect(imageRef(run, a)).toBe(PAUSE_IMAGE);
            expect(a.inputs.networksAdvanced).toEqual([expect.objectContaining({ name: "gateway-ha", ipv4Address: address[node] })]);
            expect(a.inputs.command).toBeUndefined();
        }
    });

    it("every service joins its own node's network namespace (container:<node container id>)", () => {
        expect(services(run)).toHaveLength(9);
        for (const svc of services(run)) {
            expect(nodeOf(anchorOf(run, svc)), svc.name).toBe(nodeOf(svc));
            expect(svc.inputs.networksAdvanced, svc.name).toBeUndefined();
        }
    });

    it("etcd members share one https --initial-cluster and advertise their own address", () => {
        const members = services(run, "etcd").sort((a, b) => a.name.localeCompare(b.name));
        const clusters = new Set<string>();
        members.forEach((m, i) => {
            const cmd = m.inputs.command as string[];
            const node = `etcd-${i + 1}`;
            expect(imageRef(run, m)).toBe(DEFAULT_IMAGES.etcd);
            expect(cmd[0]).toBe("/usr/local/bin/etcd");
            expect(flag(cmd, "name")).toBe(`${node}-etcd`);
            expect(flag(cmd, "advertise-client-urls")).toBe(`https://${address[node]}:2379`);
            expect(flag(cmd, "initial-advertise-peer-urls")).toBe(`https://${address[node]}:2380`);
            expect(flag(cmd, "listen-peer-urls")).toMatch(/^https:\/\//);
            expect(flag(cmd, "initial-cluster-token")).toBe(flag((members[0].inputs.command as string[]), "initial-cluster-token"));
            clusters.add(flag(cmd, "initial-cluster"));
        });
        expect([...clusters]).toEqual([
            [1, 2, 3].map((i) => `etcd-${i}-etcd=https://${address[`etcd-${i}`]}:2380`).join(","),
        ]);
        expect(run.outputs.etcdEndpoints.value).toEqual([1, 2, 3].map((i) => `https://${address[`etcd-${i}`]}:2379`));
    });

    it("etcd data lives on a named, protected volume: a destroy or replacement that would delete it fails", () => {
        for (const i of [1, 2, 3]) {
            const member = find(run, T.container, `etcd-${i}-etcd`);
            const volume = find(run, T.volume, `etcd-${i}-etcd-data`);
            expect(member.inputs.volumes).toEqual([{ volumeName: volume.inputs.name, containerPath: "/var/lib/etcd" }]);
            expect(volume.inputs.name).toBe(`${stack}-etcd-${i}-etcd-data`);
            // Protected, not retained: once protectData is off, a destroy really deletes it.
            expect(registration(run, T.volume, volume.name)).toMatchObject({ protect: true, retainOnDelete: false });
        }
        // Only what holds data (or is bound to it) is protected: containers are replaceable.
        expect(registration(run, T.container, "etcd-1-etcd").protect).toBe(false);
        const protectedTypes = new Set(run.registrations.filter((r) => r.protect).map((r) => r.type));
        expect([...protectedTypes].sort()).toEqual([T.command, T.password, T.volume].sort());
        // The protected steps: etcd's founders record and the password rotations' guard, bound to the data like the volumes.
        expect(run.registrations.filter((r) => r.type === T.command && r.protect).map((r) => r.name).sort()).toEqual(["gateway-ha-etcd-founders", "gateway-ha-etcd-rotation-guard"]);
        // The etcd users' passwords live in etcd's data: a new one would fail the bootstrap on a kept volume.
        const etcdPasswords = run.registrations.filter((r) => r.type === T.password && /-etcd-.*-password$/.test(r.name));
        expect(etcdPasswords.map((r) => r.name.replace(/^.*-etcd-/, "")).sort()).toEqual(["control-plane-password", "gateway-password", "root-password"]);
        expect(etcdPasswords.every((r) => r.protect)).toBe(true);
        expect(run.registrations.filter((r) => r.type === T.password && r.protect)).toHaveLength(3);
    });

    it("etcd members have an exec health check, which their rollout and gate steps wait for (not Docker's `wait`: a founder alone is never healthy)", () => {
        for (const m of services(run, "etcd")) {
            const hc = m.inputs.healthcheck as { tests: string[]; interval: string; retries: number };
            expect(hc.tests.slice(0, 2)).toEqual(["CMD", "/usr/local/bin/etcdctl"]);
            expect(hc.tests.slice(-2)).toEqual(["endpoint", "health"]);
            expect(hc.tests).toContain(`--endpoints=https://${address[nodeOf(m)!]}:2379`);
            expect(m.inputs.wait).toBe(false);
            expect(find(run, T.command, `${m.name}-rollout`).inputs.create).toContain("healthy");
        }
    });

    it("the etcd bootstrap runs etcdctl in any running member, after every member's gate, with the passwords as secret environment", () => {
        const bootstrap = find(run, T.command, "gateway-ha-etcd-bootstrap");
        const env = bootstrap.inputs.environment as Record<string, unknown>;
        const plainEnv = unwrapSecrets(env) as Record<string, string>;
        expect(plainEnv).toMatchObject({
            ETCD_ROOT_PASSWORD: passwordOf(run, "etcd-root-password"),
            ETCD_CONTROL_PLANE_PASSWORD: passwordOf(run, "etcd-control-plane-password"),
            ETCD_GATEWAY_PASSWORD: passwordOf(run, "etcd-gateway-password"),
        });
        for (const k of ["ETCD_ROOT_PASSWORD", "ETCD_CONTROL_PLANE_PASSWORD", "ETCD_GATEWAY_PASSWORD"])
            expect(isSecretWrapper(env) || isSecretWrapper(env[k]), k).toBe(true);
        const create = bootstrap.inputs.create as string;
        // The tool tries every member's container in turn: member 1 may be the one that is down.
        const members = [1, 2, 3].map((i) => find(run, T.container, `etcd-${i}-etcd`).inputs.name as string);
        expect(create).toContain(`for c in ${members.map((m) => `'|${m}'`).join(" ")}; do`);
        expect(create).toMatch(/docker exec -i -e ETCDCTL_USER "\$c" '\/usr\/local\/bin\/etcdctl' '--endpoints=/);
        expect(create).toContain("auth enable");
        for (const v of Object.values(plainEnv)) expect(create).not.toContain(v);
        expect(bootstrap.inputs.triggers).toEqual([1, 2, 3].map((i) => `etcd-${i}-etcd-gate-id`));
        for (const i of [1, 2, 3]) expect(dependsOn(registration(run, T.command, bootstrap.name), T.command, `etcd-${i}-etcd-gate`)).toBe(true);
        // Control plane and gateways start once auth is bootstrapped.
        for (const svc of [...services(run, "control-plane"), ...services(run, "data-plane")])
            expect(dependsOn(registration(run, T.container, svc.name), T.command, bootstrap.name), svc.name).toBe(true);
    });

    it("gateways get a data_plane config.yaml that references the etcd password, which reaches APISIX as a file its user alone reads, exported by a wrapper before the image's start", () => {
        const gwPassword = passwordOf(run, "etcd-gateway-password");
        for (const gw of services(run, "data-plane")) {
            const text = upload(gw, GATEWAY_CONFIG);
            const conf = gatewayYaml(gw);
            expect(conf.deployment.role).toBe("data_plane");
            expect(conf.deployment.etcd).toMatchObject({ user: "gateway", password: ETCD_PW_REF, prefix: "/apisix" });
            expect(conf.deployment.etcd.host).toEqual(run.outputs.etcdEndpoints.value);
            expect(text).not.toContain(gwPassword);
            // config.yaml stays reviewable: it is not declared a secret file.
            expect((label(gw, "gateway-ha.secret-files") ?? "").split(",")).not.toContain(GATEWAY_CONFIG);
            expectSecretEnvFile(gw, "GATEWAY_HA_ETCD_PASSWORD", gwPassword);
            expect(gw.inputs.healthcheck).toMatchObject({ tests: expect.arrayContaining(["http://127.0.0.1:7085/status/ready"]) });
        }
    });

    it("gateways and the control plane trust the system's roots plus the etcd CA, in the one file APISIX is told to trust", () => {
        const ca = run.outputs.etcdCaCert.value as string;
        for (const svc of [...services(run, "data-plane"), ...services(run, "control-plane")]) {
            const trusted = (parse(upload(svc, GATEWAY_CONFIG)) as { apisix: { ssl: { ssl_trusted_certificate: string } } }).apisix.ssl.ssl_trusted_certificate;
            expect(trusted).toBe("/usr/local/apisix/conf/etcd-pki/trusted.crt");
            expect(upload(svc, trusted)).toBe(`${rootCertificates.join("\n")}\n${ca}`);
            expect(upload(svc, "/usr/local/apisix/conf/etcd-pki/ca.crt")).toBe(ca);
        }
    });

    it("etcd member certificates carry the shared server name the clients send as sni", () => {
        const members = ofType(run, "tls:index/certRequest:CertRequest").filter((r) => /member-\d-csr$/.test(r.name));
        expect(members).toHaveLength(3);
        for (const [i, csr] of members.entries()) {
            expect(csr.inputs.dnsNames, csr.name).toContain(ETCD_TLS_SERVER_NAME);
            expect(csr.inputs.ipAddresses, csr.name).toEqual([`172.28.0.1${i + 1}`]);
        }
        for (const gw of services(run, "data-plane")) expect(gatewayYaml(gw).deployment.etcd).toMatchObject({ tls: { verify: true, sni: ETCD_TLS_SERVER_NAME } });
    });

    it("the control plane runs APISIX in control_plane role with its Admin key and etcd password as files its user alone reads, never in its environment", () => {
        const adminKey = passwordOf(run, "admin-key");
        for (const cp of services(run, "control-plane")) {
            const conf = parse(upload(cp, GATEWAY_CONFIG)) as { deployment: { role: string } };
            expect(conf.deployment.role).toBe("control_plane");
            expect(upload(cp, GATEWAY_CONFIG)).not.toContain(adminKey);
            expectSecretEnvFile(cp, "GATEWAY_HA_ADMIN_KEY", adminKey);
            expectSecretEnvFile(cp, "GATEWAY_HA_ETCD_PASSWORD", passwordOf(run, "etcd-control-plane-password"));
        }
        expect(run.outputs.adminKey).toEqual({ value: adminKey, secret: true });
    });

    it("each balancer's config names every backend of its scope", () => {
        const gwLb = find(run, T.container, "lb-1-gateway-lb");
        const cpLb = find(run, T.container, "lb-1-control-plane-lb");
        const gwConf = upload(gwLb, "/usr/local/etc/haproxy/gateway-lb.cfg");
        const cpConf = upload(cpLb, "/usr/local/etc/haproxy/control-plane-lb.cfg");
        for (const dp of ["dp-1", "dp-2"]) {
            expect(gwConf).toContain(`${address[dp]}:80`);
            expect(gwConf).toContain(`${address[dp]}:443`);
            expect(cpConf).not.toContain(address[dp]);
        }
        for (const cp of ["cp-1", "cp-2"]) expect(cpConf).toContain(`${address[cp]}:9180`);
        expect(imageRef(run, gwLb)).toBe(DEFAULT_IMAGES.haproxy);
        expect(gwLb.inputs.command).toEqual(["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/gateway-lb.cfg"]);
    });

    it("a balancer's config reaches its running container through a reload step; only balancers have one", async () => {
        const reloads = ofType(run, T.command).filter((c) => c.name.endsWith("-reload"));
        expect(names(reloads)).toEqual(["lb-1-control-plane-lb-reload", "lb-1-gateway-lb-reload"]);
        for (const c of ofType(run, T.container)) {
            const ignored = registration(run, T.container, c.name).ignoreChanges;
            expect(ignored, c.name).toEqual(/-lb$/.test(c.name) ? ["uploads"] : []);
        }
        const gwLb = find(run, T.container, "lb-1-gateway-lb");
        const step = find(run, T.command, "lb-1-gateway-lb-reload");
        expect((step.inputs.environment as Record<string, string>)[reloadFileVar(0)]).toBe(upload(gwLb, "/usr/local/etc/haproxy/gateway-lb.cfg"));
        expect(step.inputs.create).toContain(`docker kill --signal USR2 '${stack}-lb-1-gateway-lb'`);
        expect(registration(run, T.command, step.name).dependencies.some((u) => u.endsWith("::lb-1-gateway-lb"))).toBe(true);

        // What `pulumi up` does with a new health check: the containers' inputs stay the same but for
        // the ignored uploads (no replacement, no reset connection); the reload steps' triggers move.
        const changed = await runPlatform(
            { ...config, "gateway-ha:loadBalancer": JSON.stringify({ ...JSON.parse(config["gateway-ha:loadBalancer"]), healthCheck: { intervalSeconds: 3 } }) },
            { secretKeys, stack },
        );
        const without = (r: RecordedResource) => ({ ...r.inputs, uploads: undefined });
        for (const name of ["lb-1-gateway-lb", "lb-1-control-plane-lb"]) {
            expect(upload(find(changed, T.container, name), balancerConfigPath("haproxy", name.startsWith("lb-1-gateway") ? "gateway" : "control-plane"))).not.toBe(
                upload(find(run, T.container, name), balancerConfigPath("haproxy", name.startsWith("lb-1-gateway") ? "gateway" : "control-plane")),
            );
            expect(without(find(changed, T.container, name))).toEqual(without(find(run, T.container, name)));
            expect(find(changed, T.command, `${name}-reload`).inputs.triggers).not.toEqual(find(run, T.command, `${name}-reload`).inputs.triggers);
        }
        // Nothing else notices.
        expect(find(changed, T.container, "dp-1-gateway").inputs).toEqual(find(run, T.container, "dp-1-gateway").inputs);
    });

    it("exports each certificate's expiry, plain: creation (the provider's) + its validity; the CA outlives its leaves", () => {
        const expiry = run.outputs.certificateExpiry;
        expect(expiry.secret).toBe(false);
        expect(expiry.value).toEqual({
            "etcd/ca": "2035-12-30T00:00:00Z",
            ...Object.fromEntries(["member-1", "member-2", "member-3", "client-control-plane", "client-gateway"].map((id) => [`etcd/${id}`, "2028-01-01T00:00:00Z"])),
            "management/ca": "2035-12-30T00:00:00Z",
            ...Object.fromEntries(["cp-1", "cp-2", "lb-1-control-plane-lb"].map((id) => [`management/${id}`, "2028-01-01T00:00:00Z"])),
        });
        expect(MOCK_CERT_START).toBe("2026-01-01T00:00:00Z");
    });

    it("certificates created together renew a week apart, members first: no update renews two (and restarts their services) at once", () => {
        const certs = ofType(run, "tls:index/locallySignedCert:LocallySignedCert");
        const renewal = Object.fromEntries(certs.map((c) => [c.name.replace(/^.*-(pki|management)-/, "").replace(/-cert$/, ""), c.inputs.earlyRenewalHours]));
        const day = 24;
        expect(renewal).toEqual({
            "member-1": 30 * day,
            "member-2": 37 * day,
            "member-3": 44 * day,
            "client-control-plane": 51 * day,
            "client-gateway": 58 * day,
            // The management channel's: fixed orders (10 on for the nodes, 20 on for the balancers), so that
            // scaling etcd or the control plane moves no other certificate's window.
            "cp-1": 100 * day,
            "cp-2": 107 * day,
            "lb-1-control-plane-lb": 170 * day,
        });
        // The same validity for all: only the renewal window (updated in place by the provider) differs.
        expect(new Set(certs.map((c) => c.inputs.validityPeriodHours))).toEqual(new Set([2 * 365 * day]));
    });

    it("publishes host ports only on lb-1's node container, bound to 127.0.0.1", () => {
        for (const c of ofType(run, T.container)) {
            const ports = (c.inputs.ports as unknown[] | undefined) ?? [];
            if (c.name === "gateway-ha-docker-lb-1")
                expect(ports).toEqual([
                    { internal: 80, external: 9080, ip: "127.0.0.1", protocol: "tcp" },
                    { internal: 443, external: 9443, ip: "127.0.0.1", protocol: "tcp" },
                    { internal: 9180, external: 19000, ip: "127.0.0.1", protocol: "tcp" },
                ]);
            else expect(ports, c.name).toEqual([]);
        }
        expect(run.outputs.gatewayUrl.value).toBe("http://127.0.0.1:9080");
        expect(run.outputs.gatewayHttpsUrl.value).toBe("https://127.0.0.1:9443");
        expect(run.outputs.controlPlaneUrl.value).toBe("https://127.0.0.1:19000");
    });

    it("exports the node map and the etcd CA", () => {
        expect(run.outputs.nodes.value).toEqual(Object.fromEntries(topology.nodes.map((n) => [n.name, { address: n.address, roles: n.roles }])));
        expect(run.outputs.etcdCaCert.value).toMatch(/^-----BEGIN CERTIFICATE-----/);
        expect(run.outputs).toMatchObject({ flavor: { value: "apisix" }, target: { value: "docker" }, layout: { value: "standard" } });
    });
});

describe("protectData: false (a stack whose destroy may delete its data)", () => {
    it("nothing is protected, and the etcd volumes are not retained either: a destroy deletes them", async () => {
        const run = await runPlatform(cfg({ flavor: "apisix", protectData: false }));
        const volumes = run.registrations.filter((r) => r.type === T.volume);
        expect(volumes).toHaveLength(3);
        expect(volumes.every((r) => !r.protect && !r.retainOnDelete)).toBe(true);
        expect(run.registrations.filter((r) => r.protect)).toEqual([]);
    });
});

describe("compact layout (seed 001's 5 nodes)", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ flavor: "apisix", layout: "compact" }));
    });

    it("node-1 and node-2 run etcd and the control plane in one node container; node-3 etcd only; node-4/5 gateways", () => {
        const byNode = new Map<string, string[]>();
        for (const svc of services(run)) {
            const anchor = anchorOf(run, svc);
            expect(nodeOf(anchor)).toBe(nodeOf(svc));
            byNode.set(anchor.name, [...(byNode.get(anchor.name) ?? []), svc.name].sort());
        }
        expect(Object.fromEntries(byNode)).toEqual({
            "gateway-ha-docker-node-1": ["node-1-apisix-cp", "node-1-etcd"],
            "gateway-ha-docker-node-2": ["node-2-apisix-cp", "node-2-etcd"],
            "gateway-ha-docker-node-3": ["node-3-etcd"],
            "gateway-ha-docker-node-4": ["node-4-gateway"],
            "gateway-ha-docker-node-5": ["node-5-gateway"],
            "gateway-ha-docker-lb-1": ["lb-1-control-plane-lb", "lb-1-gateway-lb"],
        });
        expect(nodeContainers(run)).toHaveLength(6);
    });

    it("the initial cluster is node-1..3 and the gateways watch those members", () => {
        const addr = (n: string) => (run.outputs.nodes.value as Record<string, { address: string }>)[n].address;
        const expected = ["node-1", "node-2", "node-3"].map((n) => `${n}-etcd=https://${addr(n)}:2380`).join(",");
        for (const m of services(run, "etcd")) expect(flag(m.inputs.command as string[], "initial-cluster")).toBe(expected);
        for (const gw of services(run, "data-plane"))
            expect(gatewayYaml(gw).deployment.etcd.host).toEqual(["node-1", "node-2", "node-3"].map((n) => `https://${addr(n)}:2379`));
        expect(find(run, T.command, "gateway-ha-etcd-bootstrap").inputs.create).toContain(`${run.stack}-node-1-etcd`);
    });
});

describe("flavor api7-v2", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ flavor: "api7-v2", dataPlane: { clusterId: "c42" } }));
    });

    it("runs a dashboard per control-plane node with conf.yaml declared a secret file", () => {
        const cpPassword = passwordOf(run, "etcd-control-plane-password");
        const dashboards = services(run, "control-plane");
        expect(names(dashboards)).toEqual(["cp-1-dashboard", "cp-2-dashboard"]);
        for (const d of dashboards) {
            const path = "/usr/local/apisix-dashboard/conf/conf.yaml";
            expect(imageRef(run, d)).toBe(DEFAULT_IMAGES.api7v2Dashboard);
            expect((label(d, "gateway-ha.secret-files") ?? "").split(",")).toContain(path);
            const conf = parse(upload(d, path)) as { conf: { listen: unknown; ssl: unknown; etcd: Record<string, unknown> } };
            // HTTPS on the dashboard port with the node's management certificate; 2.13's plain listener on loopback.
            expect(conf.conf.listen).toEqual({ host: "127.0.0.1", port: 9001 });
            expect(conf.conf.ssl).toEqual({ port: 9000, cert: MANAGEMENT_TLS_PATHS.api7v2Dashboard.cert, key: MANAGEMENT_TLS_PATHS.api7v2Dashboard.key });
            expect(upload(d, MANAGEMENT_TLS_PATHS.api7v2Dashboard.cert)).toBe(find(run, "tls:index/locallySignedCert:LocallySignedCert", `gateway-ha-management-${nodeOf(d)}-cert`).state.certPem);
            expect((label(d, "gateway-ha.secret-files") ?? "").split(",")).toContain(MANAGEMENT_TLS_PATHS.api7v2Dashboard.key);
            expect(conf.conf.etcd).toMatchObject({ prefix: "/api7", enable_auth: true, username: "control-plane", password: cpPassword });
            expect(conf.conf.etcd.endpoints).toEqual((run.outputs.etcdEndpoints.value as string[]).map((u) => u.replace("https://", "")));
            // The file holds the password, so the whole upload must be a secret.
            expect(isSecretWrapper(d.inputs.uploads)).toBe(true);
        }
    });

    it("the dashboards get the stack's own generated login, never the vendor default, and it is exported as a secret", () => {
        const password = passwordOf(run, "dashboard-admin-password");
        const sessionSecret = passwordOf(run, "dashboard-session-secret");
        expect(password).not.toBe(sessionSecret);
        for (const d of services(run, "control-plane")) {
            const conf = parse(upload(d, "/usr/local/apisix-dashboard/conf/conf.yaml"));
            expect(conf.authentication).toEqual({ secret: sessionSecret, expire_time: 3600, users: [{ username: "admin", password }] });
        }
        expect(run.outputs.dashboardAdmin.secret).toBe(true);
        expect(run.outputs.dashboardAdmin.value).toEqual({ user: "admin", password });
    });

    it("gateways read their cluster's prefix /api7/<clusterId>", () => {
        for (const gw of services(run, "data-plane")) {
            expect(imageRef(run, gw)).toBe(DEFAULT_IMAGES.api7v2Gateway);
            // APISIX 2.13 reads a top-level etcd block; a `deployment` section would be ignored.
            expect(gatewayYaml(gw).etcd).toMatchObject({ prefix: "/api7/c42", password: ETCD_PW_REF });
            expect(gatewayYaml(gw)).not.toHaveProperty("deployment");
        }
        expect(services(run, "etcd")).toHaveLength(3);
        expect(find(run, T.container, "gateway-ha-docker-lb-1").inputs.ports).toContainEqual(expect.objectContaining({ internal: 9000, external: 19000 }));
        expect(run.outputs.controlPlaneUrl.value).toBe("https://127.0.0.1:19000");
        expect(run.outputs.managementCaCert.value).toMatch(/^-----BEGIN CERTIFICATE-----/);
    });
});

describe("flavor api7-v3", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ flavor: "api7-v3", controlPlane: { databaseDsn: DSN }, dataPlane: { dpManagerIdentity: dpManagerIdentityConfig() } }), {
            secretKeys: ["gateway-ha:controlPlane", "gateway-ha:dataPlane"],
        });
    });

    it("creates no etcd resources at all", () => {
        expect(run.resources.filter((r) => /etcd/i.test(r.type) || /etcd/i.test(r.name))).toEqual([]);
        expect(ofType(run, T.volume)).toEqual([]);
        // The only commands are the balancers' reload steps, the rollout steps and the API7 images' facts.
        expect(ofType(run, T.command).filter((c) => !c.name.endsWith("-lb-reload") && !c.name.endsWith("-rollout") && !c.name.endsWith("-facts"))).toEqual([]);
        // The generated passwords are the dashboard's admin login (set through its API by api7:identity) and
        // the key of the balancers' files digest.
        expect(ofType(run, T.password).map((p) => p.name).sort()).toEqual(["gateway-ha-control-plane-dashboard-admin-password", "gateway-ha-docker-files-digest-key"]);
        // The only certificates are the management channel's: the dashboards' and the control-plane balancer's.
        expect(run.resources.filter((r) => r.type.startsWith("tls:") && !r.name.startsWith("gateway-ha-management-"))).toEqual([]);
        expect(services(run, "etcd")).toEqual([]);
        expect(run.outputs.etcdEndpoints.value).toEqual([]);
        expect(run.outputs.etcdCaCert.value).toBe("");
    });

    it("exports the expiry of the gateway group's dashboard-issued certificate and of the management certificates", () => {
        const { certificate } = dpManagerIdentityConfig();
        expect(run.outputs.certificateExpiry).toEqual({
            value: {
                dpManagerIdentity: certificateNotAfter(certificate),
                "management/ca": "2035-12-30T00:00:00Z",
                "management/cp-1": "2028-01-01T00:00:00Z",
                "management/cp-2": "2028-01-01T00:00:00Z",
                "management/lb-1-control-plane-lb": "2028-01-01T00:00:00Z",
            },
            secret: false,
        });
        expect(Date.parse(certificateNotAfter(certificate)!)).toBeGreaterThan(Date.now());
    });

    it("runs a dashboard and a DP Manager on every control-plane node, both configured with the DSN as a secret", () => {
        expect(names(services(run, "control-plane"))).toEqual(["cp-1-dashboard", "cp-1-dp-manager", "cp-2-dashboard", "cp-2-dp-manager"]);
        const files = { dashboard: "/app/conf/config.yaml", "dp-manager": "/usr/local/api7/conf/config.yaml" } as const;
        const images = { dashboard: DEFAULT_IMAGES.api7v3Dashboard, "dp-manager": DEFAULT_IMAGES.api7v3DpManager } as const;
        // Gateways reach the DP Manager on its mTLS listener only; its plain one stays on loopback. The
        // dashboard serves HTTPS only, with the node's management certificate.
        const tls = MANAGEMENT_TLS_PATHS.api7v3Dashboard;
        const servers = {
            dashboard: { listen: { disable: true, host: "127.0.0.1", port: 7080 }, tls: { disable: false, host: "0.0.0.0", port: 17080, cert_file: tls.cert, key_file: tls.key } },
            "dp-manager": { listen: { host: "127.0.0.1", port: 7900 }, tls: { host: "0.0.0.0", port: 7943 } },
        } as const;
        const secretFiles = { dashboard: `${files.dashboard},${tls.key}`, "dp-manager": files["dp-manager"] };
        for (const svc of services(run, "control-plane")) {
            const kind = label(svc, "gateway-ha.service") as keyof typeof files;
            expect(imageRef(run, svc)).toBe(images[kind]);
            const conf = parse(upload(svc, files[kind])) as { server: unknown; database: { dsn: string } };
            expect(conf).toStrictEqual(expect.objectContaining({ server: servers[kind], database: { dsn: DSN } }));
            expect(label(svc, "gateway-ha.secret-files")).toBe(secretFiles[kind]);
            expect(isSecretWrapper(svc.inputs.uploads)).toBe(true);
        }
    });

    it("the dashboard's certificate is the management CA's, names the node, and clients verify it with managementCaCert", () => {
        expect(run.outputs.controlPlaneUrl.value).toBe("https://127.0.0.1:19000");
        const ca = find(run, "tls:index/selfSignedCert:SelfSignedCert", "gateway-ha-management-ca");
        expect(run.outputs.managementCaCert.value).toBe(ca.state.certPem);
        const nodes = run.outputs.nodes.value as Record<string, { address: string }>;
        for (const node of ["cp-1", "cp-2"]) {
            const csr = find(run, "tls:index/certRequest:CertRequest", `gateway-ha-management-${node}-csr`);
            expect(csr.inputs).toMatchObject({ dnsNames: [MANAGEMENT_TLS_NAME], ipAddresses: [nodes[node].address] });
            const cert = find(run, "tls:index/locallySignedCert:LocallySignedCert", `gateway-ha-management-${node}-cert`);
            expect(unwrapSecrets(cert.inputs.caCertPem)).toBe(ca.state.certPem);
            expect(cert.inputs.allowedUses).toEqual(expect.arrayContaining(["server_auth"]));
            expect(cert.inputs.allowedUses).not.toContain("client_auth");
            const dashboard = find(run, T.container, `${node}-dashboard`);
            expect(upload(dashboard, MANAGEMENT_TLS_PATHS.api7v3Dashboard.cert)).toBe(cert.state.certPem);
            expect(upload(dashboard, MANAGEMENT_TLS_PATHS.api7v3Dashboard.key)).toMatch(/PRIVATE KEY/);
        }
    });

    it("the DSN never appears in a non-secret input", () => {
        const plain = JSON.stringify(run.resources.map((r) => r.inputs), (_k, v) => (isSecretWrapper(v) ? "[secret]" : v));
        expect(plain).not.toContain("pw-9f3c1e");
        expect(JSON.stringify(run.resources.map((r) => unwrapSecrets(r.inputs)))).toContain("pw-9f3c1e");
    });

    it("gateways reach the balancer's DP Manager port over mTLS with the group's identity as files, and start after it", () => {
        const lbAddr = (run.outputs.nodes.value as Record<string, { address: string }>)["lb-1"].address;
        const id = testDpIdentity();
        expect(names(services(run, "data-plane"))).toEqual(["dp-1-gateway", "dp-2-gateway"]);
        for (const gw of services(run, "data-plane")) {
            expect(imageRef(run, gw)).toBe(DEFAULT_IMAGES.api7v3Gateway);
            const doc = gatewayYaml(gw);
            const etcd = doc.deployment.etcd;
            expect(etcd.host).toEqual([`https://${lbAddr}:7943`]);
            expect(etcd.tls).toEqual({ cert: APISIX_PATHS.dpCert, key: APISIX_PATHS.dpKey, verify: true, sni: "api7ee3-dp-manager" });
            expect(etcd.password).toBeUndefined();
            expect(upload(gw, APISIX_PATHS.dpCert)).toBe(id.certificate);
            expect(upload(gw, APISIX_PATHS.dpKey)).toBe(id.privateKey);
            expect(label(gw, "gateway-ha.secret-files")).toBe(APISIX_PATHS.dpKey);
            expect(isSecretWrapper(gw.inputs.uploads)).toBe(true);
            // The one CA file APISIX reads: the system's roots, then the DP Manager's CA.
            const bundle = upload(gw, APISIX_PATHS.dpTrustBundle);
            expect(doc.apisix.ssl.ssl_trusted_certificate).toBe(APISIX_PATHS.dpTrustBundle);
            expect(bundle.startsWith(rootCertificates[0])).toBe(true);
            expect(bundle.trimEnd().endsWith(id.caCertificate.trimEnd())).toBe(true);
            expect(envs(gw)).toEqual(["API7_GATEWAY_GROUP_SHORT_ID=default"]);
            const reg = registration(run, T.container, gw.name);
            for (const dep of ["cp-1-dp-manager", "cp-2-dp-manager", "lb-1-control-plane-lb"]) expect(dependsOn(reg, T.container, dep), `${gw.name} after ${dep}`).toBe(true);
        }
        const cpLb = upload(find(run, T.container, "lb-1-control-plane-lb"), "/usr/local/etc/haproxy/control-plane-lb.cfg");
        for (const cp of ["cp-1", "cp-2"]) {
            const a = (run.outputs.nodes.value as Record<string, { address: string }>)[cp].address;
            expect(cpLb).toContain(`${a}:7943`);
            expect(cpLb).toContain(`${a}:17080`);
        }
    });

    it("the gateways' private key never appears in a non-secret input", () => {
        const key = testDpIdentity().privateKey.split("\n")[1];
        const plain = JSON.stringify(run.resources.map((r) => r.inputs), (_k, v) => (isSecretWrapper(v) ? "[secret]" : v));
        expect(plain).not.toContain(key);
        expect(JSON.stringify(run.resources.map((r) => unwrapSecrets(r.inputs)))).toContain(key);
    });
});

describe("flavor api7-v3 before the dashboard issued the gateway group's identity", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ flavor: "api7-v3", controlPlane: { databaseDsn: DSN } }), { secretKeys: ["gateway-ha:controlPlane"], stack: "two-phase" });
    });

    it("deploys the control plane and both balancers, and no gateway (it could not reach the DP Manager)", () => {
        expect(names(services(run, "control-plane"))).toEqual(["cp-1-dashboard", "cp-1-dp-manager", "cp-2-dashboard", "cp-2-dp-manager"]);
        expect(names(services(run, "load-balancer"))).toEqual(["lb-1-control-plane-lb", "lb-1-gateway-lb"]);
        expect(services(run, "data-plane")).toEqual([]);
    });

    it("with the identity set, the same balancers: the second `pulumi up` only adds the gateways", async () => {
        const second = await runPlatform(cfg({ flavor: "api7-v3", controlPlane: { databaseDsn: DSN }, dataPlane: { dpManagerIdentity: dpManagerIdentityConfig() } }), {
            secretKeys: ["gateway-ha:controlPlane", "gateway-ha:dataPlane"],
            stack: "two-phase",
        });
        // The balancers' configuration already names the gateways' addresses, so it does not change.
        const configsOf = (r: PlatformRun) => services(r, "load-balancer").map((s) => uploads(s));
        expect(configsOf(second)).toEqual(configsOf(run));
        expect(names(services(second, "data-plane"))).toEqual(["dp-1-gateway", "dp-2-gateway"]);
    });
});

describe("nginx balancers", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ loadBalancer: { kind: "nginx" } }));
    });

    it("balancer containers run the nginx image in the foreground on their own config file", () => {
        const lbs = services(run, "load-balancer");
        expect(lbs).toHaveLength(2);
        for (const lb of lbs) {
            const scope = label(lb, "gateway-ha.service")!.replace(/-lb$/, "");
            const file = `/etc/nginx/${scope}-lb.conf`;
            expect(imageRef(run, lb)).toBe(DEFAULT_IMAGES.nginx);
            expect(lb.inputs.command).toEqual(["nginx", "-c", file, "-g", "daemon off;"]);
            // The control-plane balancer terminates the Admin API's TLS: its certificate, key and the CA it verifies the nodes with.
            const tlsFiles = scope === "control-plane" ? [MANAGEMENT_TLS_PATHS.nginx.cert, MANAGEMENT_TLS_PATHS.nginx.key, MANAGEMENT_TLS_PATHS.nginx.ca] : [];
            expect(uploads(lb).map((u) => u.file)).toEqual([file, ...tlsFiles]);
            expect(upload(lb, file)).toMatch(/upstream\s+\S+\s*\{/);
        }
        const gwConf = upload(find(run, T.container, "lb-1-gateway-lb"), "/etc/nginx/gateway-lb.conf");
        for (const dp of ["dp-1", "dp-2"]) expect(gwConf).toContain((run.outputs.nodes.value as Record<string, { address: string }>)[dp].address);
        expect(ofType(run, T.image).map((i) => i.inputs.name)).not.toContain(DEFAULT_IMAGES.haproxy);
    });
});

describe("remote Docker hosts (every node over ssh, host networking as in seed 001)", () => {
    const names = ["etcd-1", "etcd-2", "etcd-3", "cp-1", "cp-2", "dp-1", "dp-2", "lb-1"];
    const address = (i: number) => `10.0.0.${21 + i}`;
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ nodes: names.map((name, i) => ({ name, address: address(i), sshUser: "deploy" })), docker: { firewall: { operatorCidrs: ["10.1.0.0/24"] } } }));
    });

    it("each node gets its own docker provider over ssh, and its containers use it with host networking", () => {
        const providers = ofType(run, T.dockerProvider);
        expect(providers.map((p) => p.name).sort()).toEqual(names.map((n) => `gateway-ha-docker-${n}`).sort());
        const dp1 = providers.find((p) => p.name === "gateway-ha-docker-dp-1")!;
        expect(dp1.inputs.host).toBe(`ssh://deploy@${address(5)}:22`);
        const ref = registration(run, T.container, "dp-1-gateway").provider;
        expect(ref).toMatch(/pulumi:providers:docker::gateway-ha-docker-dp-1::gateway-ha-docker-dp-1-id$/);
        const gw = find(run, T.container, "dp-1-gateway");
        expect(gw.inputs.networkMode).toBe("host");
        // Its image is pulled on the remote host, through the same provider.
        const img = ofType(run, T.image).find((i) => i.state.imageId === gw.inputs.image)!;
        expect(registration(run, T.image, img.name).provider).toBe(ref);
    });

    it("no local network or node containers; balancers and outputs use the hosts' addresses", () => {
        expect(nodeContainers(run)).toHaveLength(0);
        expect(ofType(run, T.network)).toHaveLength(0);
        for (const c of ofType(run, T.container)) expect(c.inputs.networkMode, c.name).toBe("host");
        const gwLb = upload(find(run, T.container, "lb-1-gateway-lb"), "/usr/local/etc/haproxy/gateway-lb.cfg");
        expect(gwLb).toContain(`${address(5)}:80`);
        expect(gwLb).toContain(`${address(6)}:80`);
        expect(run.outputs.gatewayUrl.value).toBe(`http://${address(7)}:80`);
        expect(run.outputs.etcdEndpoints.value).toEqual([0, 1, 2].map((i) => `https://${address(i)}:2379`));
    });

    it("each host gets target ssh's firewall from the port matrix, through the deployer's ssh, before its services; its deletion removes it", () => {
        for (const [i, n] of names.entries()) {
            const step = find(run, T.command, `gateway-ha-docker-${n}-host`);
            expect(step.inputs.create).toBe(`ssh -o BatchMode=yes -p 22 'deploy@${address(i)}' 'sudo -n sh -s'`);
            expect(step.inputs.update).toBe(step.inputs.create);
            expect(step.inputs.delete).toMatch(new RegExp(`^ssh -o BatchMode=yes -p 22 'deploy@${address(i).replace(/\./g, "\\.")}' 'sudo -n sh -c `));
            expect(step.inputs.delete).toContain("systemctl disable --now gateway-ha-firewall.service");
            const fw = firewallInstalled(step.inputs.stdin as string);
            expect(fw, n).toBeDefined();
            // The operators' network reaches the control-plane balancer's port, on the balancer's host only.
            expect(fw!.includes("10.1.0.0/24"), n).toBe(n === "lb-1");
            for (const c of ofType(run, T.container).filter((c) => label(c, "gateway-ha.node") === n))
                expect(dependsOn(registration(run, T.container, c.name), T.command, `gateway-ha-docker-${n}-host`), c.name).toBe(true);
        }
        // etcd's client port is open to the control plane and the gateways' hosts, not to the balancer's.
        const etcd1 = firewallInstalled(find(run, T.command, "gateway-ha-docker-etcd-1-host").inputs.stdin as string)!;
        for (const peer of [3, 4, 5, 6]) expect(etcd1).toContain(address(peer));
        expect(etcd1).not.toContain(address(7));
    });

    it("an LVS real server on a remote host: its kernel parameters are the host's, written by a step over ssh, not the container's (host networking refuses net.* sysctls)", async () => {
        const lvsNames = [...names, "lb-2"];
        const lvs = await runPlatform(
            cfg({
                nodes: lvsNames.map((name, i) => ({ name, address: address(i), sshUser: "deploy" })),
                docker: { firewall: { operatorCidrs: ["10.1.0.0/24"] } },
                loadBalancer: {
                    kind: "lvs",
                    keepalived: {
                        interface: "eth0",
                        vips: [
                            { name: "gw", address: "10.0.0.100/24", virtualRouterId: 51, protects: "data-plane" },
                            { name: "cp", address: "10.0.0.101/24", virtualRouterId: 52, protects: "control-plane" },
                        ],
                    },
                },
            }),
        );
        const real = ofType(lvs, T.container).filter((c) => label(c, "gateway-ha.service") === "lvs-realserver");
        expect(real.map((c) => c.name).sort()).toEqual(["cp-1-lvs-realserver", "cp-2-lvs-realserver", "dp-1-lvs-realserver", "dp-2-lvs-realserver"]);
        for (const c of real) {
            expect(c.inputs.sysctls, c.name).toBeUndefined();
            expect(c.inputs.privileged, c.name).toBeUndefined();
            const step = find(lvs, T.command, `${c.name}-sysctls`);
            expect(sysctlsInstalled(step.inputs.stdin as string)).toMatchObject({ "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2" });
            expect(step.inputs.delete).toContain(`rm -f /etc/sysctl.d/90-gateway-ha-${c.name}.conf`);
            expect(dependsOn(registration(lvs, T.container, c.name), T.command, `${c.name}-sysctls`)).toBe(true);
        }
    });
});

/**
 * A secret APISIX reads from its environment: in no container input but its own upload (secret,
 * 0400, owned by the image's user apisix), which the wrapper exports before the image's start.
 */
function expectSecretEnvFile(svc: RecordedResource, name: string, value: string): void {
    expect(value.length).toBeGreaterThan(0);
    expect(JSON.stringify(unwrapSecrets(svc.inputs.envs ?? [])), `${svc.name} env`).not.toContain(value);
    expect(JSON.stringify(svc.inputs.command), `${svc.name} command`).not.toContain(value);
    const file = uploads(svc).find((u) => u.file === `/run/gateway-ha/env/${name}`);
    expect(file, `${svc.name} ${name}`).toMatchObject({ content: value, permissions: "0400", owner: "636", group: "636" });
    expect(label(svc, "gateway-ha.secret-files")!.split(",")).toContain(`/run/gateway-ha/env/${name}`);
    const raw = svc.inputs.uploads;
    const entry = isSecretWrapper(raw) ? undefined : ((raw as unknown[]).find((u) => (unwrapSecrets(u) as { file: string }).file === `/run/gateway-ha/env/${name}`) as { content: unknown } | undefined);
    expect(isSecretWrapper(raw) || isSecretWrapper(entry) || isSecretWrapper(entry?.content), `${svc.name} ${name} secret`).toBe(true);
    const command = svc.inputs.command as string[];
    expect(command.slice(0, 2)).toEqual(["/bin/sh", "-c"]);
    expect(command[2]).toContain(`${name}=$(cat /run/gateway-ha/env/${name})\nexport ${name}\n`);
    expect(command.slice(3)).toEqual(["gateway-ha-env", "/docker-entrypoint.sh", "docker-start"]);
}

describe("validation runs before any resource", () => {
    it("an even etcd member count rejects the program with the validation's message as a RunError and registers nothing", async () => {
        const run = runPlatform(cfg({ etcd: { members: 4 } }));
        const err = await run.then(
            () => undefined,
            (e: unknown) => e,
        );
        // index.ts was loaded on a fresh module graph: RunError is told by its brand, not its class.
        expect((err as { __pulumiRunError?: boolean }).__pulumiRunError).toBe(true);
        expect((err as Error).message).toMatch(/^invalid stack configuration \(1 problem\):\n {2}- gateway-ha:etcd\.members = 4: /);
        // Nothing registered, not even later.
        await new Promise((r) => setTimeout(r, 50));
        const { MockMonitor } = await import("@pulumi/pulumi/runtime/mocks");
        const pulumi = await import("@pulumi/pulumi");
        const monitor = pulumi.runtime.getMonitor();
        expect(monitor).toBeInstanceOf(MockMonitor);
        expect((monitor as unknown as InstanceType<typeof MockMonitor>).getRegisteredResources().size).toBe(0);
    });
});
