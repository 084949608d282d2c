// loadBalancer.keepalived: defaults, topology (balancer nodes, VIP nodes, VRRP flows, entry
// addresses) and every validation rule, each named by key, value and rule before any resource.
import { describe, expect, it } from "vitest";
import { CTX as ctx, cfg, issuesOf } from "../config";
import {
    ConfigValidationError,
    checkKeepalived,
    defaultPriorities,
    formatIssue,
    loadPlatform,
    parseVipAddress,
    platformConfigSchema,
    type ConfigIssue,
} from "../../components/config";
import { firewallRules } from "../../components/topology/firewall";



const GW = { name: "gw", address: "172.28.0.100", virtualRouterId: 51, protects: "data-plane" };
const CP = { name: "cp", address: "172.28.0.101", virtualRouterId: 52, protects: "control-plane" };
const ka = (keepalived: Record<string, unknown>, kind = "keepalived", extra: Record<string, unknown> = {}) => ({ loadBalancer: { kind, keepalived }, ...extra });
const hasIssue = (issues: ConfigIssue[], key: string, rule: RegExp) =>
    expect(issues.some((i) => i.key === key && rule.test(i.rule)), `${key} ~ ${rule} in\n${issues.map(formatIssue).join("\n")}`).toBe(true);

/** Remote Docker hosts' firewall sources (required with them). */
const HOST_FIREWALL = { firewall: { operatorCidrs: ["192.168.100.0/24"] } };

/** Hosts: remote Docker hosts with addresses, a custom layout. */
function hostNodes(extra: { name: string; address: string; roles: string[] }[] = []) {
    return [
        ...[1, 2, 3].map((i) => ({ name: `etcd-${i}`, address: `192.168.101.${10 + i}`, roles: ["etcd"] })),
        ...[1, 2].map((i) => ({ name: `cp-${i}`, address: `192.168.101.${20 + i}`, roles: ["control-plane"] })),
        ...[1, 2].map((i) => ({ name: `gw-${i}`, address: `192.168.101.${30 + i}`, roles: ["data-plane"] })),
        ...extra,
    ].map((n) => ({ ...n, sshUser: "ops" }));
}

