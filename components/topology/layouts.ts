// Placement of roles on nodes for each layout, and address assignment.
import { ROLES, type Role } from "../spec/schema";
import type { PlatformSpec } from "../spec/types";
import { formatIpv4, parseCidr } from "../spec/net";
import { usesEtcd } from "./ports";

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
 * standard: separate etcd, control-plane and data-plane nodes (7 with the defaults), plus a balancer node.
 * compact:  seed 001's five nodes: etcd + control plane on node-1 and node-2, etcd alone on node-3,
 *           gateways from node-4 on, plus a balancer node.
 * custom:   exactly the configured nodes and roles.
 * api7-v3 keeps its state in PostgreSQL, so its layouts place no etcd role.
 */
export function placeRoles(spec: PlatformSpec): PlacedNode[] {
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
                ...numbered("lb", 1, ["load-balancer"]),
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
            return [...nodes, ...numbered("lb", 1, ["load-balancer"])];
        }
        case "custom":
            return spec.nodes.map((n) => ({
                name: n.name,
                roles: ROLES.filter((r) => (n.roles ?? []).includes(r)),
            }));
    }
}

/**
 * Explicit addresses win; the rest get consecutive host addresses from the docker subnet,
 * skipping any that are taken explicitly.
 */
export function assignAddresses(spec: PlatformSpec, placed: PlacedNode[]): Map<string, string | undefined> {
    const explicit = new Map(spec.nodes.filter((n) => n.address).map((n) => [n.name, n.address as string]));
    const taken = new Set(explicit.values());
    const subnet = parseCidr(spec.docker.subnet);
    const out = new Map<string, string | undefined>();
    let next = subnet ? subnet.network + FIRST_HOST_OFFSET : 0;
    for (const node of placed) {
        const fixed = explicit.get(node.name);
        if (fixed) {
            out.set(node.name, fixed);
            continue;
        }
        if (!subnet) {
            out.set(node.name, undefined);
            continue;
        }
        while (taken.has(formatIpv4(next))) next++;
        out.set(node.name, formatIpv4(next));
        taken.add(formatIpv4(next++));
    }
    return out;
}
