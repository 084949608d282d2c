// Stack-config schema: the shape of every `gateway-ha:*` key and its default.
// Cross-field rules (quorum, ports, layouts) live in validate.ts; this file only
// says what each key may hold on its own.
import { z } from "zod";
import { certificateNotAfter } from "./certificates";
import { imageReferenceProblem } from "./images";

export const FLAVORS = ["apisix", "api7-v2", "api7-v3"] as const;
export const TARGETS = ["docker", "ssh", "aws", "kubernetes"] as const;
/** Targets whose adapter exists today; the others fail validation as "not available yet". */
export const AVAILABLE_TARGETS: readonly Target[] = ["docker", "ssh", "aws"];
export const LAYOUTS = ["standard", "compact", "custom"] as const;
/** `storage`: the local S3-compatible server that holds the fallback buckets on the Docker target. */
export const ROLES = ["etcd", "control-plane", "data-plane", "load-balancer", "storage"] as const;
/**
 * nginx / haproxy: proxy processes on balancer nodes; keepalived: VRRP VIPs straight on the protected
 * nodes (active-standby, seed 004 part 1); lvs: keepalived + IPVS on two director nodes (active-active,
 * seed 004 part 2).
 */
export const BALANCER_KINDS = ["nginx", "haproxy", "keepalived", "lvs"] as const;
/** What a VIP carries: the gateways' ports, the control plane's ports, or a haproxy/nginx balancer pair. */
export const VIP_PROTECTS = ["control-plane", "data-plane", "load-balancer"] as const;
/** How a VIP's vrrp_script decides the protected service on its node is healthy. */
export const VIP_CHECK_TYPES = ["http", "port", "process"] as const;
/** IPVS schedulers of seed 004. */
export const LVS_ALGOS = ["rr", "wrr", "lc", "wlc", "sh", "dh", "lblc"] as const;
/** IPVS forwarding methods: NAT, direct routing, IP-in-IP tunnelling. */
export const LVS_KINDS = ["NAT", "DR", "TUN"] as const;
export const LVS_CHECKERS = ["TCP_CHECK", "HTTP_GET"] as const;
export const VRRP_STATES = ["MASTER", "BACKUP"] as const;
export const RESILIENCE_MODES = ["connected", "standalone"] as const;
/** s3: Amazon S3 (instance roles on aws, IAM users elsewhere); local: an S3-compatible server container (docker). */
export const STORAGE_KINDS = ["s3", "local"] as const;
export const NAT_GATEWAY_MODES = ["per-zone", "single"] as const;

export type Flavor = (typeof FLAVORS)[number];
export type Target = (typeof TARGETS)[number];
export type Layout = (typeof LAYOUTS)[number];
export type Role = (typeof ROLES)[number];
export type BalancerKind = (typeof BALANCER_KINDS)[number];
export type VipProtects = (typeof VIP_PROTECTS)[number];
export type VipCheckType = (typeof VIP_CHECK_TYPES)[number];
export type LvsAlgo = (typeof LVS_ALGOS)[number];
export type LvsKind = (typeof LVS_KINDS)[number];
export type LvsChecker = (typeof LVS_CHECKERS)[number];
export type VrrpState = (typeof VRRP_STATES)[number];
export type ResilienceMode = (typeof RESILIENCE_MODES)[number];
export type StorageKind = (typeof STORAGE_KINDS)[number];

/** Pinned default images. The etcd image is the official one: bitnami/etcd was withdrawn in 2025. */
export const DEFAULT_IMAGES = {
    etcd: "gcr.io/etcd-development/etcd:v3.5.21",
    apisix: "apache/apisix:3.14.1-debian",
    api7v2Dashboard: "api7ee.azurecr.io/api7-dashboard:2.13.2304",
    api7v2Gateway: "api7ee.azurecr.io/api7-gateway:2.13.2304",
    api7v3Dashboard: "api7/api7-ee-3-integrated:v3.2.16.3",
    /** Always the dashboard's version: the two share one database (api7/api7-helm-chart pins both to one appVersion; seed 000's v3.2.9.1 beside v3.2.16.3 was wrong). */
    api7v3DpManager: "api7/api7-ee-dp-manager:v3.2.16.3",
    api7v3Gateway: "api7/api7-ee-3-gateway:3.2.16.3",
    nginx: "nginx:1.27.4-alpine",
    haproxy: "haproxy:2.8.26-alpine",
    /**
     * keepalived (Alpine, built from the keepalived release; ships the `keepalived_script` user, curl,
     * busybox nc/pgrep and iproute2). No official image exists; osixia/keepalived stopped at 2.0.20.
     * 2.2.8 is Debian 12's 2.2.7 plus fixes (among them `keepalived -t` killing itself when
     * script security is on, keepalived issue #2587). The tag is rebuilt on a new Alpine base by its
     * maintainer: pin a digest with loadBalancer.keepalived.image for byte-for-byte repeatability.
     */
    keepalived: "ednxzu/keepalived:2.2.8",
    /** kind lvs runs keepalived too (its checker process drives IPVS). */
    lvs: "ednxzu/keepalived:2.2.8",
    /**
     * The S3-compatible server for `resilience.fallbackStorage.kind: local`; its image ships `mc`.
     * MinIO's last published image, from its own registry: Docker Hub's minio/minio is gone (September
     * 2026) and the community edition is source-only since RELEASE.2025-10-15T17-29-55Z, the release
     * fixing GHSA-jjjj-jwhf-8rgr (service accounts and STS sessions escaping their session policy). The
     * platform creates neither (its side users are plain IAM users with attached policies); an operator
     * who builds the fixed release sets resilience.fallbackStorage.image.
     */
    objectStorage: "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
} as const;

