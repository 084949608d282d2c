// Placement of roles on nodes for each layout, and address assignment.
import { ROLES, type Role } from "../config/schema";
import type { PlatformSpec } from "../config/types";
import { formatIpv4, parseCidr } from "../config/net";
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

/** The base of a generated layout: its nodes at the default counts (3 members, 2 control-plane nodes, 2 gateways). */
export function basePlacement(spec: PlatformSpec): PlacedNode[] {
    return placeRoles({
        ...spec,
        etcd: { ...spec.etcd, members: 3 },
        controlPlane: { ...spec.controlPlane, replicas: 2 },
        dataPlane: { ...spec.dataPlane, replicas: 2 },
    });
}

/**
 * Where a generated layout's nodes beyond its base go: a block of host addresses per role (offsets
 * from the first base address), so scaling one role moves no other node.
 */
export const GROWTH_BLOCKS: Record<Role, { start: number; size: number }> = {
    etcd: { start: 29, size: 20 },
    "control-plane": { start: 49, size: 20 },
    "data-plane": { start: 69, size: 80 },
    "load-balancer": { start: 149, size: 10 },
    storage: { start: 159, size: 10 },
};

/**
 * Addresses by node identity. Explicit addresses (`nodes[].address`) win. In the generated layouts
 * a node of the base layout keeps the address consecutive assignment gives it there (what every
 * stack got before addresses were stable, so a default-count stack moves nothing), and a node
 * beyond the base gets the next free address of its role's block (in its zone's subnet on aws). A
 * custom layout takes consecutive addresses in `nodes` order: append new nodes, or pin them.
 * undefined: the subnet has no room.
 */
export function assignAddresses(spec: PlatformSpec, placed: PlacedNode[], zones?: { of: Map<string, number>; count: number }): Map<string, string | undefined> {
    if (spec.layout === "custom") return consecutiveAddresses(spec, placed, zones?.of);
    const base = basePlacement(spec);
    const baseZones = zones ? assignZones(base, zones.count) : undefined;
    const baseAddresses = consecutiveAddresses(spec, base, baseZones);
    const { subnets, first } = addressPlan(spec);
    const taken = new Set([...spec.nodes.flatMap((n) => (n.address ? [n.address] : [])), ...[...baseAddresses.values()].filter((a): a is string => !!a)]);
    const out = new Map<string, string | undefined>();
    const grown = new Map<string, number>();
    for (const node of placed) {
        const explicit = spec.nodes.find((n) => n.name === node.name)?.address;
        const z = zones?.of.get(node.name) ?? 0;
        if (explicit) out.set(node.name, explicit);
        else if (baseAddresses.has(node.name) && (baseZones?.get(node.name) ?? 0) === z) out.set(node.name, baseAddresses.get(node.name));
        else {
            const role = node.roles[0];
            const block = GROWTH_BLOCKS[role];
            const subnet = subnets[z];
            let address: string | undefined;
            for (let k = grown.get(`${role}|${z}`) ?? 0; subnet && k < block.size; k++) {
                const host = first + block.start + k;
                if (host >= 2 ** (32 - subnet.prefix) - 1) break;
                const a = formatIpv4(subnet.network + host);
                grown.set(`${role}|${z}`, k + 1);
                if (!taken.has(a)) {
                    address = a;
                    break;
                }
            }
            if (address) taken.add(address);
            out.set(node.name, address);
        }
    }
    return out;
}

function addressPlan(spec: PlatformSpec) {
    const subnets = spec.target === "aws" ? awsNetworkPlan(spec).privateSubnets.map(parseCidr) : [parseCidr(spec.docker.subnet)];
    return { subnets, first: spec.target === "aws" ? BALANCER_HOST_OFFSET + 1 : FIRST_HOST_OFFSET };
}

/**
 * Explicit addresses win; the rest get consecutive host addresses in placement order, skipping any
 * taken explicitly: from the docker subnet, or on aws from the private subnet of the node's zone.
 * Stable only while nothing before a node changes: the custom layout's rule, and the base layout's.
 */
export function consecutiveAddresses(spec: PlatformSpec, placed: PlacedNode[], zones?: Map<string, number>): Map<string, string | undefined> {
    const explicit = new Map(spec.nodes.filter((n) => n.address).map((n) => [n.name, n.address as string]));
    const taken = new Set(explicit.values());
    const { subnets, first } = addressPlan(spec);
    const next = subnets.map((s) => (s ? s.network + first : 0));
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

/**
 * Nodes whose address the stable rule gives differently from the consecutive one every stack had
 * before (a stack deployed with other than the base counts): pin them with `nodes[].address` before
 * the next `up`, or they are replaced onto their new address.
 */
export function addressMoves(spec: PlatformSpec, zones?: { of: Map<string, number>; count: number }): { name: string; before?: string; now?: string }[] {
    const placed = placeRoles(spec);
    const before = consecutiveAddresses(spec, placed, zones?.of);
    const now = assignAddresses(spec, placed, zones);
    return placed.filter((n) => before.get(n.name) !== now.get(n.name)).map((n) => ({ name: n.name, before: before.get(n.name), now: now.get(n.name) }));
}
