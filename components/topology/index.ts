// Pure topology: roles placed on nodes, each node's listening ports, the flows between
// roles, and the quorum / conflict checks on the result.
import { ROLES, type Role } from "../config/schema";
import type { ConfigIssue } from "../config/issues";
import type { PlatformSpec } from "../config/types";
import { cidrContains, isHostAddress, parseCidr, parseIpv4 } from "../config/net";
import { assignAddresses, assignZones, placeRoles } from "./layouts";
import { awsNetworkPlan, BALANCER_HOST_OFFSET } from "./network";
import { flows, roleBindings, usesEtcd, vrrpFlows } from "./ports";
import type { Flow, PortBinding, Topology, TopologyNode } from "./types";
import { resolveVips } from "./vips";

export * from "./types";
export { controlPlanePorts, controlPlaneUrl, flows, roleBindings, usesEtcd } from "./ports";
export { placeRoles, FIRST_HOST_OFFSET } from "./layouts";
export { awsNetworkPlan, type AwsNetworkPlan } from "./network";
export { usesLocalStorage, vrrpFlows } from "./ports";
export { resolveVips, vipPorts } from "./vips";

export const DEFAULT_NODE_SIZE = { cpus: 2, memoryGb: 4 }; // seed 001: 2C4G per node

export function buildTopology(spec: PlatformSpec): Topology {
    const placed = placeRoles(spec);
    const network = spec.target === "aws" ? awsNetworkPlan(spec) : undefined;
    const zones = network ? assignZones(placed, network.zoneCount) : undefined;
    const addresses = assignAddresses(spec, placed, zones && network ? { of: zones, count: network.zoneCount } : undefined);
    const overrides = new Map(spec.nodes.map((n) => [n.name, n]));
    const nodes: TopologyNode[] = placed.map((p) => {
        const o = overrides.get(p.name);
        return {
            name: p.name,
            address: addresses.get(p.name) ?? "",
            roles: p.roles,
            cpus: o?.cpus ?? DEFAULT_NODE_SIZE.cpus,
            memoryGb: o?.memoryGb ?? DEFAULT_NODE_SIZE.memoryGb,
            ...(zones ? { zone: zones.get(p.name) } : {}),
            ...(o?.sshUser ? { ssh: { user: o.sshUser, port: o.sshPort ?? 22 } } : {}),
            ports: p.roles.flatMap((r) => roleBindings(spec, r)),
        };
    });
    const byRole = Object.fromEntries(ROLES.map((r) => [r, nodes.filter((n) => n.roles.includes(r))])) as Record<Role, TopologyNode[]>;
    const vips = resolveVips(spec, nodes, byRole);
    // Without a proxy (keepalived, lvs) the control plane answers on its VIP.
    const cpVip = vips.find((v) => v.protects === "control-plane");
    const balancerAddresses = network
        ? network.controlPlaneBalancerAddresses
        : (spec.loadBalancer.kind === "keepalived" || spec.loadBalancer.kind === "lvs") && cpVip
          ? [cpVip.address]
          : byRole["load-balancer"].map((n) => n.address);
    return { nodes, flows: [...flows(spec), ...vrrpFlows(vips)], byRole, balancerAddresses, vips, ...(network ? { network } : {}) };
}

/** Two services on one node binding the same port and protocol. */
export function portConflicts(node: Pick<TopologyNode, "ports">): [PortBinding, PortBinding][] {
    const seen = new Map<string, PortBinding>();
    const out: [PortBinding, PortBinding][] = [];
    for (const b of node.ports) {
        const k = `${b.protocol}/${b.port}`;
        const first = seen.get(k);
        if (first) out.push([first, b]);
        else seen.set(k, b);
    }
    return out;
}