/** Seed 001's node size, 2 vCPU / 4 GiB. */
export const DEFAULT_AWS_INSTANCE_TYPE = "t3.medium";

/** Ubuntu 24.04 LTS from Canonical: Docker and the Compose plugin come from Ubuntu's own archive. */
export const DEFAULT_AWS_AMI = {
    owners: ["099720109477"],
    namePattern: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
    architecture: "x86_64",
} as const;

/**
 * Where a gateway says it can take traffic. APISIX (3.13 on) answers /status/ready with 200 only
 * once every worker has loaded its configuration; /status is 200 as soon as workers run, so a
 * balancer checking it sends requests to a restarted gateway before it knows any route (the HA
 * lab's rolling-restart drill shows the 404s). The pinned API7 gateways have only /status.
 */
export const GATEWAY_READINESS_PATH = { apisix: "/status/ready", "api7-v2": "/status", "api7-v3": "/status" } as const;

const port = z.number().int().min(1, "must be a port in 1–65535").max(65535, "must be a port in 1–65535");
const image = z.string().superRefine((s, ctx) => {
    const problem = imageReferenceProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});
const name = z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a DNS label: lowercase letters, digits and '-', 1–63 chars");

/**
 * What the configuration reference (docs/configuration.md, generated by `npm run generate`) says
 * of a key: `description` is Markdown, its links relative to docs/; `defaultText` replaces the
 * default the schema itself gives where that depends on other keys.
 */
export type KeyDoc = { description: string; defaultText?: string };
const doc = (description: string, defaultText?: string): KeyDoc => (defaultText === undefined ? { description } : { description, defaultText });
const code = (s: string) => `\`${s}\``;

/**
 * A string key that takes one of `values` (checked in validate.ts, which names the key): the
 * component's Args type it as the enum `typeName` (components/platformArgs.ts).
 */
export type KeyChoices = { typeName: string; values: readonly string[] };
/** The name of an object key's interface in the component's Args, where its key's own would be ambiguous. */
const argsType = (name: string) => ({ argsType: name });
const choice = (typeName: string, values: readonly string[]) => z.string().meta({ choices: { typeName, values } satisfies KeyChoices });

export const nodeSchema = z.strictObject({
    name,
    address: z.string().optional(),
    roles: z.array(choice("Role", ROLES)).optional(),
    cpus: z.number().positive().optional().meta(doc("vCPUs of the node (seed 001: 2C4G). On Docker, each service container on the node is capped at it", code("2"))),
    memoryGb: z.number().positive().optional().meta(doc("memory of the node, GiB. On Docker, each service container on the node is capped at it", code("4"))),
    /** With `address`: target docker runs the node's containers on ssh://sshUser@address; target ssh logs in as this user. */
    sshUser: z
        .string()
        .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, "must be a user name: letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 32 (no '@', spaces or quotes)")
        .optional(),
    sshPort: port.optional(),
}).meta(argsType("NodeArgs"));

