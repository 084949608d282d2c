import type { BalancerKind, Flavor, Layout, NodeConfig, PlatformConfig, ResilienceMode, Role, StorageKind, Target } from "./schema";

/**
 * The validated, fully defaulted platform description. It holds no secret values:
 * those travel separately as Pulumi secrets (see load.ts).
 */
export interface PlatformSpec {
    project: string;
    stack: string;
    flavor: Flavor;
    target: Target;
    layout: Layout;
    /** Node entries from config: the custom layout's nodes, or overrides for generated ones. */
    nodes: (NodeConfig & { roles?: Role[] })[];
    etcd: PlatformConfig["etcd"] & { clusterToken: string };
    controlPlane: Omit<PlatformConfig["controlPlane"], "databaseDsn" | "image" | "dashboardPort"> & {
        image: string;
        dpManagerImage?: string;
        dashboardPort: number;
        /** Whether a database DSN was configured (its value is a secret, kept out of the spec). */
        hasDatabaseDsn: boolean;
    };
    dataPlane: Omit<PlatformConfig["dataPlane"], "image"> & { image: string };
    loadBalancer: Omit<PlatformConfig["loadBalancer"], "kind" | "image" | "healthCheck"> & {
        kind: BalancerKind;
        image: string;
        healthCheck: Required<PlatformConfig["loadBalancer"]["healthCheck"]>;
    };
    docker: PlatformConfig["docker"];
    /** AWS settings with zones resolved when given; read only by the aws target. */
    aws: PlatformConfig["aws"] & { region: string };
    /** Target ssh settings; the private key travels in PlatformSecrets. */
    ssh: Omit<PlatformConfig["ssh"], "privateKey"> & { hasPrivateKey: boolean };
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

/** Secret config values, kept apart from the spec so they can be wrapped as Pulumi secrets. */
export interface PlatformSecrets {
    /** Target ssh: the deployer's private key for the hosts. */
    sshPrivateKey?: string;
    databaseDsn?: string;
}
