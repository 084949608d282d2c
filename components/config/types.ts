import type {
    BalancerKind,
    Flavor,
    Layout,
    LvsAlgo,
    LvsChecker,
    LvsKind,
    NodeConfig,
    PlatformConfig,
    ResilienceMode,
    Role,
    StorageKind,
    Target,
    VipCheckType,
    VipProtects,
    VrrpState,
} from "./schema";

type VipConfig = PlatformConfig["loadBalancer"]["keepalived"]["vips"][number];

/** A VIP as configured, with its address split and its choices typed; nodes are resolved in the topology. */
export interface VipSpec extends Omit<VipConfig, "address" | "protects" | "authPass" | "initialState" | "check" | "lvs"> {
    /** IPv4 without prefix. */
    address: string;
    /** The prefix given with the address (`/24`), if any. */
    prefix?: number;
    protects: VipProtects;
    /** Of the highest-priority node; every other node starts BACKUP. */
    initialState: VrrpState;
    /** Whether an auth secret was configured (its value travels in PlatformSecrets). */
    hasAuthPass: boolean;
    check?: { type: VipCheckType; path?: string; port?: number; process?: string };
    lvs?: Omit<NonNullable<VipConfig["lvs"]>, "lbAlgo" | "lbKind" | "checker"> & { lbAlgo: LvsAlgo; lbKind: LvsKind; checker: LvsChecker };
}

export type KeepalivedSpec = Omit<PlatformConfig["loadBalancer"]["keepalived"], "image" | "vips"> & { image: string; vips: VipSpec[] };

/**
 * The validated, fully defaulted platform description. It holds no secret values:
 * those travel separately as Pulumi secrets (see load.ts).
 */
export interface PlatformSpec {
    project: string;
    stack: string;
    /**
     * What the platform's physical names start with (containers `<instance>-<service>`, volumes,
     * labels, SSM paths, AWS Name tags): the stack's name for the platform named after the project
     * (the stack program's, and every stack deployed before platforms had names of their own), else
     * `<stack>-<platform name>`, so two platforms in one program never share one.
     */
    instance: string;
    /** What the Pulumi names a target gives per node and service start with: "" for the project's platform (as before), else `<platform name>-`. */
    namePrefix: string;
    flavor: Flavor;
    target: Target;
    layout: Layout;
    /** Node entries from config: the custom layout's nodes, or overrides for generated ones. */
    nodes: (NodeConfig & { roles?: Role[] })[];
    etcd: PlatformConfig["etcd"] & { clusterToken: string };
    controlPlane: Omit<PlatformConfig["controlPlane"], "databaseDsn" | "image" | "dashboardPort" | "certificate"> & {
        image: string;
        /** An operator-supplied certificate's public half; its key travels in PlatformSecrets. */
        certificate?: Omit<NonNullable<PlatformConfig["controlPlane"]["certificate"]>, "privateKey">;
        dpManagerImage?: string;
        dashboardPort: number;
        /** Whether a database DSN was configured (its value is a secret, kept out of the spec). */
        hasDatabaseDsn: boolean;
    };
    dataPlane: Omit<PlatformConfig["dataPlane"], "image" | "dpManagerIdentity"> & {
        image: string;
        /** API7 v3: the public half of the gateways' DP Manager identity; the key travels in PlatformSecrets. */
        dpManagerIdentity?: { certificate: string; caCertificate: string };
    };
    loadBalancer: Omit<PlatformConfig["loadBalancer"], "kind" | "image" | "healthCheck" | "keepalived"> & {
        kind: BalancerKind;
        image: string;
        healthCheck: Required<PlatformConfig["loadBalancer"]["healthCheck"]>;
        /** VRRP settings and VIPs; `vips` is empty unless configured. */
        keepalived: KeepalivedSpec;
    };
    docker: PlatformConfig["docker"];
    /** AWS settings with zones resolved when given; read only by the aws target. */
    aws: PlatformConfig["aws"] & { region: string };
    /** Target ssh settings; the private key travels in PlatformSecrets. */
    ssh: Omit<PlatformConfig["ssh"], "privateKey"> & { hasPrivateKey: boolean };
    /**
     * The sources the host firewalls open the platform's entry ports to: `ssh.firewall` on target
     * ssh, `docker.firewall` with remote Docker hosts; absent where no host gets a firewall.
     */
    hostFirewall?: HostFirewallSources;
    /** Resources holding data, or bound to it, carry `protect` (config `protectData`). */
    protectData: boolean;
    resilience: {
        mode: ResilienceMode;
        /** Absent when no fallback storage is configured (then mode is connected). */
        fallbackStorage?: Omit<NonNullable<PlatformConfig["resilience"]["fallbackStorage"]>, "kind" | "region" | "configBucket" | "resourceBucket"> & {
            kind: StorageKind;
            /** S3 region; "us-east-1" for the local server, which ignores it. */
            region: string;
            configBucket: string;
            resourceBucket: string;
        };
    };
}

export interface HostFirewallSources {
    clientCidrs: string[];
    operatorCidrs: string[];
    monitoringCidrs: string[];
}

/** Secret config values, kept apart from the spec so they can be wrapped as Pulumi secrets. */
export interface PlatformSecrets {
    /** Target ssh: the deployer's private key for the hosts. */
    sshPrivateKey?: string;
    databaseDsn?: string;
    /** API7 v3: the private key of the gateways' DP Manager client certificate. */
    dpClientKey?: string;
    /** The private key of the operator-supplied control-plane certificate (controlPlane.certificate). */
    controlPlaneKey?: string;
    /** Configured VRRP auth secrets by VIP name (the others are generated). */
    vipAuthPass?: Record<string, string>;
}