export const etcdSchema = z.strictObject({
    members: z.number().int().default(3).describe("odd, ≥ 3 (3, 5, 7 tolerate 1, 2, 3 failures). `compact` needs exactly 3. `custom` counts the nodes with role `etcd`"),
    image: image.default(DEFAULT_IMAGES.etcd).describe("the official image, pinned (bitnami/etcd was withdrawn in 2025)"),
    heartbeatMs: z.number().int().min(10, "must be at least 10").default(100).describe("Raft heartbeat, identical on every member"),
    electionMs: z.number().int().default(1000).describe("election timeout, ≥ 5 × heartbeat and ≤ 50000"),
    tls: z.boolean().default(true).describe("client and peer TLS with generated certificates (`https://` endpoints, client-cert auth)"),
    auth: z.boolean().default(true).describe("root + per-consumer users, auth enabled after the cluster forms"),
    clusterToken: z.string().min(1).optional().meta(doc("initial cluster token", code("<project>-<stack>-etcd"))),
    clientPort: port.default(2379).describe("client listener"),
    peerPort: port.default(2380).describe("peer (Raft) listener"),
    quotaBackendBytes: z.number().int().positive().default(2 * 1024 ** 3).describe("backend size (bytes) at which etcd stops taking writes; etcd's own default is 2 GiB"),
    rootPasswordRotation: z
        .number()
        .int()
        .min(0, "must be 0 or more")
        .default(0)
        .describe("raise by one to rotate etcd's root password: the next `up` generates a new one and changes it in etcd with the previous one (see [the etcd runbook](day-2.md#etcd-runbook))"),
    consumerPasswordRotation: z
        .number()
        .int()
        .min(0, "must be 0 or more")
        .default(0)
        .describe("raise by one to rotate the control plane's and the gateways' etcd passwords: new users, consumers rolled onto them, previous users revoked (see [the etcd runbook](day-2.md#etcd-runbook))"),
    caGeneration: z
        .number()
        .int()
        .min(0, "must be 0 or more")
        .default(0)
        .describe("the CA generation that signs every etcd certificate; raised by one in the middle phase of a CA rotation (see [the etcd runbook](day-2.md#etcd-runbook))"),
    caTrust: z
        .array(z.number().int().min(0, "must be 0 or more"))
        .optional()
        .meta(doc("the CA generations every member and client trusts: one, or two consecutive ones during a rotation; must include `caGeneration`", code("[caGeneration]"))),
});

/** PEM text of one or more X.509 certificates; the first must parse (its expiry is exported). */
const pemCertificate = z
    .string()
    .regex(/^\s*-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/, "must be a PEM certificate (-----BEGIN CERTIFICATE----- …)")
    .refine((pem) => certificateNotAfter(pem) !== undefined, "must be a PEM certificate that parses as X.509");

const pemPrivateKey = z.string().regex(/^\s*-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+-----END [A-Z ]*PRIVATE KEY-----\s*$/, "must be a PEM private key");

/**
 * The certificate the control plane's clients see (Admin API, dashboards), from the organisation's
 * CA instead of the stack's own: served where their TLS ends (the balancers' frontends; the nodes
 * behind VIPs or an NLB). The hop from a balancer to a node keeps the stack's management CA.
 */
export const controlPlaneCertificateSchema = z.strictObject({
    /** PEM: the certificate, then any intermediates, in order. */
    certificate: pemCertificate,
    /** Its private key; always a Pulumi secret. */
    privateKey: pemPrivateKey,
    /** PEM of the CA clients trust (the chain's root): exported as managementCaCert. */
    caCertificate: pemCertificate,
    /** The DNS name (or IPv4 address) clients reach the control plane by: controlPlaneUrl's host, which the certificate must name. */
    host: z.string().min(1, "must not be empty"),
}).meta(argsType("ControlPlaneCertificateArgs"));

export const controlPlaneSchema = z.strictObject({
    replicas: z.number().int().min(1, "must be at least 1").default(2).describe("control-plane nodes (≥ 1; `compact` places at most 2)"),
    image: image
        .optional()
        .meta(doc("the APISIX control plane's (apisix) or the dashboard's image (api7-*)", `${code(DEFAULT_IMAGES.apisix)}, ${code(DEFAULT_IMAGES.api7v2Dashboard)}, ${code(DEFAULT_IMAGES.api7v3Dashboard)}`)),
    dpManagerImage: image.optional().meta(doc("api7-v3 only; its tag must be the dashboard's", code(DEFAULT_IMAGES.api7v3DpManager))),
    databaseDsn: z
        .string()
        .optional()
        .describe(
            "**secret**, required for api7-v3: `pulumi config set --secret --path controlPlane.databaseDsn 'postgres://user:pw@host:5432/api7ee?sslmode=verify-full'`. `sslmode` must be `verify-full`, `verify-ca` or `require` (the drivers' default `prefer` falls back to plain text)",
        ),
    adminPort: port.default(9180).describe("APISIX Admin API (flavor apisix)"),
    dashboardPort: port.optional().meta(doc("the dashboard; api7-v3: HTTPS", "`9000` (api7-v2), `17080` (api7-v3)")),
    dpManagerPort: port
        .default(7943)
        .describe("api7-v3: the DP Manager's TLS (mTLS) listener, the chart's 7943, what gateways and balancers use; not 7900 (its plain listener, on loopback)"),
    certificate: controlPlaneCertificateSchema
        .optional()
        .describe(
            "`{certificate, privateKey, caCertificate, host}`: clients of the Admin API and dashboards get this certificate (from the organisation's CA: the certificate, then any intermediates) instead of the stack's; `privateKey` is **secret**; `host` is the name clients use, which the certificate must carry. See [Security defaults](security.md#security-defaults), \"An operator's certificate\"",
        ),
});

/** The API7 v3 DP Manager's plain listener (the chart's 7900): kept on the node's loopback, never balanced. */
export const DP_MANAGER_PLAIN_PORT = 7900;

/** The API7 v3 dashboard's plain listener (the chart's 7080): switched off, as the chart does; its logins go over TLS only. */
export const DASHBOARD_PLAIN_PORT = 7080;