describe("defaults and topology", () => {
    it("priorities: master 50 above the first backup, all different", () => {
        expect(defaultPriorities(2)).toEqual([150, 100]);
        expect(defaultPriorities(4)).toEqual([150, 100, 99, 98]);
    });

    it("parses VIP addresses with and without a prefix", () => {
        expect(parseVipAddress("10.0.0.5")).toEqual({ address: "10.0.0.5" });
        expect(parseVipAddress("10.0.0.5/24")).toEqual({ address: "10.0.0.5", prefix: 24 });
        expect(parseVipAddress("10.0.0.5/33")).toBeUndefined();
        expect(parseVipAddress("10.0.0/24")).toBeUndefined();
    });

    it("schema defaults: eth0, advert_int 1, multicast, keepalived_script, check 2/2/2/1, no VIPs", () => {
        const parsed = platformConfigSchema.parse({}).loadBalancer.keepalived;
        expect(parsed).toEqual({ interface: "eth0", advertInt: 1, nopreempt: false, unicast: false, scriptUser: "keepalived_script", check: { interval: 2, fall: 2, rise: 2, timeout: 1 }, vips: [] });
        const { spec, topology } = loadPlatform({}, ctx);
        expect(spec.loadBalancer.keepalived.vips).toEqual([]);
        expect(topology.vips).toEqual([]);
        expect(topology.flows.some((f) => f.protocol === "vrrp")).toBe(false);
    });

    it("kind keepalived: no balancer node, VIPs on the protected nodes, the control-plane VIP is the balancer address", () => {
        const { spec, topology } = loadPlatform(cfg(ka({ vips: [GW, CP] })), ctx);
        expect(topology.byRole["load-balancer"]).toEqual([]);
        expect(topology.nodes).toHaveLength(7);
        expect(topology.balancerAddresses).toEqual(["172.28.0.101"]);
        expect(spec.loadBalancer.image).toBe(spec.loadBalancer.keepalived.image);
        expect(spec.loadBalancer.keepalived.image).toMatch(/keepalived:\d/);
        expect(spec.loadBalancer.keepalived.vips[0]).toMatchObject({ initialState: "MASTER", hasAuthPass: false });
        expect(topology.vips[0]).toMatchObject({ prefix: 24, segment: "172.28.0.0/24", master: "dp-1", check: { type: "http", port: 7085, path: "/status/ready" } });
        expect(topology.vips[1].check).toEqual({ type: "port", ports: [9180] });
        // Clients reach the gateways, operators the control plane, straight.
        expect(topology.flows).toEqual(expect.arrayContaining([expect.objectContaining({ from: "clients", to: "data-plane", port: 80 }), expect.objectContaining({ from: "operators", to: "control-plane", port: 9180 })]));
        expect(topology.flows.some((f) => f.to === "load-balancer" || f.from === "load-balancer")).toBe(false);
    });

    it("VRRP between a VIP's nodes is in the port matrix (IP protocol 112, port 0) and becomes firewall rules", () => {
        const { topology } = loadPlatform(cfg(ka({ vips: [GW, CP] })), ctx);
        const vrrp = topology.flows.filter((f) => f.protocol === "vrrp");
        expect(vrrp.map((f) => [f.from, f.to, f.port])).toEqual([
            ["data-plane", "data-plane", 0],
            ["control-plane", "control-plane", 0],
        ]);
        const rules = firewallRules(topology.flows, { clients: ["0.0.0.0/0"], operators: ["10.0.0.0/8"], monitoring: [], ssh: [] });
        expect(rules).toEqual(expect.arrayContaining([expect.objectContaining({ group: "data-plane", protocol: "vrrp", port: 0, from: { group: "data-plane" } })]));
    });

    it("kind lvs: two directors hold the VIPs; DR real servers answer clients; TUN adds IP-in-IP", () => {
        const { topology } = loadPlatform(cfg(ka({ vips: [GW, { ...CP, lvs: { lbKind: "TUN" } }] }, "lvs")), ctx);
        expect(topology.byRole["load-balancer"].map((n) => n.name)).toEqual(["lb-1", "lb-2"]);
        expect(topology.vips.map((v) => v.nodes.map((n) => n.name))).toEqual([
            ["lb-1", "lb-2"],
            ["lb-1", "lb-2"],
        ]);
        expect(topology.vips[0].lvs).toMatchObject({ lbAlgo: "wlc", lbKind: "DR", persistenceTimeout: 0, checker: "TCP_CHECK", ports: [80, 443] });
        expect(topology.balancerAddresses).toEqual(["172.28.0.101"]);
        expect(topology.flows).toEqual(
            expect.arrayContaining([
                expect.objectContaining({ from: "clients", to: "data-plane", port: 80 }),
                expect.objectContaining({ from: "load-balancer", to: "load-balancer", protocol: "vrrp", balancer: "gateway" }),
                expect.objectContaining({ from: "load-balancer", to: "control-plane", protocol: "ipip" }),
            ]),
        );
    });

    it("haproxy with a VIP over the balancer pair: two balancer nodes, checks on every balancer port", () => {
        const { topology } = loadPlatform(cfg(ka({ vips: [{ name: "edge", address: "172.28.0.120", virtualRouterId: 9, protects: "load-balancer" }] }, "haproxy")), ctx);
        expect(topology.byRole["load-balancer"].map((n) => n.name)).toEqual(["lb-1", "lb-2"]);
        expect(topology.vips[0].check).toEqual({ type: "port", ports: [80, 443, 9180] });
        expect(topology.balancerAddresses).toEqual(topology.byRole["load-balancer"].map((n) => n.address));
    });

    it("nopreempt and preemptDelay start every node BACKUP", () => {
        const state = (k: Record<string, unknown>) => loadPlatform(cfg(ka({ vips: [GW, CP], ...k })), ctx).topology.vips[0].initialState;
        expect(state({})).toBe("MASTER");
        expect(state({ nopreempt: true })).toBe("BACKUP");
        expect(state({ preemptDelay: 10 })).toBe("BACKUP");
    });

    it("a configured auth secret stays out of the spec and travels in the secrets", () => {
        const { spec, secrets } = loadPlatform(cfg(ka({ vips: [{ ...GW, authPass: "s3cr3t!x".replace("!", "_") }, CP] })), ctx);
        expect(JSON.stringify(spec)).not.toContain("s3cr3t_x");
        expect(spec.loadBalancer.keepalived.vips[0].hasAuthPass).toBe(true);
        expect(secrets.vipAuthPass).toEqual({ gw: "s3cr3t_x" });
    });
});

