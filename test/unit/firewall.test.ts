// Firewall rules from the port matrix (pure), and the one validation rule the AWS target adds.
import { describe, expect, it } from "vitest";
import { ConfigValidationError, loadPlatform, type ConfigIssue } from "../../components/config";
import { firewallRules, type FirewallSources } from "../../components/topology/firewall";
import type { Flow } from "../../components/topology";

const NONE: FirewallSources = { clients: [], operators: [], monitoring: [], ssh: [] };
const flow = (from: Flow["from"], to: Flow["to"], port: number, purpose: string, balancer?: Flow["balancer"]): Flow => ({ from, to, port, protocol: "tcp", purpose, ...(balancer ? { balancer } : {}) });

describe("firewallRules", () => {
    it("turns role-to-role flows into group rules and balancer flows into balancer groups", () => {
        const rules = firewallRules(
            [
                flow("etcd", "etcd", 2380, "Raft"),
                flow("load-balancer", "data-plane", 7085, "health checks", "gateway"),
                flow("data-plane", "load-balancer", 17900, "DP Manager", "control-plane"),
            ],
            NONE,
        );
        expect(rules).toEqual([
            { group: "etcd", port: 2380, protocol: "tcp", from: { group: "etcd" }, description: "Raft" },
            { group: "data-plane", port: 7085, protocol: "tcp", from: { group: "gateway-balancer" }, description: "health checks" },
            { group: "control-plane-balancer", port: 17900, protocol: "tcp", from: { group: "data-plane" }, description: "DP Manager" },
        ]);
    });

    it("flows from outside become one rule per network, and none without networks", () => {
        const flows = [flow("clients", "load-balancer", 80, "client HTTP", "gateway"), flow("monitoring", "data-plane", 9091, "scrape")];
        expect(firewallRules(flows, { ...NONE, clients: ["0.0.0.0/0", "10.0.0.0/8"] })).toEqual([
            { group: "gateway-balancer", port: 80, protocol: "tcp", from: { cidr: "0.0.0.0/0" }, description: "client HTTP" },
            { group: "gateway-balancer", port: 80, protocol: "tcp", from: { cidr: "10.0.0.0/8" }, description: "client HTTP" },
        ]);
        expect(firewallRules(flows, { ...NONE, monitoring: ["10.9.0.0/16"] }).map((r) => [r.group, r.port, r.from])).toEqual([["data-plane", 9091, { cidr: "10.9.0.0/16" }]]);
    });

    it("flows that land on the same rule share it, their purposes joined once", () => {
        const rules = firewallRules([flow("etcd", "etcd", 2379, "health"), flow("etcd", "etcd", 2379, "bootstrap"), flow("etcd", "etcd", 2379, "health")], NONE);
        expect(rules).toEqual([{ group: "etcd", port: 2379, protocol: "tcp", from: { group: "etcd" }, description: "health; bootstrap" }]);
    });

    it("SSH opens port 22 on every node group, never on a balancer", () => {
        const rules = firewallRules([flow("etcd", "etcd", 2380, "Raft"), flow("clients", "load-balancer", 80, "client HTTP", "gateway"), flow("load-balancer", "data-plane", 80, "to gateways", "gateway")], {
            ...NONE,
            ssh: ["192.0.2.0/24"],
        });
        expect(rules.filter((r) => r.port === 22).map((r) => r.group)).toEqual(["etcd", "data-plane"]);
    });

    it("refuses a balancer flow that names no balancer", () => {
        expect(() => firewallRules([flow("clients", "load-balancer", 80, "client HTTP")], { ...NONE, clients: ["0.0.0.0/0"] })).toThrow(/names none/);
    });
});

describe("target aws: one IAM role per node", () => {
    const issues = (nodes: unknown[]): ConfigIssue[] => {
        try {
            loadPlatform({ "gateway-ha:target": "aws", "gateway-ha:aws": JSON.stringify({ region: "eu-west-1" }), "gateway-ha:layout": "custom", "gateway-ha:nodes": JSON.stringify(nodes) }, { project: "gateway-ha", stack: "t" });
        } catch (e) {
            if (e instanceof ConfigValidationError) return e.issues;
            throw e;
        }
        return [];
    };
    const base = [
        { name: "e1", roles: ["etcd"] },
        { name: "e2", roles: ["etcd"] },
        { name: "e3", roles: ["etcd"] },
        { name: "c1", roles: ["control-plane"] },
        { name: "d1", roles: ["data-plane"] },
    ];

    it("rejects control plane and gateway on one node, naming the node's roles", () => {
        const found = issues([...base, { name: "d2", roles: ["control-plane", "data-plane"] }]);
        expect(found).toContainEqual(expect.objectContaining({ key: "nodes[5].roles", value: ["control-plane", "data-plane"], rule: expect.stringMatching(/one IAM role/) }));
    });

    it("accepts them on separate nodes", () => {
        expect(issues([...base, { name: "d2", roles: ["data-plane"] }])).toEqual([]);
    });
});