/** The API7 v2 dashboard's plain listener, which apisix-dashboard 2.13 always opens: kept on loopback, never balanced. */
export const API7V2_DASHBOARD_PLAIN_PORT = 9001;


/**
 * API7 v3: the gateways' mTLS identity towards the DP Manager, issued by the dashboard for the gateway
 * group (POST /api/gateway_groups/{id}/dp_client_certificates; `npm run api7:identity` fetches it).
 */
export const dpManagerIdentitySchema = z.strictObject({
    certificate: pemCertificate,
    /** The DP Manager's CA: verifies its server certificate (SNI api7ee3-dp-manager). */
    caCertificate: pemCertificate,
    /** Always a Pulumi secret. */
    privateKey: pemPrivateKey,
});

const label = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, '_' or '-'");

export const dataPlaneSchema = z.strictObject({
    replicas: z.number().int().default(2).describe("gateways, ≥ 2"),
    image: image
        .optional()
        .meta(doc("the gateways' image", `${code(DEFAULT_IMAGES.apisix)}, ${code(DEFAULT_IMAGES.api7v2Gateway)}, ${code(DEFAULT_IMAGES.api7v3Gateway)}`)),
    httpPort: port.default(80).describe("gateway HTTP listener (the balancer listens on the same port)"),
    httpsPort: port.default(443).describe("gateway HTTPS listener (the balancer listens on the same port)"),
    statusPort: port.default(7085).describe("`apisix.status` on `0.0.0.0`, probed by the balancers"),
    metricsPort: port.default(9091).describe("Prometheus export"),
    clusterId: label
        .optional()
        .meta(
            doc(
                "the gateway cluster's ID in the API7 v2 console (Cluster Management → Cluster List → Copy cluster information): gateways read `/api7/<clusterId>` in etcd; no default can match an ID the console generated",
                "— (**required** for `api7-v2`)",
            ),
        ),
    gatewayGroup: label
        .default("default")
        .describe("api7-v3: the gateway group's short ID (`API7_GATEWAY_GROUP_SHORT_ID`); the console's built-in group is `default`. It also names the standalone dump's object"),
    dpManagerIdentity: dpManagerIdentitySchema
        .optional()
        .describe(
            "api7-v3: the gateways' mTLS identity towards the DP Manager, `{certificate, caCertificate, privateKey}` (the key a secret), issued by the dashboard for the gateway group and written by `npm run api7:identity`; without it no gateways are deployed",
        ),
    adminAllow: z
        .array(z.string())
        .default(["127.0.0.0/24"])
        .describe("CIDRs allowed to reach the Admin API (`deployment.admin.allow_admin`); the control plane also allows its balancer nodes"),
    shutdownTimeoutSeconds: z
        .number()
        .int()
        .min(1, "must be at least 1")
        .max(3600, "must be at most 3600")
        .default(30)
        .describe(
            "how long a stopping gateway finishes its requests (`nginx_config.worker_shutdown_timeout`; APISIX defaults to 240 s); a rolling update drains a gateway, then stops it with this much time plus 10 s before it is killed",
        ),
});

export const healthCheckSchema = z.strictObject({
    path: z
        .string()
        .startsWith("/", "must start with '/'")
        .optional()
        .meta(doc("what the balancers probe; also the gateways' container health check", `${code(GATEWAY_READINESS_PATH.apisix)} (apisix), ${code(GATEWAY_READINESS_PATH["api7-v3"])} (api7)`)),
    port: port.optional().meta(doc("must equal it", code("dataPlane.statusPort"))),
    intervalSeconds: z.number().int().optional().meta(doc("1–3600; on aws the NLB's 5–300", "`2` (aws: `5`)")),
    timeoutSeconds: z.number().int().optional().meta(doc("1–3600, ≤ interval; on aws 2–120", "`1` (aws: `2`)")),
    fall: z.number().int().default(3).describe("failed checks before a gateway is taken out, 1–100; on aws the NLB's unhealthy threshold, 2–10"),
    rise: z
        .number()
        .int()
        .default(2)
        .describe("passed checks before it is put back, 1–100 (nginx has no `rise`: passive checks recover after `fail_timeout`); on aws the NLB's healthy threshold, 2–10"),
});

const positiveInt = (max: number) => z.number().int().min(1, "must be at least 1").max(max, `must be at most ${max}`);

/** What a vrrp_script runs; the type's own fields only (checked in keepalived.ts). */
export const vipCheckSchema = z.strictObject({
    type: choice("VipCheckType", VIP_CHECK_TYPES),
    /** http: the path that must answer 200. */
    path: z.string().startsWith("/", "must start with '/'").optional(),
    /** http / port: the port on the node (127.0.0.1). */
    port: port.optional(),
    /** process: a process name for `pgrep -x`. */
    process: z.string().regex(/^[A-Za-z0-9._-]{1,15}$/, "must be a process name (letters, digits, '.', '_', '-'; at most 15, the kernel's comm length)").optional(),
}).meta(argsType("VipCheckArgs"));

