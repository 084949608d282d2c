// The stack-output contract read by other stacks through StackReference.
// Changing a name or a shape here is a breaking change for consumers.
import type * as pulumi from "@pulumi/pulumi";
import type { ResilienceMode, Role } from "./platformArgs";

export interface NodeOutput {
    address: string;
    roles: Role[];
}

/** Host names of the two balancers. */
export interface BalancerDnsNames {
    gateway: string;
    controlPlane: string;
}

export interface Credential {
    user: string;
    password: string;
}

/** etcd's users: root, and the one each consumer logs in as. */
export interface EtcdCredentials {
    root: Credential;
    "control-plane": Credential;
    gateway: Credential;
}

/** Plain (non-secret) outputs. */
export interface PlatformOutputs {
    flavor: string;
    target: string;
    layout: string;
    /** Clients' entry point: the gateway balancer (HTTP). */
    gatewayUrl: string;
    /** The gateway balancer's HTTPS (TLS pass-through to the gateways). */
    gatewayHttpsUrl: string;
    /**
     * Operators' entry point: the control-plane balancer (Admin API or dashboard), over HTTPS: verify
     * it with `managementCaCert`. With controlPlane.certificate, its host is that certificate's `host`.
     */
    controlPlaneUrl: string;
    /**
     * PEM of the CA controlPlaneUrl's clients trust: the stack's management CA, or with
     * controlPlane.certificate the operator's `caCertificate`.
     */
    managementCaCert: string;
    /** etcd client URLs on the platform network; empty for api7-v3. */
    etcdEndpoints: string[];
    nodes: Record<string, NodeOutput>;
    /** PEM of the CA that signs etcd's certificates; empty when etcd TLS is off or for api7-v3. */
    etcdCaCert: string;
    /** Host names of the balancers: the NLBs' DNS names on aws; the published host or balancer node on docker. */
    balancerDnsNames: BalancerDnsNames;
    /** The data-plane fallback buckets (resilience); null when no fallback storage is configured. */
    fallbackBuckets: FallbackBucketsOutput | null;
    /**
     * When each certificate the stack deploys expires (RFC 3339, UTC), by name: `etcd/ca`,
     * `etcd/member-N`, `etcd/client-<user>`, `management/ca`, `management/<node>`, `management/operator` (controlPlane.certificate, which
     * the operator renews), and API7 v3's `dpManagerIdentity` (the dashboard-issued gateway
     * certificate, which `npm run api7:identity` renews). Generated ones renew on the first
     * `pulumi up` in their renewal window: the last 30 days for member 1, a week earlier for each
     * next one (components/pki.ts).
     */
    certificateExpiry: Record<string, string>;
}

export interface FallbackBucketsOutput {
    /** Instance configuration: keyrings and discovery. */
    config: string;
    /** Resources: routes, services. */
    resource: string;
    region: string;
    /** S3 endpoint for an S3-compatible server (kind local); empty for Amazon S3. */
    endpoint: string;
    mode: ResilienceMode;
}

/** Credentials, exported only as Pulumi secrets. */
export interface PlatformSecretOutputs {
    /** APISIX Admin API key (apisix flavor; empty otherwise). */
    adminKey: string;
    /** The dashboards' admin login the stack generated (api7-v2; empty otherwise). */
    dashboardAdmin: Credential;
    /** etcd users and passwords (empty when etcd auth is off). */
    etcdCredentials: EtcdCredentials;
}

export type PlatformStackOutputs = PlatformOutputs & PlatformSecretOutputs;
export const SECRET_OUTPUT_KEYS = ["adminKey", "dashboardAdmin", "etcdCredentials"] as const satisfies readonly (keyof PlatformSecretOutputs)[];
/** Every plain output, as the stack program must export it (a test compares the exports with it). */
export const PLAIN_OUTPUT_KEYS = [
    "flavor",
    "target",
    "layout",
    "gatewayUrl",
    "gatewayHttpsUrl",
    "controlPlaneUrl",
    "managementCaCert",
    "etcdEndpoints",
    "nodes",
    "etcdCaCert",
    "balancerDnsNames",
    "fallbackBuckets",
    "certificateExpiry",
] as const satisfies readonly (keyof PlatformOutputs)[];
/** Compiles only while PLAIN_OUTPUT_KEYS lists every key of PlatformOutputs. */
export type UnlistedPlainOutputs = Exclude<keyof PlatformOutputs, (typeof PLAIN_OUTPUT_KEYS)[number]>;
const everyPlainOutputListed: [UnlistedPlainOutputs] extends [never] ? true : UnlistedPlainOutputs = true;
void everyPlainOutputListed;

/** Typed read of one output from a StackReference to a gateway-ha stack. */
export function platformOutput<K extends keyof PlatformStackOutputs>(ref: pulumi.StackReference, key: K): pulumi.Output<PlatformStackOutputs[K]> {
    return ref.requireOutput(key) as pulumi.Output<PlatformStackOutputs[K]>;
}
