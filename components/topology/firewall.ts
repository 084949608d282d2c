// Firewall rules from the port matrix, pure: who may open which port on which group of hosts.
// A group is a node role (its nodes) or one of the two balancers. The AWS target turns each rule
// into one security-group ingress rule; host firewalls can read the same list.
import type { Role } from "../config/schema";
import type { Flow, Protocol } from "./types";

export type BalancerGroup = "gateway-balancer" | "control-plane-balancer";
export type FirewallGroup = Exclude<Role, "load-balancer"> | BalancerGroup;

export interface FirewallRule {
    /** The group whose hosts accept the traffic. */
    group: FirewallGroup;
    port: number;
    protocol: Protocol;
    /** Another group's hosts, or a network. */
    from: { group: FirewallGroup } | { cidr: string };
    /** Why the port is open: the flows' purposes. */
    description: string;
}

/** Networks for the flows that start outside the platform. */
export interface FirewallSources {
    /** Who reaches the gateway balancer. */
    clients: string[];
    /** Who reaches the control-plane balancer. */
    operators: string[];
    /** Who scrapes metrics; none closes the metrics port. */
    monitoring: string[];
    /** SSH to every node group from these networks; none: no SSH rule. */
    ssh: string[];
}

export const SSH_PORT = 22;

function groupOf(role: Flow["to"] | Flow["from"], flow: Flow): FirewallGroup {
    if (role === "load-balancer") {
        if (!flow.balancer) throw new Error(`flow "${flow.purpose}" touches the balancers but names none`);
        return `${flow.balancer}-balancer`;
    }
    return role as FirewallGroup;
}

const sourceKey = (from: FirewallRule["from"]) => ("group" in from ? `group:${from.group}` : `cidr:${from.cidr}`);

/**
 * One rule per (group, port, protocol, source); flows that collapse onto the same rule share it
 * and their purposes are joined in its description. Flows from outside become one rule per network.
 */
export function firewallRules(flows: Flow[], sources: FirewallSources): FirewallRule[] {
    const rules = new Map<string, FirewallRule>();
    const add = (group: FirewallGroup, port: number, protocol: Protocol, from: FirewallRule["from"], purpose: string) => {
        const key = `${group}|${protocol}/${port}|${sourceKey(from)}`;
        const existing = rules.get(key);
        if (existing) {
            if (!existing.description.split("; ").includes(purpose)) existing.description += `; ${purpose}`;
        } else rules.set(key, { group, port, protocol, from, description: purpose });
    };
    const external: Record<string, string[]> = { clients: sources.clients, operators: sources.operators, monitoring: sources.monitoring };
    for (const flow of flows) {
        const group = groupOf(flow.to, flow);
        if (flow.from in external) for (const cidr of external[flow.from]) add(group, flow.port, flow.protocol, { cidr }, flow.purpose);
        else add(group, flow.port, flow.protocol, { group: groupOf(flow.from as Role, flow) }, flow.purpose);
    }
    const nodeGroups = [...new Set(flows.map((f) => f.to).filter((r): r is Exclude<Role, "load-balancer"> => r !== "load-balancer"))];
    for (const group of nodeGroups) for (const cidr of sources.ssh) add(group, SSH_PORT, "tcp", { cidr }, "SSH from operators");
    return [...rules.values()];
}

export interface EgressRule {
    /** The group whose hosts open the connection. */
    group: FirewallGroup;
    /** Every protocol and port when absent. */
    port?: number;
    protocol: Protocol | "all";
    to: { group: FirewallGroup } | { cidr: string };
    description: string;
}

/** Where a node's own traffic to the internet goes: images, the SSM and S3 endpoints, Ubuntu's archive. */
export const INTERNET_PORTS = [
    { port: 443, description: "HTTPS: image registries, SSM, S3, Ubuntu's archive" },
    { port: 80, description: "HTTP: Ubuntu's package archive" },
] as const;

/**
 * Egress from the flows: each group reaches the groups its flows go to, on their ports, and node
 * groups reach the internet on HTTPS and HTTP. `open` groups keep all egress: gateways proxy to
 * any upstream; the API7 control planes reach their database, identity providers and mail.
 * (The VPC's DNS resolver and time service are outside security groups.)
 */
export function egressRules(flows: Flow[], groups: FirewallGroup[], open: FirewallGroup[]): EgressRule[] {
    const rules = new Map<string, EgressRule>();
    const add = (r: EgressRule) => {
        const key = `${r.group}|${r.protocol}/${r.port ?? "*"}|${"group" in r.to ? r.to.group : r.to.cidr}`;
        const existing = rules.get(key);
        if (existing) {
            if (!existing.description.split("; ").includes(r.description)) existing.description += `; ${r.description}`;
        } else rules.set(key, { ...r });
    };
    for (const group of groups.filter((g) => open.includes(g))) add({ group, protocol: "all", to: { cidr: "0.0.0.0/0" }, description: "all egress" });
    for (const flow of flows) {
        if (flow.from === "clients" || flow.from === "operators" || flow.from === "monitoring") continue;
        const group = groupOf(flow.from, flow);
        if (open.includes(group) || !groups.includes(group)) continue;
        add({ group, port: flow.port, protocol: flow.protocol, to: { group: groupOf(flow.to, flow) }, description: flow.purpose });
    }
    const nodeGroups = groups.filter((g): g is Exclude<FirewallGroup, BalancerGroup> => g !== "gateway-balancer" && g !== "control-plane-balancer");
    for (const group of nodeGroups.filter((g) => !open.includes(g))) for (const p of INTERNET_PORTS) add({ group, port: p.port, protocol: "tcp", to: { cidr: "0.0.0.0/0" }, description: p.description });
    return [...rules.values()];
}
