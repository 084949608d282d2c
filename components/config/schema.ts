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

export const nodeSchema = z.strictObject({
    name,
    address: z.string().optional(),
    roles: z.array(z.string()).optional(),
    cpus: z.number().positive().optional(),
    memoryGb: z.number().positive().optional(),
    /** With `address`: target docker runs the node's containers on ssh://sshUser@address; target ssh logs in as this user. */
    sshUser: z
        .string()
        .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, "must be a user name: letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 32 (no '@', spaces or quotes)")
        .optional(),
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
    /** Raise by one to rotate etcd's root password: the next `up` generates a new one and changes it in etcd with the previous one. */
    rootPasswordRotation: z.number().int().min(0, "must be 0 or more").default(0),
    /** Raise by one to rotate the control plane's and the gateways' etcd passwords: new users, the consumers rolled onto them, then the previous users revoked. */
    consumerPasswordRotation: z.number().int().min(0, "must be 0 or more").default(0),
    /** The CA generation that signs every etcd certificate: raised by one in the middle phase of a CA rotation (docs/day-2.md, "Rotating the CA"). */
    caGeneration: z.number().int().min(0, "must be 0 or more").default(0),
    /** The CA generations every member and client trusts; unset, only `caGeneration`. During a rotation two consecutive ones. */
    caTrust: z.array(z.number().int().min(0, "must be 0 or more")).optional(),
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
    /** API7 v3: the DP Manager's TLS listener (mTLS), the chart's 7943; its plain listener stays on loopback. */
    dpManagerPort: port.default(7943),
    certificate: controlPlaneCertificateSchema.optional(),
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

export const dataPlaneSchema = z.strictObject({
    replicas: z.number().int().default(2),
    image: image.optional(),
    httpPort: port.default(80),
    httpsPort: port.default(443),
    statusPort: port.default(7085),
    metricsPort: port.default(9091),
    /**
     * API7 v2 (required there): the ID the console gave this gateway cluster (Cluster Management →
     * Cluster List → Copy cluster information); gateways read /api7/<clusterId> in etcd.
     */
    clusterId: z.string().regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, '_' or '-'").optional(),
    /**
     * API7 v3: the gateway group's short ID (API7_GATEWAY_GROUP_SHORT_ID); the console's built-in group
     * is `default`. It also names the standalone dump's object.
     */
    gatewayGroup: z.string().regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, '_' or '-'").default("default"),
    dpManagerIdentity: dpManagerIdentitySchema.optional(),
    /** CIDRs allowed to reach the Admin API. */
    adminAllow: z.array(z.string()).default(["127.0.0.0/24"]),
    /**
     * How long a stopping gateway finishes its requests (nginx's worker_shutdown_timeout; APISIX's
     * default is 240 s). A rolling update waits this long, plus a margin, before it kills one.
     */
    shutdownTimeoutSeconds: z.number().int().min(1, "must be at least 1").max(3600, "must be at most 3600").default(30),
});

export const healthCheckSchema = z.strictObject({
    /** Default per flavor: GATEWAY_READINESS_PATH. */
    path: z.string().startsWith("/", "must start with '/'").optional(),
    port: port.optional(),
    /** Default per target: 2 s (haproxy/nginx); 5 s on aws, the NLB's minimum. */
    intervalSeconds: z.number().int().optional(),
    /** Default per target: 1 s (haproxy/nginx); 2 s on aws, the NLB's minimum. */
    timeoutSeconds: z.number().int().optional(),
    fall: z.number().int().default(3),
    rise: z.number().int().default(2),
});

const positiveInt = (max: number) => z.number().int().min(1, "must be at least 1").max(max, `must be at most ${max}`);

/** What a vrrp_script runs; the type's own fields only (checked in keepalived.ts). */
export const vipCheckSchema = z.strictObject({
    type: z.string(),
    /** http: the path that must answer 200. */
    path: z.string().startsWith("/", "must start with '/'").optional(),
    /** http / port: the port on the node (127.0.0.1). */
    port: port.optional(),
    /** process: a process name for `pgrep -x`. */
    process: z.string().regex(/^[A-Za-z0-9._-]{1,15}$/, "must be a process name (letters, digits, '.', '_', '-'; at most 15, the kernel's comm length)").optional(),
});

/** keepalived + IPVS virtual servers on a VIP (kind lvs). */
export const lvsSchema = z.strictObject({
    /** Virtual (and real) ports; default: the protected role's ports. */
    ports: z.array(port).min(1, "needs at least one port").optional(),
    lbAlgo: z.string().default("wlc"),
    lbKind: z.string().default("DR"),
    /** Seconds a client sticks to one real server; 0: off. */
    persistenceTimeout: z.number().int().min(0, "must be 0 (off) or more").max(2678400, "must be at most 2678400 (keepalived's limit)").default(0),
    /** IPVS weight per real-server node name; default 1. 0 quiesces a server. */
    weights: z.record(z.string(), z.number().int().min(0, "must be 0–65535").max(65535, "must be 0–65535")).optional(),
    checker: z.string().default("TCP_CHECK"),
    /** Node names; default: the protected role's nodes. */
    realServers: z.array(z.string()).min(1, "needs at least one real server").optional(),
});

export const vipSchema = z.strictObject({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,30}$/, "must be lowercase letters, digits and '_', starting with a letter, at most 31 characters"),
    /** IPv4, with a prefix (192.168.101.100/24) on hosts; on local Docker nodes the prefix is docker.subnet's. */
    address: z.string(),
    virtualRouterId: z.number().int(),
    protects: z.string(),
    /** Node names holding the VIP; default: the protected role's nodes (the directors for kind lvs). */
    nodes: z.array(z.string()).optional(),
    /** VRRP priority per node name; default 150, 100, 99, 98… in node order. */
    priorities: z.record(z.string(), z.number().int()).optional(),
    /** The node that owns the address (may have priority 255; default priority 255). */
    addressOwner: z.string().optional(),
    /** Initial state of the highest-priority node; default MASTER, or BACKUP with nopreempt / preemptDelay. */
    initialState: z.string().optional(),
    /** VRRP PASS authentication, at most 8 characters; a secret. Default: generated. */
    authPass: z.string().optional(),
    check: vipCheckSchema.optional(),
    lvs: lvsSchema.optional(),
});