describe("validation, before any resource", () => {
    it("an unknown kind lists keepalived and lvs", () => {
        hasIssue(issuesOf({ loadBalancer: { kind: "vrrp" } }), "loadBalancer.kind", /nginx, haproxy, keepalived, lvs/);
    });

    it("kinds without a proxy need a data-plane and a control-plane VIP", () => {
        const issues = issuesOf(ka({ vips: [GW] }));
        hasIssue(issues, "loadBalancer.keepalived.vips", /one VIP must protect control-plane/);
        hasIssue(issuesOf(ka({ vips: [] }, "lvs")), "loadBalancer.keepalived.vips", /one VIP must protect data-plane/);
    });

    it("a VRRP priority of 300, 0, or 255 without being the address owner", () => {
        const issues = issuesOf(ka({ vips: [{ ...GW, priorities: { "dp-1": 300, "dp-2": 0 } }, { ...CP, priorities: { "cp-1": 255, "cp-2": 100 } }] }));
        hasIssue(issues, "loadBalancer.keepalived.vips[0].priorities.dp-1", /must be 1–254/);
        hasIssue(issues, "loadBalancer.keepalived.vips[0].priorities.dp-2", /must be 1–254/);
        hasIssue(issues, "loadBalancer.keepalived.vips[1].priorities.cp-1", /address owner/);
        expect(issuesOf(ka({ vips: [GW, { ...CP, addressOwner: "cp-1", priorities: { "cp-1": 255, "cp-2": 100 } }] }))).toEqual([]);
    });

    it("equal priorities", () => {
        hasIssue(issuesOf(ka({ vips: [{ ...GW, priorities: { "dp-1": 120, "dp-2": 120 } }, CP] })), "loadBalancer.keepalived.vips[0].priorities.dp-2", /equal to the priority of node dp-1/);
    });

    it("virtual_router_id outside 1–255, or reused on one segment", () => {
        hasIssue(issuesOf(ka({ vips: [{ ...GW, virtualRouterId: 0 }, CP] })), "loadBalancer.keepalived.vips[0].virtualRouterId", /1–255/);
        hasIssue(issuesOf(ka({ vips: [GW, { ...CP, virtualRouterId: 256 }] })), "loadBalancer.keepalived.vips[1].virtualRouterId", /1–255/);
        hasIssue(issuesOf(ka({ vips: [GW, { ...CP, virtualRouterId: 51 }] })), "loadBalancer.keepalived.vips[1].virtualRouterId", /already used by VIP gw .* segment 172\.28\.0\.0\/24/);
        // On hosts, two segments may reuse an id.
        const nodes = hostNodes();
        const vips = [
            { ...GW, address: "192.168.101.100/24" },
            { ...CP, address: "192.168.101.101/24" },
        ];
        expect(issuesOf({ docker: HOST_FIREWALL, layout: "custom", nodes, ...ka({ vips }) })).toEqual([]);
        hasIssue(issuesOf({ docker: HOST_FIREWALL, layout: "custom", nodes, ...ka({ vips: [vips[0], { ...vips[1], virtualRouterId: 51 }] }) }), "loadBalancer.keepalived.vips[1].virtualRouterId", /already used/);
    });

    it("an auth secret longer than 8 characters (never echoed)", () => {
        const issues = issuesOf(ka({ vips: [{ ...GW, authPass: "elevenchars" }, CP] }));
        hasIssue(issues, "loadBalancer.keepalived.vips[0].authPass", /longer than 8 characters/);
        const message = new ConfigValidationError(issues).message;
        expect(message).not.toContain("elevenchars");
        expect(message).toContain("vips[0].authPass = [secret]");
        hasIssue(issuesOf(ka({ vips: [{ ...GW, authPass: "a b" }, CP] })), "loadBalancer.keepalived.vips[0].authPass", /no spaces/);
    });

    it("nopreempt or preemptDelay with initial state MASTER", () => {
        hasIssue(issuesOf(ka({ nopreempt: true, vips: [{ ...GW, initialState: "MASTER" }, CP] })), "loadBalancer.keepalived.vips[0].initialState", /nopreempt needs initial state BACKUP/);
        hasIssue(issuesOf(ka({ preemptDelay: 5, vips: [{ ...GW, initialState: "MASTER" }, CP] })), "loadBalancer.keepalived.vips[0].initialState", /preemptDelay needs initial state BACKUP/);
        hasIssue(issuesOf(ka({ vips: [{ ...GW, initialState: "LEADER" }, CP] })), "loadBalancer.keepalived.vips[0].initialState", /MASTER, BACKUP/);
        hasIssue(issuesOf(ka({ nopreempt: true, preemptDelay: 5, vips: [GW, CP] })), "loadBalancer.keepalived.preemptDelay", /no effect/);
    });

    it("a VIP outside the interface's subnet: docker.subnet on local nodes; its own prefix, containing the nodes, on hosts", () => {
        hasIssue(issuesOf(ka({ vips: [{ ...GW, address: "10.9.0.5" }, CP] })), "loadBalancer.keepalived.vips[0].address", /inside docker\.subnet 172\.28\.0\.0\/24/);
        hasIssue(issuesOf(ka({ vips: [{ ...GW, address: "172.28.0.100/16" }, CP] })), "loadBalancer.keepalived.vips[0].address", /prefix must be \/24/);
        hasIssue(issuesOf(ka({ vips: [{ ...GW, address: "172.28.0.255" }, CP] })), "loadBalancer.keepalived.vips[0].address", /host address/);
        const nodes = hostNodes();
        hasIssue(issuesOf({ docker: HOST_FIREWALL, layout: "custom", nodes, ...ka({ vips: [{ ...GW, address: "192.168.101.100" }, { ...CP, address: "192.168.101.101/24" }] }) }), "loadBalancer.keepalived.vips[0].address", /needs the prefix/);
        hasIssue(
            issuesOf({ docker: HOST_FIREWALL, layout: "custom", nodes, ...ka({ vips: [{ ...GW, address: "192.168.102.100/24" }, { ...CP, address: "192.168.101.101/24" }] }) }),
            "loadBalancer.keepalived.vips[0].address",
            /node gw-1 \(192\.168\.101\.31\) is not in the VIP's subnet 192\.168\.102\.0\/24/,
        );
    });

    it("a VIP that is a node's address, or another VIP's", () => {
        hasIssue(issuesOf(ka({ vips: [{ ...GW, address: "172.28.0.16" }, CP] })), "loadBalancer.keepalived.vips[0].address", /node dp-1's own address/);
        hasIssue(issuesOf(ka({ vips: [GW, { ...CP, address: "172.28.0.100" }] })), "loadBalancer.keepalived.vips[1].address", /already the address of VIP gw/);
    });

    it("VIP nodes that are not nodes, fewer than two nodes, priorities for other nodes", () => {
        const issues = issuesOf(ka({ vips: [{ ...GW, nodes: ["dp-1", "dp-9"], priorities: { "cp-1": 10 } }, CP] }));
        hasIssue(issues, "loadBalancer.keepalived.vips[0].nodes[1]", /not a node of the topology/);
        hasIssue(issues, "loadBalancer.keepalived.vips[0].nodes", /two nodes at least; it has 1/);
        hasIssue(issues, "loadBalancer.keepalived.vips[0].priorities.cp-1", /not one of the VIP's nodes/);
    });

    it("an unknown lb_algo, lb_kind or checker; lvs settings off kind lvs", () => {
        const issues = issuesOf(ka({ vips: [{ ...GW, lvs: { lbAlgo: "random", lbKind: "BRIDGE", checker: "PING" } }, CP] }, "lvs"));
        hasIssue(issues, "loadBalancer.keepalived.vips[0].lvs.lbAlgo", /rr, wrr, lc, wlc, sh, dh, lblc/);
        hasIssue(issues, "loadBalancer.keepalived.vips[0].lvs.lbKind", /NAT, DR, TUN/);
        hasIssue(issues, "loadBalancer.keepalived.vips[0].lvs.checker", /TCP_CHECK, HTTP_GET/);
        hasIssue(issuesOf(ka({ vips: [{ ...GW, lvs: {} }, CP] })), "loadBalancer.keepalived.vips[0].lvs", /kind lvs/);
        hasIssue(issuesOf(ka({ vips: [GW, { ...CP, lvs: { checker: "HTTP_GET" } }] }, "lvs")), "loadBalancer.keepalived.vips[1].lvs.checker", /only for VIPs protecting data-plane/);
    });

    it("a real server that is not a node, a director as its own real server, weights for other nodes", () => {
        const issues = issuesOf(ka({ vips: [{ ...GW, lvs: { realServers: ["dp-1", "web-9", "lb-1"], weights: { "cp-1": 2 } } }, CP] }, "lvs"));
        hasIssue(issues, "loadBalancer.keepalived.vips[0].lvs.realServers[1]", /not a node of the topology/);
        hasIssue(issues, "loadBalancer.keepalived.vips[0].lvs.realServers", /director of this VIP/);
        hasIssue(issues, "loadBalancer.keepalived.vips[0].lvs.weights.cp-1", /not one of the VIP's real servers/);
    });

    it("NAT: refused on local Docker nodes; on hosts the real servers must be on the VIP's segment, behind one NAT VIP", () => {
        hasIssue(issuesOf(ka({ vips: [{ ...GW, lvs: { lbKind: "NAT" } }, CP] }, "lvs")), "loadBalancer.keepalived.vips[0].lvs.lbKind", /use DR/);
        const dirs = [1, 2].map((i) => ({ name: `dir-${i}`, address: `192.168.101.${40 + i}`, roles: ["load-balancer"] }));
        const far = hostNodes(dirs).map((n) => (n.name === "gw-2" ? { ...n, address: "10.1.0.32" } : n));
        const vips = [
            { ...GW, address: "192.168.101.100/24", lvs: { lbKind: "NAT" } },
            { ...CP, address: "192.168.101.101/24", lvs: { lbKind: "NAT" } },
        ];
        hasIssue(issuesOf({ docker: HOST_FIREWALL, layout: "custom", nodes: far, ...ka({ vips }, "lvs") }), "loadBalancer.keepalived.vips[0].lvs.realServers", /gw-2 \(10\.1\.0\.32\) is outside the VIP's subnet .*their default route goes via the VIP/);
        expect(issuesOf({ docker: HOST_FIREWALL, layout: "custom", nodes: far, ...ka({ vips: vips.map((v) => ({ ...v, lvs: { lbKind: "TUN" } })) }, "lvs") })).toEqual([]);
        const shared = [vips[0], { ...vips[1], lvs: { lbKind: "NAT", realServers: ["gw-1"] } }];
        hasIssue(issuesOf({ docker: HOST_FIREWALL, layout: "custom", nodes: hostNodes(dirs), ...ka({ vips: shared }, "lvs") }), "loadBalancer.keepalived.vips", /gw-1 is behind two NAT VIPs/);
    });

    it("check types: unknown, fields of another type, process checks on local Docker nodes; no checks on LVS directors", () => {
        hasIssue(issuesOf(ka({ vips: [{ ...GW, check: { type: "ping" } }, CP] })), "loadBalancer.keepalived.vips[0].check.type", /http, port, process/);
        hasIssue(issuesOf(ka({ vips: [{ ...GW, check: { type: "port", path: "/x" } }, CP] })), "loadBalancer.keepalived.vips[0].check.path", /not used by check type port/);
        hasIssue(issuesOf(ka({ vips: [{ ...GW, check: { type: "process", process: "nginx" } }, CP] })), "loadBalancer.keepalived.vips[0].check.type", /cannot see the protected service's processes/);
        hasIssue(issuesOf(ka({ vips: [{ ...GW, check: { type: "http" } }, CP] }, "lvs")), "loadBalancer.keepalived.vips[0].check", /LVS directors/);
        hasIssue(issuesOf(ka({ check: { interval: 1, timeout: 3 }, vips: [GW, CP] })), "loadBalancer.keepalived.check.timeout", /must not exceed/);
    });

    it("shape rules: advertInt whole seconds ≥ 1, an interface name, a VIP name", () => {
        hasIssue(issuesOf(ka({ advertInt: 0.5, vips: [GW, CP] })), "loadBalancer.keepalived.advertInt", /./);
        hasIssue(issuesOf(ka({ interface: "a-very-long-interface-name", vips: [GW, CP] })), "loadBalancer.keepalived.interface", /interface name/);
        hasIssue(issuesOf(ka({ vips: [{ ...GW, name: "Gateway VIP" }, CP] })), "loadBalancer.keepalived.vips[0].name", /lowercase/);
    });

    it("VIPs on target aws, and protects load-balancer without a balancer pair", () => {
        hasIssue(issuesOf({ target: "aws", aws: { region: "eu-west-1" }, loadBalancer: { keepalived: { vips: [GW] } } }), "loadBalancer.keepalived.vips", /VPCs carry no VRRP/);
        hasIssue(issuesOf(ka({ vips: [GW, CP, { name: "edge", address: "172.28.0.120", virtualRouterId: 9, protects: "load-balancer" }] })), "loadBalancer.keepalived.vips[2].protects", /no balancer nodes/);
    });

    it("checkKeepalived is pure and reports nothing for a valid config", () => {
        const parsed = platformConfigSchema.parse(ka({ vips: [GW, CP] }));
        expect(checkKeepalived(parsed)).toEqual([]);
    });
});