/** keepalived + IPVS virtual servers on a VIP (kind lvs). */
export const lvsSchema = z.strictObject({
    /** Virtual (and real) ports; default: the protected role's ports. */
    ports: z.array(port).min(1, "needs at least one port").optional(),
    lbAlgo: choice("LvsAlgo", LVS_ALGOS).default("wlc").describe("the IPVS scheduler: `rr`, `wrr`, `lc`, `wlc`, `sh`, `dh`, `lblc`"),
    lbKind: choice("LvsKind", LVS_KINDS).default("DR").describe("forwarding: `DR`, `TUN`, or `NAT` (hosts only)"),
    /** Seconds a client sticks to one real server; 0: off. */
    persistenceTimeout: z.number().int().min(0, "must be 0 (off) or more").max(2678400, "must be at most 2678400 (keepalived's limit)").default(0),
    /** IPVS weight per real-server node name; default 1. 0 quiesces a server. */
    weights: z.record(z.string(), z.number().int().min(0, "must be 0–65535").max(65535, "must be 0–65535")).optional(),
    checker: choice("LvsChecker", LVS_CHECKERS).default("TCP_CHECK").describe("`TCP_CHECK` on the real port, or `HTTP_GET` on the gateways' status endpoint (data-plane VIPs)"),
    /** Node names; default: the protected role's nodes. */
    realServers: z.array(z.string()).min(1, "needs at least one real server").optional(),
});

export const vipSchema = z.strictObject({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,30}$/, "must be lowercase letters, digits and '_', starting with a letter, at most 31 characters"),
    address: z.string().describe("IPv4 on local Docker nodes (inside `docker.subnet`, which gives the prefix); on hosts with its prefix, e.g. `192.168.101.100/24`"),
    virtualRouterId: z.number().int().describe("1–255, unique per segment"),
    protects: choice("VipProtects", VIP_PROTECTS).describe("`data-plane` (gateway ports), `control-plane` (control-plane ports) or `load-balancer` (a haproxy/nginx pair: both)"),
    nodes: z.array(z.string()).optional().meta(doc("node names holding the VIP, ≥ 2", "the protected role's nodes; kind `lvs`: the directors")),
    priorities: z.record(z.string(), z.number().int()).optional().meta(doc("VRRP priority per node name, 1–254, all different (255 only for `addressOwner`)", "`150, 100, 99, 98…` in node order")),
    addressOwner: z.string().optional().describe("the node that owns the address (priority 255, always preempts)"),
    initialState: choice("VrrpState", VRRP_STATES).optional().meta(doc("of the highest-priority node; the others start `BACKUP`", "`MASTER` (`BACKUP` with `nopreempt`/`preemptDelay`)")),
    authPass: z
        .string()
        .optional()
        .meta(doc("VRRP PASS authentication, **secret**, 1–8 characters: `pulumi config set --secret --path 'loadBalancer.keepalived.vips[0].authPass' …`", "generated (8 characters, `@pulumi/random`)")),
    check: vipCheckSchema
        .optional()
        .meta(
            doc(
                "`{type: http | port | process, path?, port?, process?}`: what the VIP's vrrp_script checks on its node; `process` (`pgrep -x`) only on hosts",
                "data-plane: `http` on `dataPlane.statusPort` + `loadBalancer.healthCheck.path`; control-plane / load-balancer: `port` on every port the VIP carries",
            ),
        ),
    lvs: lvsSchema
        .meta(argsType("LvsArgs"))
        .optional()
        .meta(
            doc(
                "IPVS virtual servers on the VIP: `{ports?, lbAlgo, lbKind, persistenceTimeout: 0 (seconds a client sticks to one real server), weights?: {node: 0–65535}, checker, realServers?}`; `ports` default to the protected role's ports, `realServers` to its nodes",
                "kind `lvs`: `{}`",
            ),
        ),
});

