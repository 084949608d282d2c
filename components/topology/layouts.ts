// Placement of roles on nodes for each layout, and address assignment.
import { ROLES, type Role } from "../spec/schema";
import type { PlatformSpec } from "../spec/types";
import { formatIpv4, parseCidr } from "../spec/net";
import { awsNetworkPlan, BALANCER_HOST_OFFSET } from "./network";
import { usesEtcd, usesLocalStorage } from "./ports";

export interface PlacedNode {
    name: string;
    roles: Role[];
}

/** Docker allocates .1 to the bridge; platform nodes start here, balancers after them. */
export const FIRST_HOST_OFFSET = 11;

function numbered(prefix: string, count: number, roles: Role[]): PlacedNode[] {
    return Array.from({ length: count }, (_, i) => ({ name: `${prefix}-${i + 1}`, roles: [...roles] }));
}

/**
 * Balancer nodes the generated layouts add: none for kind keepalived (the VIPs sit on the protected
 * nodes), a director pair for kind lvs, a pair for haproxy/nginx under a VIP, else one.
 */
export function balancerNodeCount(spec: Pick<PlatformSpec, "loadBalancer">): number {
    const { kind, keepalived } = spec.loadBalancer;
    if (kind === "keepalived") return 0;
    return kind === "lvs" || keepalived.vips.some((v) => v.protects === "load-balancer") ? 2 : 1;
}

/**
 * standard: separate etcd, control-plane and data-plane nodes (7 with the defaults), plus balancer nodes.
 * compact:  seed 001's five nodes: etcd + control plane on node-1 and node-2, etcd alone on node-3,
 *           gateways from node-4 on, plus a balancer node.
 * custom:   exactly the configured nodes and roles.
 * api7-v3 keeps its state in PostgreSQL, so its layouts place no etcd role. On aws the balancers
 * are NLBs, so no balancer node; local fallback storage adds a storage node.
 */
export function placeRoles(spec: PlatformSpec): PlacedNode[] {
    const extras = [
        ...(spec.target === "aws" ? [] : numbered("lb", balancerNodeCount(spec), ["load-balancer"])),
        ...(usesLocalStorage(spec) ? numbered("s3", 1, ["storage"]) : []),
    ];
    const etcd = usesEtcd(spec);
    const { members } = spec.etcd;
    const cp = spec.controlPlane.replicas;
    const dp = spec.dataPlane.replicas;
    switch (spec.layout) {
        case "standard":
            return [
                ...(etcd ? numbered("etcd", members, ["etcd"]) : []),
                ...numbered("cp", cp, ["control-plane"]),
                ...numbered("dp", dp, ["data-plane"]),
                ...extras,
            ];
        case "compact": {
            const shared = Math.max(cp, etcd ? members : 0);
            const nodes: PlacedNode[] = [];
            for (let i = 0; i < shared; i++) {
                const roles: Role[] = [];
                if (etcd && i < members) roles.push("etcd");
                if (i < cp) roles.push("control-plane");
                nodes.push({ name: `node-${i + 1}`, roles });
            }
            for (let i = 0; i < dp; i++) nodes.push({ name: `node-${shared + i + 1}`, roles: ["data-plane"] });
            return [...nodes, ...extras];
        }
        case "custom":
            return spec.nodes.map((n) => ({
                name: n.name,
                roles: ROLES.filter((r) => (n.roles ?? []).includes(r)),
            }));
    }
}

/**
 * Zone of each node on aws: a role's members go round the zones in order (etcd-1, -2, -3 in
 * zones 0, 1, 2), so every role spans as many zones as it has members, up to the zone count.
 * A node with several roles follows its first role.
 */
export function assignZones(placed: PlacedNode[], zoneCount: number): Map<string, number> {
    const seen = new Map<Role, number>();
    const out = new Map<string, number>();
    for (const node of placed) {
        const role = node.roles[0];
        const i = seen.get(role) ?? 0;
        seen.set(role, i + 1);
        out.set(node.name, i % zoneCount);
    }
    return out;
}

/**
 * Explicit addresses win; the rest get consecutive host addresses, skipping any taken
 * explicitly: from the docker subnet, or on aws from the private subnet of the node's zone.
 */
export function assignAddresses(spec: PlatformSpec, placed: PlacedNode[], zones?: Map<string, number>): Map<string, string | undefined> {
    const explicit = new Map(spec.nodes.filter((n) => n.address).map((n) => [n.name, n.address as string]));
    const taken = new Set(explicit.values());
    const subnets = spec.target === "aws" ? awsNetworkPlan(spec).privateSubnets.map(parseCidr) : [parseCidr(spec.docker.subnet)];
    const next = subnets.map((s) => (s ? s.network + (spec.target === "aws" ? BALANCER_HOST_OFFSET + 1 : FIRST_HOST_OFFSET) : 0));
    const out = new Map<string, string | undefined>();
    for (const node of placed) {
        const fixed = explicit.get(node.name);
        if (fixed) {
            out.set(node.name, fixed);
            continue;
        }
        const z = zones?.get(node.name) ?? 0;
        if (!subnets[z]) {
            out.set(node.name, undefined);
            continue;
        }
        while (taken.has(formatIpv4(next[z]))) next[z]++;
        out.set(node.name, formatIpv4(next[z]));
        taken.add(formatIpv4(next[z]++));
    }
    return out;
}
