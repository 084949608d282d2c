// Stack-config schema: the shape of every `gateway-ha:*` key and its default.
// Cross-field rules (quorum, ports, layouts) live in validate.ts; this file only
// says what each key may hold on its own.
import { z } from "zod";

export const FLAVORS = ["apisix", "api7-v2", "api7-v3"] as const;
export const TARGETS = ["docker", "ssh", "aws", "kubernetes"] as const;
/** Targets whose adapter exists today; the others fail validation as "not available yet". */
export const AVAILABLE_TARGETS: readonly Target[] = ["docker"];
export const LAYOUTS = ["standard", "compact", "custom"] as const;
export const ROLES = ["etcd", "control-plane", "data-plane", "load-balancer"] as const;
export const BALANCER_KINDS = ["nginx", "haproxy"] as const;

export type Flavor = (typeof FLAVORS)[number];
export type Target = (typeof TARGETS)[number];
export type Layout = (typeof LAYOUTS)[number];
export type Role = (typeof ROLES)[number];
export type BalancerKind = (typeof BALANCER_KINDS)[number];

/** Pinned default images. The etcd image is the official one: bitnami/etcd was withdrawn in 2025. */
export const DEFAULT_IMAGES = {
    etcd: "gcr.io/etcd-development/etcd:v3.5.21",
    apisix: "apache/apisix:3.14.1-debian",
    api7v2Dashboard: "api7ee.azurecr.io/api7-dashboard:2.13.2304",
    api7v2Gateway: "api7ee.azurecr.io/api7-gateway:2.13.2304",
    api7v3Dashboard: "api7/api7-ee-3-integrated:v3.2.16.3",
    api7v3DpManager: "api7/api7-ee-dp-manager:v3.2.9.1",
    api7v3Gateway: "api7/api7-ee-3-gateway:3.2.16.3",
    nginx: "nginx:1.27.4-alpine",
    haproxy: "haproxy:2.8.14-alpine",
} as const;

/**
 * Where a gateway says it can take traffic. APISIX (3.13 on) answers /status/ready with 200 only
 * once every worker has loaded its configuration; /status is 200 as soon as workers run, so a
 * balancer checking it sends requests to a restarted gateway before it knows any route (the HA
 * lab's rolling-restart drill shows the 404s). The pinned API7 gateways have only /status.
 */
export const GATEWAY_READINESS_PATH = { apisix: "/status/ready", "api7-v2": "/status", "api7-v3": "/status" } as const;

const port = z.number().int().min(1, "must be a port in 1–65535").max(65535, "must be a port in 1–65535");
const image = z
    .string()
    .min(1)
    .refine((s) => /[:@]/.test(s.split("/").pop() ?? "") && !/:latest$/.test(s), {
        message: "must be pinned to a tag or digest (not missing, not 'latest')",
    });
const name = z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a DNS label: lowercase letters, digits and '-', 1–63 chars");

export const nodeSchema = z.strictObject({
    name,
    address: z.string().optional(),
    roles: z.array(z.string()).optional(),
    cpus: z.number().positive().optional(),
    memoryGb: z.number().positive().optional(),
    /** Remote Docker host: with `address`, the node's containers run on ssh://sshUser@address. */
    sshUser: z.string().min(1).optional(),
    sshPort: port.optional(),
});

export const etcdSchema = z.strictObject({
    members: z.number().int().default(3),
    image: image.default(DEFAULT_IMAGES.etcd),
    heartbeatMs: z.number().int().min(10, "must be at least 10").default(100),
    electionMs: z.number().int().default(1000),
    tls: z.boolean().default(true),
    auth: z.boolean().default(true),
    clusterToken: z.string().min(1).optional(),
    clientPort: port.default(2379),
    peerPort: port.default(2380),
    /** Stop etcd from taking writes at this backend size (bytes); etcd's own default is 2 GiB. */
    quotaBackendBytes: z.number().int().positive().default(2 * 1024 ** 3),
});

export const controlPlaneSchema = z.strictObject({
    replicas: z.number().int().min(1, "must be at least 1").default(2),
    /** Dashboard (api7-*) or APISIX control-plane image (apisix); default depends on flavor. */
    image: image.optional(),
    dpManagerImage: image.optional(),
    /** PostgreSQL DSN for api7-v3; always a Pulumi secret. */
    databaseDsn: z.string().optional(),
    /** APISIX Admin API (apisix flavor). */
    adminPort: port.default(9180),
    /** Dashboard port: 9000 for api7-v2, 17080 for api7-v3 unless set. */
    dashboardPort: port.optional(),
    dpManagerPort: port.default(17900),
});

export const dataPlaneSchema = z.strictObject({
    replicas: z.number().int().default(2),
    image: image.optional(),
    httpPort: port.default(80),
    httpsPort: port.default(443),
    statusPort: port.default(7085),
    metricsPort: port.default(9091),
    /** API7 v2 cluster id: gateways read /api7/<clusterId> in etcd. */
    clusterId: z.string().regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, '_' or '-'").default("default"),
    /** CIDRs allowed to reach the Admin API. */
    adminAllow: z.array(z.string()).default(["127.0.0.0/24"]),
});

export const healthCheckSchema = z.strictObject({
    /** Default per flavor: GATEWAY_READINESS_PATH. */
    path: z.string().startsWith("/", "must start with '/'").optional(),
    port: port.optional(),
    intervalSeconds: z.number().int().default(2),
    timeoutSeconds: z.number().int().default(1),
    fall: z.number().int().default(3),
    rise: z.number().int().default(2),
});

export const loadBalancerSchema = z.strictObject({
    kind: z.string().default("haproxy"),
    image: image.optional(),
    healthCheck: healthCheckSchema.prefault({}),
    /** Extra upstream attempts for an idempotent request after a failed one. */
    retries: z.number().int().min(0, "must be 0 or more").max(10, "must be at most 10").default(2),
});

export const dockerSchema = z.strictObject({
    networkName: name.default("gateway-ha"),
    subnet: z.string().default("172.28.0.0/24"),
    /** Host address the balancers' listeners are published on. */
    publishAddress: z.string().default("127.0.0.1"),
    /** Host ports for the gateway balancer (http, https) and control-plane balancer. */
    publishedPorts: z
        .strictObject({
            http: port.default(9080),
            https: port.default(9443),
            controlPlane: port.default(19000),
        })
        .prefault({}),
});

export const platformConfigSchema = z.strictObject({
    flavor: z.string().default("apisix"),
    target: z.string().default("docker"),
    layout: z.string().default("standard"),
    nodes: z.array(nodeSchema).default([]),
    etcd: etcdSchema.prefault({}),
    controlPlane: controlPlaneSchema.prefault({}),
    dataPlane: dataPlaneSchema.prefault({}),
    loadBalancer: loadBalancerSchema.prefault({}),
    docker: dockerSchema.prefault({}),
});

/** Config as parsed, before flavor-dependent defaults and cross-field rules. */
export type PlatformConfig = z.infer<typeof platformConfigSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;

/** The config keys the program reads (all under the `gateway-ha:` namespace). */
export const CONFIG_KEYS = Object.keys(platformConfigSchema.shape) as (keyof PlatformConfig)[];