export const keepalivedSchema = z.strictObject({
    image: image.optional().meta(doc("keepalived's image (kinds `keepalived`/`lvs`: `loadBalancer.image` if set)", code(DEFAULT_IMAGES.keepalived))),
    interface: z
        .string()
        .regex(/^[A-Za-z0-9_.:-]{1,15}$/, "must be an interface name (at most 15 characters)")
        .default("eth0")
        .describe("the interface VRRP speaks on and the VIPs are added to (every VIP node has it)"),
    advertInt: positiveInt(255).default(1).describe("VRRPv2 advertisement interval, whole seconds (1–255)"),
    nopreempt: z.boolean().default(false).describe("a recovered master does not take the VIP back; every node starts BACKUP"),
    preemptDelay: z
        .number()
        .int()
        .min(0, "must be 0–1000 (keepalived)")
        .max(1000, "must be 0–1000 (keepalived)")
        .optional()
        .describe("seconds (0–1000) a recovered higher-priority node waits before taking the VIP back; every node starts BACKUP"),
    unicast: z.boolean().default(false).describe("`unicast_src_ip`/`unicast_peer` from the VIP's nodes' addresses, for networks without multicast"),
    scriptUser: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user name")
        .default("keepalived_script")
        .describe("the unprivileged user check scripts run as (`enable_script_security`); the image ships it"),
    check: z
        .strictObject({
            interval: positiveInt(3600).default(2),
            fall: positiveInt(100).default(2),
            rise: positiveInt(100).default(2),
            timeout: positiveInt(3600).default(1),
        })
        .meta(argsType("VipCheckTimingArgs"))
        .prefault({})
        .describe("the VIP check scripts' timing (and the LVS real-server checks': `delay_loop` interval, `connect_timeout` timeout, `retry` fall − 1)"),
    vips: z
        .array(vipSchema.meta(argsType("VipArgs")))
        .default([])
        .describe("the VRRP VIPs: `{name, address, virtualRouterId, protects, nodes?, priorities?, addressOwner?, initialState?, authPass?, check?, lvs?}`; see [keepalived VIPs](vips.md#keepalived-vips)"),
});

export const loadBalancerSchema = z.strictObject({
    kind: choice("BalancerKind", BALANCER_KINDS)
        .default("haproxy")
        .describe("`haproxy` (active checks), `nginx` (passive checks), `keepalived` (VRRP VIPs on the gateways and control plane, no proxy) or `lvs` (keepalived + IPVS on two directors); see [keepalived VIPs](vips.md#keepalived-vips)"),
    image: image.optional().meta(doc("the balancers' image", `${code(DEFAULT_IMAGES.haproxy)} / ${code(DEFAULT_IMAGES.nginx)}`)),
    healthCheck: healthCheckSchema.prefault({}),
    retries: z.number().int().min(0, "must be 0 or more").max(10, "must be at most 10").default(2).describe("extra attempts for a failed idempotent request, 0–10"),
    /** VRRP VIPs (kinds keepalived and lvs; with haproxy/nginx, a VIP over the balancer pair). */
    keepalived: keepalivedSchema.prefault({}),
});

/**
 * Sources of the flows from outside the platform, for the host firewalls (target ssh, remote Docker
 * hosts). Operators have no default: any would guess their network (all of RFC 1918 until 2026-12,
 * which let every private address reach the Admin API and dashboards).
 */
export const hostFirewallSchema = z
    .strictObject({
        /** Who reaches the gateway balancer. */
        clientCidrs: z.array(z.string()).default(["0.0.0.0/0"]),
        /** Who reaches the control-plane balancer (Admin API, dashboards). Required where hosts get a firewall. */
        operatorCidrs: z.array(z.string()).optional(),
        /** Who scrapes the gateways' metrics; none closes the metrics port. */
        monitoringCidrs: z.array(z.string()).default([]),
    })
    .meta(argsType("HostFirewallArgs"))
    .prefault({});

export const dockerSchema = z.strictObject({
    networkName: name.default("gateway-ha").describe("the user-defined network"),
    subnet: z.string().default("172.28.0.0/24").describe("node addresses are taken from `.11` up, unless set in `nodes`"),
    publishAddress: z.string().default("127.0.0.1").describe("host address the balancers' listeners are published on"),
    publishedPorts: z
        .strictObject({
            http: port.default(9080),
            https: port.default(9443),
            controlPlane: port.default(19000),
        })
        .prefault({})
        .describe("host ports of the first balancer node: the gateway balancer's (`http`, `https`) and the control-plane balancer's"),
    firewall: hostFirewallSchema.describe(
        "remote Docker hosts (nodes with `sshUser`) only: the sources of their host firewalls, as `ssh.firewall`; `operatorCidrs` is **required** with remote Docker hosts",
    ),
});

const subnetRef = z
    .strictObject({ id: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "must be a subnet ID subnet-…"), zone: z.string().min(1), cidr: z.string() })
    .meta(argsType("SubnetArgs"));