export const keepalivedSchema = z.strictObject({
    image: image.optional(),
    /** The interface VRRP speaks on and the VIPs are added to (every VIP node has it). */
    interface: z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, "must be an interface name (at most 15 characters)").default("eth0"),
    /** VRRPv2 advertisement interval, whole seconds. */
    advertInt: positiveInt(255).default(1),
    nopreempt: z.boolean().default(false),
    /** Seconds a higher-priority node waits before taking the VIP back (keepalived: 0–1000). */
    preemptDelay: z.number().int().min(0, "must be 0–1000 (keepalived)").max(1000, "must be 0–1000 (keepalived)").optional(),
    /** true: unicast_peer from the VIP's nodes' addresses (networks without multicast). */
    unicast: z.boolean().default(false),
    /** The unprivileged user check scripts run as (enable_script_security). */
    scriptUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user name").default("keepalived_script"),
    check: z
        .strictObject({
            interval: positiveInt(3600).default(2),
            fall: positiveInt(100).default(2),
            rise: positiveInt(100).default(2),
            timeout: positiveInt(3600).default(1),
        })
        .prefault({}),
    vips: z.array(vipSchema).default([]),
});

export const loadBalancerSchema = z.strictObject({
    kind: z.string().default("haproxy"),
    image: image.optional(),
    healthCheck: healthCheckSchema.prefault({}),
    /** Extra upstream attempts for an idempotent request after a failed one. */
    retries: z.number().int().min(0, "must be 0 or more").max(10, "must be at most 10").default(2),
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
    .prefault({});

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
    /** Remote Docker hosts (nodes with sshUser): their host firewalls' sources, as target ssh's. */
    firewall: hostFirewallSchema,
});

const subnetRef = z.strictObject({ id: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "must be a subnet ID subnet-…"), zone: z.string().min(1), cidr: z.string() });

export const awsSchema = z.strictObject({
    /** Required on target aws; every AWS resource goes to this region through an explicit provider. */
    region: z.string().optional(),
    /** A new VPC with a public and a private subnet per zone, carved from this CIDR. */
    vpcCidr: z.string().default("10.42.0.0/16"),
    /** Or an existing VPC: its ID and one private (and, for an internet-facing balancer, public) subnet per zone. */
    existingVpc: z
        .strictObject({
            vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, "must be a VPC ID vpc-…"),
            cidr: z.string(),
            privateSubnets: z.array(subnetRef).min(1),
            publicSubnets: z.array(subnetRef).default([]),
        })
        .optional(),
    /** Availability-zone names; default: the region's first 3 available zones, looked up. */
    zones: z.array(z.string().min(1)).optional(),
    natGateways: z.string().default("per-zone"),
    instanceTypes: z
        .strictObject({
            default: z.string().default(DEFAULT_AWS_INSTANCE_TYPE),
            etcd: z.string().optional(),
            "control-plane": z.string().optional(),
            "data-plane": z.string().optional(),
        })
        .prefault({}),
    ami: z
        .strictObject({
            owners: z.array(z.string()).min(1).default([...DEFAULT_AWS_AMI.owners]),
            namePattern: z.string().min(1).default(DEFAULT_AWS_AMI.namePattern),
            architecture: z.string().default(DEFAULT_AWS_AMI.architecture),
        })
        .prefault({}),
    rootVolumeGb: z.number().int().min(8, "must be at least 8").max(16384).default(30),
    /** Size of each persistent data volume (etcd's data directory). */
    dataVolumeGb: z.number().int().min(1, "must be at least 1").max(16384).default(20),
    /** SSH is off unless both are set; SSM Session Manager is always available. */
    ssh: z.strictObject({ keyName: z.string().min(1), sourceCidr: z.string() }).optional(),
    /** Where Prometheus scrapes from; without it the metrics port is closed. */
    monitoringCidr: z.string().optional(),
    /** Who may reach the control-plane balancer; default: the VPC's CIDR. */
    operatorCidrs: z.array(z.string()).optional(),
    gatewayBalancer: z
        .strictObject({
            internetFacing: z.boolean().default(true),
            /** Who may reach the gateway balancer; default 0.0.0.0/0 when internet-facing, the VPC's CIDR when internal. */
            clientCidrs: z.array(z.string()).optional(),
        })
        .prefault({}),
    deregistrationDelaySeconds: z.number().int().min(0, "must be 0–3600 (AWS)").max(3600, "must be 0–3600 (AWS)").default(30),
    tags: z.record(z.string(), z.string()).default({}),
});