/** Quorum, counts, addresses and port conflicts of a built topology. */
export function checkTopology(spec: PlatformSpec, topo: Topology): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    const custom = spec.layout === "custom";
    const count = (r: Role) => topo.byRole[r].length;
    const countKey = (fallback: string) => (custom ? "nodes" : fallback);

    if (usesEtcd(spec)) {
        const n = count("etcd");
        if (n < 3 || n % 2 === 0)
            issues.push({
                key: countKey("etcd.members"),
                value: custom ? `${n} node(s) with role etcd` : n,
                rule: "etcd needs an odd number of members, at least 3 (Raft quorum: 3, 5, 7 tolerate 1, 2, 3 failures)",
            });
    } else if (count("etcd") > 0) {
        issues.push({ key: "nodes", value: topo.byRole.etcd.map((n) => n.name), rule: "api7-v3 keeps its state in PostgreSQL: no node may have role etcd" });
    }
    if (count("data-plane") < 2)
        issues.push({
            key: countKey("dataPlane.replicas"),
            value: custom ? `${count("data-plane")} node(s) with role data-plane` : count("data-plane"),
            rule: "at least 2 gateways (data-plane nodes), so losing one keeps traffic flowing",
        });
    if (custom && count("control-plane") < 1)
        issues.push({ key: "nodes", value: "0 node(s) with role control-plane", rule: "at least 1 control-plane node" });
    if (custom && spec.target !== "aws" && spec.loadBalancer.kind !== "keepalived" && count("load-balancer") < 1)
        issues.push({ key: "nodes", value: "0 node(s) with role load-balancer", rule: "at least 1 load-balancer node in front of gateways and control plane" });

    if (custom && spec.resilience.fallbackStorage?.kind === "local" && count("storage") !== 1)
        issues.push({ key: "nodes", value: `${count("storage")} node(s) with role storage`, rule: "fallback storage kind local runs on exactly 1 node with role storage" });

    const subnet = parseCidr(spec.docker.subnet);
    const zoneSubnets = topo.network?.privateSubnets.map(parseCidr);
    const byAddress = new Map<string, string>();
    topo.nodes.forEach((node) => {
        const i = spec.nodes.findIndex((n) => n.name === node.name);
        const key = i >= 0 ? `nodes[${i}].address` : "docker.subnet";
        const ip = parseIpv4(node.address);
        if (!node.address) {
            if (subnet) issues.push({ key: "docker.subnet", value: spec.docker.subnet, rule: `too small to give node ${node.name} an address` });
        } else if (!node.ssh && spec.target === "docker" && subnet && (ip === undefined || !isHostAddress(subnet, ip) || !cidrContains(subnet, ip))) {
            issues.push({ key, value: node.address, rule: `a local Docker node needs a host address inside docker.subnet ${spec.docker.subnet}` });
        } else if (zoneSubnets && node.zone !== undefined) {
            const zs = zoneSubnets[node.zone];
            const cidr = topo.network!.privateSubnets[node.zone];
            if (zs && (ip === undefined || !isHostAddress(zs, ip) || ip - zs.network <= BALANCER_HOST_OFFSET))
                issues.push({ key, value: node.address, rule: `node ${node.name} sits in zone ${node.zone + 1}: its address must be a host of private subnet ${cidr} above .${BALANCER_HOST_OFFSET} (AWS and the control-plane balancer hold the ones below)` });
        }
        const other = node.address ? byAddress.get(node.address) : undefined;
        if (other) issues.push({ key, value: node.address, rule: `address already used by node ${other}; node addresses must be unique` });
        else if (node.address) byAddress.set(node.address, node.name);

        for (const [a, b] of portConflicts(node))
            issues.push({
                key: custom ? `nodes[${i}].roles` : b.configKey,
                value: custom ? node.roles : b.port,
                rule: `on node ${node.name}, ${a.service} (${a.purpose}, ${a.configKey}) and ${b.service} (${b.purpose}, ${b.configKey}) both bind ${a.protocol} port ${a.port}; every service on a node needs its own port`,
            });
    });
    return issues;
}

/**
 * The part of a topology a program deploys when it runs only some roles (planPlatform's `roles`):
 * nodes without any of them go, the others lose the rest of their roles and those roles' ports, and
 * flows between roles it does not run go. Every address stays what the whole platform gives it.
 */
export function onlyRoles(topo: Topology, roles: readonly Role[]): Topology {
    const kept = new Set(roles);
    const nodes = topo.nodes
        .filter((n) => n.roles.some((r) => kept.has(r)))
        .map((n) => ({ ...n, roles: n.roles.filter((r) => kept.has(r)), ports: n.ports.filter((p) => kept.has(p.role)) }));
    const byRole = Object.fromEntries(ROLES.map((r) => [r, kept.has(r) ? nodes.filter((n) => n.roles.includes(r)) : []])) as Record<Role, TopologyNode[]>;
    const runs = (end: Flow["from"]) => !(ROLES as readonly string[]).includes(end) || kept.has(end as Role);
    return { ...topo, nodes, byRole, flows: topo.flows.filter((f) => runs(f.from) && runs(f.to)) };
}