export const awsSchema = z.strictObject({
    region: z.string().optional().describe("required on target aws; every AWS resource goes to this region through an explicit provider"),
    vpcCidr: z.string().default("10.42.0.0/16").describe("a new VPC (/16–/24), cut into 16 blocks: private subnet per zone from block 0, public from block 8"),
    existingVpc: z
        .strictObject({
            vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, "must be a VPC ID vpc-…"),
            cidr: z.string(),
            privateSubnets: z.array(subnetRef).min(1),
            publicSubnets: z.array(subnetRef).default([]),
        })
        .optional()
        .describe("`{vpcId, cidr, privateSubnets: [{id, zone, cidr}], publicSubnets: [...]}` instead of a new VPC; one private (and, for an internet-facing balancer, public) subnet per zone"),
    zones: z.array(z.string().min(1)).optional().meta(doc("availability zones (≥ 3 with etcd, ≥ 2 for api7-v3)", "the region's first 3, looked up")),
    natGateways: choice("NatGatewayMode", NAT_GATEWAY_MODES).default("per-zone").describe("`per-zone` (a zone outage keeps the others' egress) or `single`"),
    instanceTypes: z
        .strictObject({
            default: z.string().default(DEFAULT_AWS_INSTANCE_TYPE),
            etcd: z.string().optional(),
            "control-plane": z.string().optional(),
            "data-plane": z.string().optional(),
        })
        .prefault({})
        .describe("per role (`etcd`, `control-plane`, `data-plane`); t3.medium is seed 001's 2 vCPU / 4 GiB; its architecture must match `aws.ami.architecture`"),
    ami: z
        .strictObject({
            owners: z.array(z.string()).min(1).default([...DEFAULT_AWS_AMI.owners]),
            namePattern: z.string().min(1).default(DEFAULT_AWS_AMI.namePattern),
            architecture: z.string().default(DEFAULT_AWS_AMI.architecture),
        })
        .prefault({})
        .describe("Ubuntu 24.04 LTS from Canonical, looked up by filter, never a hard-coded ID"),
    rootVolumeGb: z.number().int().min(8, "must be at least 8").max(16384).default(30).describe("each node's root volume (encrypted gp3)"),
    dataVolumeGb: z.number().int().min(1, "must be at least 1").max(16384).default(20).describe("each etcd member's data volume (encrypted gp3, its own)"),
    ssh: z
        .strictObject({ keyName: z.string().min(1), sourceCidr: z.string() })
        .meta(argsType("AwsSshArgs"))
        .optional()
        .describe("`{keyName, sourceCidr}`: SSH only with both, never from `0.0.0.0/0`; SSM Session Manager always works"),
    monitoringCidr: z.string().optional().describe("who may scrape the gateways' metrics port; closed without it"),
    operatorCidrs: z.array(z.string()).optional().meta(doc("who may reach the control-plane balancer; never `0.0.0.0/0`", "the VPC's CIDR")),
    gatewayBalancer: z
        .strictObject({
            internetFacing: z.boolean().default(true),
            clientCidrs: z.array(z.string()).optional(),
        })
        .prefault({})
        .describe("`clientCidrs` (who may reach the gateway balancer) default `0.0.0.0/0` when internet-facing, the VPC's CIDR when internal"),
    deregistrationDelaySeconds: z.number().int().min(0, "must be 0–3600 (AWS)").max(3600, "must be 0–3600 (AWS)").default(30).describe("how long the NLB drains a deregistered node, 0–3600"),
    tags: z.record(z.string(), z.string()).default({}).describe("added to every AWS resource"),
});

/** Target ssh: how the deployer reaches existing hosts, and who may reach the platform through their firewalls. */
export const sshSchema = z.strictObject({
    privateKey: z
        .string()
        .optional()
        .describe("target ssh, exactly one of this and `ssh.agent`: the deployer's OpenSSH or PEM key (**secret**, `pulumi config set --secret --path ssh.privateKey \"$(cat key)\"`)"),
    agent: z.boolean().default(false).describe("use the deployer's SSH agent (`SSH_AUTH_SOCK`) instead of a key in config, e.g. for a passphrase-protected key"),
    knownHosts: z
        .array(z.string().min(1))
        .optional()
        .meta(
            doc(
                "every node's pinned host key as `known_hosts` lines (`ssh-keyscan -t ed25519 <address>`, `-p PORT` off port 22); host keys are always checked, there is no switch to turn that off",
                "— (**required** on target ssh)",
            ),
        ),
    connectTimeoutSeconds: z.number().int().min(1, "must be 1–300").max(300, "must be 1–300").default(10).describe("per dial attempt, 1–300"),
    waitSeconds: z
        .number()
        .int()
        .min(0, "must be 0–3600")
        .max(3600, "must be 0–3600")
        .default(300)
        .describe("how long a host step retries until SSH answers, e.g. a VM still booting (⌈waitSeconds / connectTimeoutSeconds⌉ attempts)"),
    healthTimeoutSeconds: z.number().int().min(10, "must be 10–3600").max(3600, "must be 10–3600").default(300).describe("how long a rolling step waits for a restarted service to turn healthy before `pulumi up` fails"),
    purgeOnDestroy: z
        .boolean()
        .default(false)
        .describe(
            "a destroy (or a node leaving the stack) also removes what the stack put on the host: containers, files, secrets, staged copies, firewall rules, and with `protectData: false` the data; Docker stays. Off: the hosts keep everything but the containers (see [Destroying a stack](day-2.md#destroying-a-stack))",
        ),
    firewall: hostFirewallSchema.meta(
        doc(
            "who may reach the gateway listeners (`clientCidrs`), the control plane: Admin API, dashboards (`operatorCidrs`), the metrics port (`monitoringCidrs`, closed without any). `operatorCidrs` has no default: it was all of RFC 1918 until 2026-12, so a stack that relied on it is refused (naming the key) until it is set; `[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]` keeps it as it was",
            "`{clientCidrs: [0.0.0.0/0], monitoringCidrs: []}`; `operatorCidrs` **required**",
        ),
    ),
});

