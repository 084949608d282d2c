import type { LvsAlgo, LvsChecker, LvsKind, Role, VipProtects, VrrpState } from "../config/schema";

/**
 * tcp / udp carry ports. `vrrp` is IP protocol 112 and `ipip` IP protocol 4 (LVS TUN): no port
 * (flows and rules carry port 0); a host firewall opens the protocol between the groups.
 */
export type Protocol = "tcp" | "udp" | "vrrp" | "ipip";

/** IP protocol numbers of the port-less protocols. */
export const IP_PROTOCOL_NUMBERS = { vrrp: 112, ipip: 4 } as const;

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

/** What a VIP's vrrp_script runs on each of its nodes. */
export type VipCheck =
    | { type: "http"; port: number; path: string }
    | { type: "port"; ports: number[] }
    | { type: "process"; process: string };

export interface LvsRealServer {
    node: TopologyNode;
    weight: number;
}

/** A VIP with its nodes, priorities and (kind lvs) virtual servers resolved. */
export interface TopologyVip {
    name: string;
    /** IPv4, no prefix. */
    address: string;
    /** Prefix of the VIP on the interface: docker.subnet's on local Docker nodes, else the configured one. */
    prefix: number;
    /** The VRRP segment: the CIDR the VIP and its nodes' addresses sit in. */
    segment: string;
    virtualRouterId: number;
    protects: VipProtects;
    /** Nodes holding the VIP, highest priority first. */
    nodes: TopologyNode[];
    priorities: Record<string, number>;
    /** Highest priority; starts in `initialState`, the others in BACKUP. */
    master: string;
    initialState: VrrpState;
    /** Ports clients reach on the VIP. */
    ports: number[];
    /** Absent on LVS directors: IPVS health-checks the real servers instead. */
    check?: VipCheck;
    lvs?: {
        ports: number[];
        lbAlgo: LvsAlgo;
        lbKind: LvsKind;
        persistenceTimeout: number;
        checker: LvsChecker;
        realServers: LvsRealServer[];
        /** HTTP_GET: the path and port that must answer 200 (the gateways' status endpoint). */
        httpCheck?: { path: string; port: number };
    };
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
    /** keepalived VIPs (loadBalancer.keepalived.vips), resolved; empty without any. */
    vips: TopologyVip[];
    /** Subnets and zones (target aws only). */
    network?: import("./network").AwsNetworkPlan;
}