/** Target ssh: how the deployer reaches existing hosts, and who may reach the platform through their firewalls. */
export const sshSchema = z.strictObject({
    /** OpenSSH or PEM private key; a Pulumi secret (`pulumi config set --secret --path ssh.privateKey`). */
    privateKey: z.string().optional(),
    /** Use the deployer's SSH agent (SSH_AUTH_SOCK) instead of a key in config, e.g. for a passphrase-protected key. */
    agent: z.boolean().default(false),
    /**
     * Pinned host keys, as known_hosts lines (`ssh-keyscan -t ed25519 [-p <port>] <address>` prints
     * them); required on target ssh, one for every node (checked in validate.ts, with the node named).
     */
    knownHosts: z.array(z.string().min(1)).optional(),
    connectTimeoutSeconds: z.number().int().min(1, "must be 1–300").max(300, "must be 1–300").default(10),
    /** How long a host may take to answer SSH (a VM still booting). */
    waitSeconds: z.number().int().min(0, "must be 0–3600").max(3600, "must be 0–3600").default(300),
    /** How long a restarted service may take to turn healthy before `pulumi up` fails. */
    healthTimeoutSeconds: z.number().int().min(10, "must be 10–3600").max(3600, "must be 10–3600").default(300),
    /**
     * `pulumi destroy` (or a node leaving the stack) also removes what the stack put on the host: its
     * containers, files, secrets, staged copies and firewall rules, and with `protectData: false` its
     * data directories. Docker stays. Off: the hosts keep everything but the containers.
     */
    purgeOnDestroy: z.boolean().default(false),
    /** Sources of the flows from outside the platform, for the host firewalls. */
    firewall: hostFirewallSchema,
});

export const fallbackStorageSchema = z.strictObject({
    kind: z.string().default("s3"),
    /** kind s3: the buckets' region; default aws.region on target aws. */
    region: z.string().optional(),
    /** Instance configuration (keyrings, discovery). Required for kind s3: bucket names are global. */
    configBucket: z.string().optional(),
    /** Resources (routes, services). Required for kind s3. */
    resourceBucket: z.string().optional(),
    /** How often the control plane dumps its configuration (seed 002: `@every 1m`). */
    cronSpec: z.string().default("@every 1m"),
    /** Old object versions expire after this many days. */
    noncurrentVersionDays: z.number().int().min(1, "must be at least 1").max(3650).default(30),
    /** kind local: the server's image and port. */
    image: image.default(DEFAULT_IMAGES.objectStorage),
    port: port.default(9000),
});

export const resilienceSchema = z.strictObject({
    /** connected: gateways follow the control plane; standalone: they serve the last dump from the buckets. */
    mode: z.string().default("connected"),
    fallbackStorage: fallbackStorageSchema.optional(),
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
    aws: awsSchema.prefault({}),
    ssh: sshSchema.prefault({}),
    resilience: resilienceSchema.prefault({}),
    /**
     * `protect` on what holds data or is bound to it (etcd volumes, the etcd users' passwords,
     * the fallback buckets): a destroy or replacement that would delete one fails instead.
     */
    protectData: z.boolean().default(true),
    /**
     * A development stack on this machine's Docker engine, whose state never leaves it: the only
     * kind that may run with an empty state passphrase.
     */
    localDevelopment: z.boolean().default(false),
});

/** Config as parsed, before flavor-dependent defaults and cross-field rules. */
export type PlatformConfig = z.infer<typeof platformConfigSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;

/** The config keys the program reads (all under the `gateway-ha:` namespace). */
export const CONFIG_KEYS = Object.keys(platformConfigSchema.shape) as (keyof PlatformConfig)[];