export const fallbackStorageSchema = z.strictObject({
    kind: choice("StorageKind", STORAGE_KINDS)
        .default("s3")
        .describe(
            "`s3`: Amazon S3 (instance roles on aws, one IAM user per side elsewhere); `local`: an S3-compatible server container on a `storage` node (target docker, no AWS account; API7 images newer than 3.2.16, which has no endpoint key)",
        ),
    region: z.string().optional().meta(doc("kind s3: the buckets' region", "`aws.region` on target aws")),
    configBucket: z
        .string()
        .optional()
        .meta(doc("instance configuration (keyrings, discovery); required for `s3` (bucket names are global); S3's naming rules, no dots", "`gateway-config` (local)")),
    resourceBucket: z.string().optional().meta(doc("resources (routes, services); required for `s3`; S3's naming rules, no dots", "`gateway-resources` (local)")),
    cronSpec: z
        .string()
        .default("@every 1m")
        .describe("the control plane's dump schedule (seed 002: `@every 1m`): `@every <Go duration>` (≥ 10 s), a descriptor (`@hourly`…) or 5 cron fields"),
    noncurrentVersionDays: z.number().int().min(1, "must be at least 1").max(3650).default(30).describe("old object versions expire after this many days"),
    image: image.default(DEFAULT_IMAGES.objectStorage).describe("kind local: the S3-compatible server's image (it ships `mc`); see [Resilience runbook](resilience.md#resilience-runbook)"),
    port: port.default(9000).describe("kind local: the server's port"),
});

export const resilienceSchema = z.strictObject({
    mode: choice("ResilienceMode", RESILIENCE_MODES)
        .default("connected")
        .describe("`connected` (gateways follow the control plane) or `standalone` (they serve the last dump from the buckets; see [Resilience runbook](resilience.md#resilience-runbook))"),
    fallbackStorage: fallbackStorageSchema.optional().describe("the fallback buckets (flavor api7-v3) the control plane dumps its configuration to"),
});

export const platformConfigSchema = z.strictObject({
    flavor: choice("Flavor", FLAVORS).default("apisix").describe("`apisix`, `api7-v2` or `api7-v3` (see [Flavors](flavors.md))"),
    target: choice("TargetKind", TARGETS)
        .default("docker")
        .describe(
            "`docker`, `aws` (see [AWS target](targets/aws.md#aws-target)) or `ssh` (existing hosts, see [SSH target](targets/ssh.md#ssh-target-existing-hosts)). `kubernetes` fails validation with \"not available yet\"",
        ),
    layout: choice("Layout", LAYOUTS).default("standard").describe("`standard`, `compact` or `custom`"),
    nodes: z
        .array(nodeSchema)
        .default([])
        .describe(
            "list of `{name, address?, roles?, cpus?, memoryGb?, sshUser?, sshPort?}`. In `custom`, the nodes and their `roles` (`etcd`, `control-plane`, `data-plane`, `load-balancer`, `storage`). Otherwise, overrides for nodes the layout creates (by name, e.g. `dp-1`): a fixed address, a size, or a remote Docker host (`sshUser`, `sshPort`)",
        ),
    etcd: etcdSchema.prefault({}),
    controlPlane: controlPlaneSchema.prefault({}),
    dataPlane: dataPlaneSchema.prefault({}),
    loadBalancer: loadBalancerSchema.prefault({}),
    docker: dockerSchema.prefault({}),
    aws: awsSchema.prefault({}),
    ssh: sshSchema.prefault({}),
    resilience: resilienceSchema.prefault({}),
    protectData: z
        .boolean()
        .default(true)
        .describe(
            "`protect` on what holds data or is bound to it: the etcd volumes (Docker, EBS), the etcd users' passwords, the fallback buckets (with their hardening), the local S3 server's volume, logins and KMS key; a destroy or replacement that would delete one fails instead. `false` lets a destroy delete them, and the buckets force-destroy their dumps (see [Destroying a stack](day-2.md#destroying-a-stack))",
        ),
    localDevelopment: z
        .boolean()
        .default(false)
        .describe(
            "marks a development stack on this machine's Docker engine (no remote hosts), whose state never leaves it: the only kind that may run with an empty `PULUMI_CONFIG_PASSPHRASE`. The dev stack sets it; any other stack with an empty passphrase is refused (see [Security defaults](security.md#security-defaults))",
        ),
});

/** Config as parsed, before flavor-dependent defaults and cross-field rules. */
export type PlatformConfig = z.infer<typeof platformConfigSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;

/** The config keys the program reads (all under the `gateway-ha:` namespace). */
export const CONFIG_KEYS = Object.keys(platformConfigSchema.shape) as (keyof PlatformConfig)[];
