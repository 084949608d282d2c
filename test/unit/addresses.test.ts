// Stable node addresses: scaling any role moves no other node, on each generated layout and on the
// docker and aws targets; default-count stacks keep the addresses they always had; stacks deployed
// with other counts get the pins that keep theirs (npm run addresses:pin).
import { describe, expect, it } from "vitest";
import { buildTopology } from "../../components/topology";
import { addressMoves, assignZones, placeRoles } from "../../components/topology/layouts";
import { awsNetworkPlan } from "../../components/topology/network";
import type { PlatformSpec } from "../../components/config/types";
import { dpManagerIdentityConfig, issuesOf, load, withNewerApi7v3 } from "../config";
import { pinAddresses } from "../../scripts/pin-addresses";

const addresses = (values: Record<string, unknown>) => new Map(load(values).topology.nodes.map((n) => [n.name, n.address]));
const zonesOf = (spec: PlatformSpec) => {
    const network = spec.target === "aws" ? awsNetworkPlan(spec) : undefined;
    return network ? { of: assignZones(placeRoles(spec), network.zoneCount), count: network.zoneCount } : undefined;
};

/** API7 v3 with the local S3 server (a storage node after the balancer), in a release that can reach it. */
const localStorage = (cp: number, dp: number) =>
    withNewerApi7v3({
        flavor: "api7-v3",
        controlPlane: { replicas: cp, databaseDsn: "postgres://u:p@db:5432/api7?sslmode=verify-full" },
        dataPlane: { replicas: dp, dpManagerIdentity: dpManagerIdentityConfig() },
        resilience: { mode: "standalone", fallbackStorage: { kind: "local" } },
    });

const TARGETS: Record<string, Record<string, unknown>> = {
    docker: {},
    aws: { target: "aws", aws: { region: "eu-west-1" } },
};
const LAYOUTS = ["standard", "compact"] as const;
const GROWTH: [string, Record<string, unknown>][] = [
    ["etcd 3 -> 5", { etcd: { members: 5 } }],
    ["control plane 2 -> 3", { controlPlane: { replicas: 3 } }],
    ["gateways 2 -> 3", { dataPlane: { replicas: 3 } }],
    ["gateways 2 -> 4", { dataPlane: { replicas: 4 } }],
];

describe("stable node addresses", () => {
    for (const [target, base] of Object.entries(TARGETS))
        for (const layout of LAYOUTS)
            for (const [what, change] of GROWTH) {
                // The compact layout holds exactly 3 etcd members and at most 2 control-plane nodes.
                if (layout === "compact" && !what.startsWith("gateways")) continue;
                it(`${target}, ${layout}: ${what} keeps every existing node's address, and back again`, () => {
                    const before = addresses({ ...base, layout });
                    const after = addresses({ ...base, layout, ...change });
                    expect(issuesOf({ ...base, layout, ...change })).toEqual([]);
                    for (const [name, address] of before) if (after.has(name)) expect(after.get(name), name).toBe(address);
                    expect(after.size).toBeGreaterThan(before.size);
                    expect(new Set(after.values()).size).toBe(after.size);
                    // Scaling back down restores the same map.
                    expect(addresses({ ...base, layout })).toEqual(before);
                });
            }

    it("a node added to another role does not move the balancers, the storage node or the other roles' growth", () => {
        const a = addresses(localStorage(2, 3));
        const b = addresses(localStorage(3, 3));
        for (const n of ["lb-1", "s3-1", "dp-3", "dp-1"]) expect(b.get(n), n).toBe(a.get(n));
    });

    it("default counts keep the consecutive addresses every stack had: nothing to pin, for each balancer kind and target", () => {
        for (const values of [
            {},
            { layout: "compact" },
            { loadBalancer: { kind: "nginx" } },
            { flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://u:p@db:5432/api7?sslmode=verify-full" } },
            localStorage(2, 2),
            TARGETS.aws,
        ]) {
            const { spec } = load(values);
            expect(addressMoves(spec, zonesOf(spec)), JSON.stringify(values)).toEqual([]);
        }
        expect(addresses({})).toEqual(
            new Map([
                ["etcd-1", "172.28.0.11"],
                ["etcd-2", "172.28.0.12"],
                ["etcd-3", "172.28.0.13"],
                ["cp-1", "172.28.0.14"],
                ["cp-2", "172.28.0.15"],
                ["dp-1", "172.28.0.16"],
                ["dp-2", "172.28.0.17"],
                ["lb-1", "172.28.0.18"],
            ]),
        );
    });

    it("a stack deployed with 3 gateways: the pins keep dp-3 and lb-1 where they were, and later growth moves nothing", () => {
        const { spec } = load({ dataPlane: { replicas: 3 } });
        expect(addressMoves(spec)).toEqual([
            { name: "dp-3", before: "172.28.0.18", now: "172.28.0.80" },
            { name: "lb-1", before: "172.28.0.19", now: "172.28.0.18" },
        ]);
        const pinned = [
            { name: "dp-3", address: "172.28.0.18" },
            { name: "lb-1", address: "172.28.0.19" },
        ];
        const kept = addresses({ dataPlane: { replicas: 3 }, nodes: pinned });
        expect(kept.get("dp-3")).toBe("172.28.0.18");
        expect(kept.get("lb-1")).toBe("172.28.0.19");
        const grown = addresses({ dataPlane: { replicas: 4 }, etcd: { members: 5 }, nodes: pinned });
        for (const [name, address] of kept) expect(grown.get(name), name).toBe(address);
    });

    it("addresses:pin prints the pins for the example prod stack (3 gateways on aws) and nothing for dev", () => {
        expect(pinAddresses(["--stack", "dev"])).toBe("stack dev: no node moves; nothing to pin\n");
        const out = pinAddresses(["--stack", "prod"]);
        expect(out).toContain("#   dp-3: 10.42.32.11 (would move to 10.42.32.80)");
        expect(out).toContain("gateway-ha:nodes:\n  - name: dp-3\n    address: 10.42.32.11");
    });

    it("a role's block full: the config is refused naming docker.subnet, not given a clashing address", () => {
        expect(issuesOf({ dataPlane: { replicas: 82 } })).toEqual([]);
        const issues = issuesOf({ dataPlane: { replicas: 83 } });
        expect(issues.map((i) => i.key)).toContain("docker.subnet");
        expect(issues.find((i) => i.key === "docker.subnet")?.rule).toContain("too small to give node dp-83 an address");
    });

    it("ssh and custom layouts keep exactly their configured addresses", () => {
        const topo = buildTopology(
            load({
                layout: "custom",
                nodes: [
                    { name: "a", roles: ["etcd", "control-plane"], address: "172.28.0.50" },
                    { name: "b", roles: ["etcd", "data-plane"] },
                    { name: "c", roles: ["etcd", "load-balancer"] },
                    { name: "d", roles: ["data-plane"] },
                ],
            }).spec,
        );
        expect(topo.nodes.map((n) => n.address)).toEqual(["172.28.0.50", "172.28.0.11", "172.28.0.12", "172.28.0.13"]);
    });
});
