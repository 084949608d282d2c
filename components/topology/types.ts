import type { Role } from "../spec/schema";

export type Protocol = "tcp" | "udp";

/** A port a node listens on, and which role's service binds it. */
export interface PortBinding {
    port: number;
    protocol: Protocol;
    role: Role;
    /** The service on the node that binds it, e.g. `etcd`, `dashboard`, `gateway`, `gateway-lb`. */
    service: string;
    purpose: string;
    /** The config key that sets this port, e.g. `etcd.clientPort`. */
    configKey: string;
}

/** Who must reach whom: the port matrix that becomes firewall and security-group rules. */
export interface Flow {
    from: Role | "clients" | "monitoring" | "operators";
    /** For flows from or to role load-balancer: which balancer, the gateways' or the control plane's. */
    balancer?: "gateway" | "control-plane";
    to: Role;
    port: number;
    protocol: Protocol;
    purpose: string;
}

export interface TopologyNode {
    name: string;
    /** IPv4 on the platform network (docker) or the host address (remote hosts). */
    address: string;
    roles: Role[];
    cpus: number;
    memoryGb: number;
    /** Index of the node's availability zone (target aws): members of a role go round the zones. */
    zone?: number;
    /** Remote Docker host over SSH; absent for the local engine. */
    ssh?: { user: string; port: number };
    ports: PortBinding[];
}

export interface Topology {
    nodes: TopologyNode[];
    flows: Flow[];
    /** Nodes in the order each role's members are numbered (etcd-1 is etcdMembers[0]). */
    byRole: Record<Role, TopologyNode[]>;
    /**
     * Where the control-plane balancer answers, which is also where its traffic to the nodes comes
     * from: the balancer nodes' addresses, or the internal NLB's fixed addresses on aws.
     */
    balancerAddresses: string[];
    /** Subnets and zones (target aws only). */
    network?: import("./network").AwsNetworkPlan;
}
