// Firewall rules from the port matrix, pure: who may open which port on which group of hosts.
// A group is a node role (its nodes) or one of the two balancers. The AWS target turns each rule
// into one security-group ingress rule; host firewalls can read the same list.
import type { Role } from "../spec/schema";
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
