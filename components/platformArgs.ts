// Generated from components/config/schema.ts by `npm run generate`; edit the schema, not this file.
// GatewayPlatform's Args: the stack config's keys (docs/configuration.md), secrets as Inputs.
import type * as pulumi from "@pulumi/pulumi";

export const Flavor = {
    Apisix: "apisix",
    Api7V2: "api7-v2",
    Api7V3: "api7-v3",
} as const;
export type Flavor = (typeof Flavor)[keyof typeof Flavor];

export const TargetKind = {
    Docker: "docker",
    Ssh: "ssh",
    Aws: "aws",
    Kubernetes: "kubernetes",
} as const;
export type TargetKind = (typeof TargetKind)[keyof typeof TargetKind];

export const Layout = {
    Standard: "standard",
    Compact: "compact",
    Custom: "custom",
} as const;
export type Layout = (typeof Layout)[keyof typeof Layout];

export const Role = {
    Etcd: "etcd",
    ControlPlane: "control-plane",
    DataPlane: "data-plane",
    LoadBalancer: "load-balancer",
    Storage: "storage",
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export const BalancerKind = {
    Nginx: "nginx",
    Haproxy: "haproxy",
    Keepalived: "keepalived",
    Lvs: "lvs",
} as const;
export type BalancerKind = (typeof BalancerKind)[keyof typeof BalancerKind];

export const VipProtects = {
    ControlPlane: "control-plane",
    DataPlane: "data-plane",
    LoadBalancer: "load-balancer",
} as const;
export type VipProtects = (typeof VipProtects)[keyof typeof VipProtects];

export const VrrpState = {
    Master: "MASTER",
    Backup: "BACKUP",
} as const;
export type VrrpState = (typeof VrrpState)[keyof typeof VrrpState];

export const VipCheckType = {
    Http: "http",
    Port: "port",
    Process: "process",
} as const;
export type VipCheckType = (typeof VipCheckType)[keyof typeof VipCheckType];

export const LvsAlgo = {
    Rr: "rr",
    Wrr: "wrr",
    Lc: "lc",
    Wlc: "wlc",
    Sh: "sh",
    Dh: "dh",
    Lblc: "lblc",
} as const;
export type LvsAlgo = (typeof LvsAlgo)[keyof typeof LvsAlgo];

export const LvsKind = {
    Nat: "NAT",
    Dr: "DR",
    Tun: "TUN",
} as const;
export type LvsKind = (typeof LvsKind)[keyof typeof LvsKind];

export const LvsChecker = {
    TcpCheck: "TCP_CHECK",
    HttpGet: "HTTP_GET",
} as const;
export type LvsChecker = (typeof LvsChecker)[keyof typeof LvsChecker];

export const NatGatewayMode = {
    PerZone: "per-zone",
    Single: "single",
} as const;
export type NatGatewayMode = (typeof NatGatewayMode)[keyof typeof NatGatewayMode];

export const ResilienceMode = {
    Connected: "connected",
    Standalone: "standalone",
} as const;
export type ResilienceMode = (typeof ResilienceMode)[keyof typeof ResilienceMode];

export const StorageKind = {
    S3: "s3",
    Local: "local",
} as const;
export type StorageKind = (typeof StorageKind)[keyof typeof StorageKind];

export interface GatewayPlatformArgs {
    /** `apisix`, `api7-v2` or `api7-v3` (see Flavors) (default: `apisix`) */
    flavor?: Flavor;
    /** `docker`, `aws` (see AWS target) or `ssh` (existing hosts, see SSH target). `kubernetes` fails validation with "not available yet" (default: `docker`) */
    target?: TargetKind;
    /** `standard`, `compact` or `custom` (default: `standard`) */
    layout?: Layout;
    /** list of `{name, address?, roles?, cpus?, memoryGb?, sshUser?, sshPort?}`. In `custom`, the nodes and their `roles` (`etcd`, `control-plane`, `data-plane`, `load-balancer`, `storage`). Otherwise, overrides for nodes the layout creates (by name, e.g. `dp-1`): a fixed address, a size, or a remote Docker host (`sshUser`, `sshPort`) (default: `[]`) */
    nodes?: NodeArgs[];
    etcd?: EtcdArgs;
    controlPlane?: ControlPlaneArgs;
    dataPlane?: DataPlaneArgs;
    loadBalancer?: LoadBalancerArgs;
    docker?: DockerArgs;
    aws?: AwsArgs;
    ssh?: SshArgs;
    resilience?: ResilienceArgs;
    /** `protect` on what holds data or is bound to it: the etcd volumes (Docker, EBS), the etcd users' passwords, the fallback buckets (with their hardening), the local S3 server's volume, logins and KMS key; a destroy or replacement that would delete one fails instead. `false` lets a destroy delete them, and the buckets force-destroy their dumps (see Destroying a stack) (default: `true`) */
    protectData?: boolean;
    /** marks a development stack on this machine's Docker engine (no remote hosts), whose state never leaves it: the only kind that may run with an empty `PULUMI_CONFIG_PASSPHRASE`. The dev stack sets it; any other stack with an empty passphrase is refused (see Security defaults) (default: `false`) */
    localDevelopment?: boolean;
}

export interface ResilienceArgs {
    /** `connected` (gateways follow the control plane) or `standalone` (they serve the last dump from the buckets; see Resilience runbook) (default: `connected`) */
    mode?: ResilienceMode;
    /** the fallback buckets (flavor api7-v3) the control plane dumps its configuration to */
    fallbackStorage?: FallbackStorageArgs;
}

export interface FallbackStorageArgs {
    /** `s3`: Amazon S3 (instance roles on aws, one IAM user per side elsewhere); `local`: an S3-compatible server container on a `storage` node (target docker, no AWS account; API7 images newer than 3.2.16, which has no endpoint key) (default: `s3`) */
    kind?: StorageKind;
    /** kind s3: the buckets' region (default: `aws.region` on target aws) */
    region?: string;
    /** instance configuration (keyrings, discovery); required for `s3` (bucket names are global); S3's naming rules, no dots (default: `gateway-config` (local)) */
    configBucket?: string;
    /** resources (routes, services); required for `s3`; S3's naming rules, no dots (default: `gateway-resources` (local)) */
    resourceBucket?: string;
    /** the control plane's dump schedule (seed 002: `@every 1m`): `@every <Go duration>` (≥ 10 s), a descriptor (`@hourly`…) or 5 cron fields (default: `@every 1m`) */
    cronSpec?: string;
    /** old object versions expire after this many days (default: `30`) */
    noncurrentVersionDays?: number;
    /** kind local: the S3-compatible server's image (it ships `mc`); see Resilience runbook (default: `quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z`) */
    image?: string;
    /** kind local: the server's port (default: `9000`) */
    port?: number;
}

export interface SshArgs {
    /** target ssh, exactly one of this and `ssh.agent`: the deployer's OpenSSH or PEM key (**secret**, `pulumi config set --secret --path ssh.privateKey "$(cat key)"`) */
    privateKey?: pulumi.Input<string>;
    /** use the deployer's SSH agent (`SSH_AUTH_SOCK`) instead of a key in config, e.g. for a passphrase-protected key (default: `false`) */
    agent?: boolean;
    /** every node's pinned host key as `known_hosts` lines (`ssh-keyscan -t ed25519 <address>`, `-p PORT` off port 22); host keys are always checked, there is no switch to turn that off */
    knownHosts?: string[];
    /** per dial attempt, 1–300 (default: `10`) */
    connectTimeoutSeconds?: number;
    /** how long a host step retries until SSH answers, e.g. a VM still booting (⌈waitSeconds / connectTimeoutSeconds⌉ attempts) (default: `300`) */
    waitSeconds?: number;
    /** how long a rolling step waits for a restarted service to turn healthy before `pulumi up` fails (default: `300`) */
    healthTimeoutSeconds?: number;
    /** a destroy (or a node leaving the stack) also removes what the stack put on the host: containers, files, secrets, staged copies, firewall rules, and with `protectData: false` the data; Docker stays. Off: the hosts keep everything but the containers (see Destroying a stack) (default: `false`) */
    purgeOnDestroy?: boolean;
    /** who may reach the gateway listeners (`clientCidrs`), the control plane: Admin API, dashboards (`operatorCidrs`), the metrics port (`monitoringCidrs`, closed without any). `operatorCidrs` has no default: it was all of RFC 1918 until 2026-12, so a stack that relied on it is refused (naming the key) until it is set; `[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]` keeps it as it was (default: `{clientCidrs: [0.0.0.0/0], monitoringCidrs: []}`; `operatorCidrs` **required**) */
    firewall?: HostFirewallArgs;
}

export interface AwsArgs {
    /** required on target aws; every AWS resource goes to this region through an explicit provider */
    region?: string;
    /** a new VPC (/16–/24), cut into 16 blocks: private subnet per zone from block 0, public from block 8 (default: `10.42.0.0/16`) */
    vpcCidr?: string;
    /** `{vpcId, cidr, privateSubnets: [{id, zone, cidr}], publicSubnets: [...]}` instead of a new VPC; one private (and, for an internet-facing balancer, public) subnet per zone */
    existingVpc?: ExistingVpcArgs;
    /** availability zones (≥ 3 with etcd, ≥ 2 for api7-v3) (default: the region's first 3, looked up) */
    zones?: string[];
    /** `per-zone` (a zone outage keeps the others' egress) or `single` (default: `per-zone`) */
    natGateways?: NatGatewayMode;
    /** per role (`etcd`, `control-plane`, `data-plane`); t3.medium is seed 001's 2 vCPU / 4 GiB; its architecture must match `aws.ami.architecture` (default: `{default: t3.medium}`) */
    instanceTypes?: InstanceTypesArgs;
    /** Ubuntu 24.04 LTS from Canonical, looked up by filter, never a hard-coded ID (default: `{owners: [099720109477], namePattern: ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*, architecture: x86_64}`) */
    ami?: AmiArgs;
    /** each node's root volume (encrypted gp3) (default: `30`) */
    rootVolumeGb?: number;
    /** each etcd member's data volume (encrypted gp3, its own) (default: `20`) */
    dataVolumeGb?: number;
    /** `{keyName, sourceCidr}`: SSH only with both, never from `0.0.0.0/0`; SSM Session Manager always works */
    ssh?: AwsSshArgs;
    /** who may scrape the gateways' metrics port; closed without it */
    monitoringCidr?: string;
    /** who may reach the control-plane balancer; never `0.0.0.0/0` (default: the VPC's CIDR) */
    operatorCidrs?: string[];
    /** `clientCidrs` (who may reach the gateway balancer) default `0.0.0.0/0` when internet-facing, the VPC's CIDR when internal (default: `{internetFacing: true}`) */
    gatewayBalancer?: GatewayBalancerArgs;
    /** how long the NLB drains a deregistered node, 0–3600 (default: `30`) */
    deregistrationDelaySeconds?: number;
    /** added to every AWS resource (default: `{}`) */
    tags?: { [key: string]: string };
}

export interface GatewayBalancerArgs {
    /** Default: `true` */
    internetFacing?: boolean;
    clientCidrs?: string[];
}

export interface AwsSshArgs {
    keyName: string;
    sourceCidr: string;
}

export interface AmiArgs {
    /** Default: `[099720109477]` */
    owners?: string[];
    /** Default: `ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*` */
    namePattern?: string;
    /** Default: `x86_64` */
    architecture?: string;
}

export interface InstanceTypesArgs {
    /** Default: `t3.medium` */
    default?: string;
    etcd?: string;
    "control-plane"?: string;
    "data-plane"?: string;
}

export interface ExistingVpcArgs {
    vpcId: string;
    cidr: string;
    privateSubnets: SubnetArgs[];
    /** Default: `[]` */
    publicSubnets?: SubnetArgs[];
}

export interface SubnetArgs {
    id: string;
    zone: string;
    cidr: string;
}

export interface DockerArgs {
    /** the user-defined network (default: `gateway-ha`) */
    networkName?: string;
    /** node addresses are taken from `.11` up, unless set in `nodes` (default: `172.28.0.0/24`) */
    subnet?: string;
    /** host address the balancers' listeners are published on (default: `127.0.0.1`) */
    publishAddress?: string;
    /** host ports of the first balancer node: the gateway balancer's (`http`, `https`) and the control-plane balancer's (default: `{http: 9080, https: 9443, controlPlane: 19000}`) */
    publishedPorts?: PublishedPortsArgs;
    /** remote Docker hosts (nodes with `sshUser`) only: the sources of their host firewalls, as `ssh.firewall`; `operatorCidrs` is **required** with remote Docker hosts (default: `{clientCidrs: [0.0.0.0/0], monitoringCidrs: []}`) */
    firewall?: HostFirewallArgs;
}

export interface HostFirewallArgs {
    /** Default: `[0.0.0.0/0]` */
    clientCidrs?: string[];
    operatorCidrs?: string[];
    /** Default: `[]` */
    monitoringCidrs?: string[];
}

export interface PublishedPortsArgs {
    /** Default: `9080` */
    http?: number;
    /** Default: `9443` */
    https?: number;
    /** Default: `19000` */
    controlPlane?: number;
}

export interface LoadBalancerArgs {
    /** `haproxy` (active checks), `nginx` (passive checks), `keepalived` (VRRP VIPs on the gateways and control plane, no proxy) or `lvs` (keepalived + IPVS on two directors); see keepalived VIPs (default: `haproxy`) */
    kind?: BalancerKind;
    /** the balancers' image (default: `haproxy:2.8.26-alpine` / `nginx:1.27.4-alpine`) */
    image?: string;
    healthCheck?: HealthCheckArgs;
    /** extra attempts for a failed idempotent request, 0–10 (default: `2`) */
    retries?: number;
    keepalived?: KeepalivedArgs;
}

export interface KeepalivedArgs {
    /** keepalived's image (kinds `keepalived`/`lvs`: `loadBalancer.image` if set) (default: `ednxzu/keepalived:2.2.8`) */
    image?: string;
    /** the interface VRRP speaks on and the VIPs are added to (every VIP node has it) (default: `eth0`) */
    interface?: string;
    /** VRRPv2 advertisement interval, whole seconds (1–255) (default: `1`) */
    advertInt?: number;
    /** a recovered master does not take the VIP back; every node starts BACKUP (default: `false`) */
    nopreempt?: boolean;
    /** seconds (0–1000) a recovered higher-priority node waits before taking the VIP back; every node starts BACKUP */
    preemptDelay?: number;
    /** `unicast_src_ip`/`unicast_peer` from the VIP's nodes' addresses, for networks without multicast (default: `false`) */
    unicast?: boolean;
    /** the unprivileged user check scripts run as (`enable_script_security`); the image ships it (default: `keepalived_script`) */
    scriptUser?: string;
    /** the VIP check scripts' timing (and the LVS real-server checks': `delay_loop` interval, `connect_timeout` timeout, `retry` fall − 1) (default: `{interval: 2, fall: 2, rise: 2, timeout: 1}`) */
    check?: VipCheckTimingArgs;
    /** the VRRP VIPs: `{name, address, virtualRouterId, protects, nodes?, priorities?, addressOwner?, initialState?, authPass?, check?, lvs?}`; see keepalived VIPs (default: `[]`) */
    vips?: VipArgs[];
}

export interface VipArgs {
    name: string;
    /** IPv4 on local Docker nodes (inside `docker.subnet`, which gives the prefix); on hosts with its prefix, e.g. `192.168.101.100/24` */
    address: string;
    /** 1–255, unique per segment */
    virtualRouterId: number;
    /** `data-plane` (gateway ports), `control-plane` (control-plane ports) or `load-balancer` (a haproxy/nginx pair: both) */
    protects: VipProtects;
    /** node names holding the VIP, ≥ 2 (default: the protected role's nodes; kind `lvs`: the directors) */
    nodes?: string[];
    /** VRRP priority per node name, 1–254, all different (255 only for `addressOwner`) (default: `150, 100, 99, 98…` in node order) */
    priorities?: { [key: string]: number };
    /** the node that owns the address (priority 255, always preempts) */
    addressOwner?: string;
    /** of the highest-priority node; the others start `BACKUP` (default: `MASTER` (`BACKUP` with `nopreempt`/`preemptDelay`)) */
    initialState?: VrrpState;
    /** VRRP PASS authentication, **secret**, 1–8 characters: `pulumi config set --secret --path 'loadBalancer.keepalived.vips[0].authPass' …` (default: generated (8 characters, `@pulumi/random`)) */
    authPass?: pulumi.Input<string>;
    /** `{type: http | port | process, path?, port?, process?}`: what the VIP's vrrp_script checks on its node; `process` (`pgrep -x`) only on hosts (default: data-plane: `http` on `dataPlane.statusPort` + `loadBalancer.healthCheck.path`; control-plane / load-balancer: `port` on every port the VIP carries) */
    check?: VipCheckArgs;
    /** IPVS virtual servers on the VIP: `{ports?, lbAlgo, lbKind, persistenceTimeout: 0 (seconds a client sticks to one real server), weights?: {node: 0–65535}, checker, realServers?}`; `ports` default to the protected role's ports, `realServers` to its nodes (default: kind `lvs`: `{}`) */
    lvs?: LvsArgs;
}

export interface LvsArgs {
    ports?: number[];
    /** the IPVS scheduler: `rr`, `wrr`, `lc`, `wlc`, `sh`, `dh`, `lblc` (default: `wlc`) */
    lbAlgo?: LvsAlgo;
    /** forwarding: `DR`, `TUN`, or `NAT` (hosts only) (default: `DR`) */
    lbKind?: LvsKind;
    /** Default: `0` */
    persistenceTimeout?: number;
    weights?: { [key: string]: number };
    /** `TCP_CHECK` on the real port, or `HTTP_GET` on the gateways' status endpoint (data-plane VIPs) (default: `TCP_CHECK`) */
    checker?: LvsChecker;
    realServers?: string[];
}

export interface VipCheckArgs {
    type: VipCheckType;
    path?: string;
    port?: number;
    process?: string;
}

export interface VipCheckTimingArgs {
    /** Default: `2` */
    interval?: number;
    /** Default: `2` */
    fall?: number;
    /** Default: `2` */
    rise?: number;
    /** Default: `1` */
    timeout?: number;
}

export interface HealthCheckArgs {
    /** what the balancers probe; also the gateways' container health check (default: `/status/ready` (apisix), `/status` (api7)) */
    path?: string;
    /** must equal it (default: `dataPlane.statusPort`) */
    port?: number;
    /** 1–3600; on aws the NLB's 5–300 (default: `2` (aws: `5`)) */
    intervalSeconds?: number;
    /** 1–3600, ≤ interval; on aws 2–120 (default: `1` (aws: `2`)) */
    timeoutSeconds?: number;
    /** failed checks before a gateway is taken out, 1–100; on aws the NLB's unhealthy threshold, 2–10 (default: `3`) */
    fall?: number;
    /** passed checks before it is put back, 1–100 (nginx has no `rise`: passive checks recover after `fail_timeout`); on aws the NLB's healthy threshold, 2–10 (default: `2`) */
    rise?: number;
}

export interface DataPlaneArgs {
    /** gateways, ≥ 2 (default: `2`) */
    replicas?: number;
    /** the gateways' image (default: `apache/apisix:3.14.1-debian`, `api7ee.azurecr.io/api7-gateway:2.13.2304`, `api7/api7-ee-3-gateway:3.2.16.3`) */
    image?: string;
    /** gateway HTTP listener (the balancer listens on the same port) (default: `80`) */
    httpPort?: number;
    /** gateway HTTPS listener (the balancer listens on the same port) (default: `443`) */
    httpsPort?: number;
    /** `apisix.status` on `0.0.0.0`, probed by the balancers (default: `7085`) */
    statusPort?: number;
    /** Prometheus export (default: `9091`) */
    metricsPort?: number;
    /** the gateway cluster's ID in the API7 v2 console (Cluster Management → Cluster List → Copy cluster information): gateways read `/api7/<clusterId>` in etcd; no default can match an ID the console generated */
    clusterId?: string;
    /** api7-v3: the gateway group's short ID (`API7_GATEWAY_GROUP_SHORT_ID`); the console's built-in group is `default`. It also names the standalone dump's object (default: `default`) */
    gatewayGroup?: string;
    /** api7-v3: the gateways' mTLS identity towards the DP Manager, `{certificate, caCertificate, privateKey}` (the key a secret), issued by the dashboard for the gateway group and written by `npm run api7:identity`; without it no gateways are deployed */
    dpManagerIdentity?: DpManagerIdentityArgs;
    /** CIDRs allowed to reach the Admin API (`deployment.admin.allow_admin`); the control plane also allows its balancer nodes (default: `[127.0.0.0/24]`) */
    adminAllow?: string[];
    /** how long a stopping gateway finishes its requests (`nginx_config.worker_shutdown_timeout`; APISIX defaults to 240 s); a rolling update drains a gateway, then stops it with this much time plus 10 s before it is killed (default: `30`) */
    shutdownTimeoutSeconds?: number;
}

export interface DpManagerIdentityArgs {
    certificate: string;
    caCertificate: string;
    privateKey: pulumi.Input<string>;
}

export interface ControlPlaneArgs {
    /** control-plane nodes (≥ 1; `compact` places at most 2) (default: `2`) */
    replicas?: number;
    /** the APISIX control plane's (apisix) or the dashboard's image (api7-*) (default: `apache/apisix:3.14.1-debian`, `api7ee.azurecr.io/api7-dashboard:2.13.2304`, `api7/api7-ee-3-integrated:v3.2.16.3`) */
    image?: string;
    /** api7-v3 only; its tag must be the dashboard's (default: `api7/api7-ee-dp-manager:v3.2.16.3`) */
    dpManagerImage?: string;
    /** **secret**, required for api7-v3: `pulumi config set --secret --path controlPlane.databaseDsn 'postgres://user:pw@host:5432/api7ee?sslmode=verify-full'`. `sslmode` must be `verify-full`, `verify-ca` or `require` (the drivers' default `prefer` falls back to plain text) */
    databaseDsn?: pulumi.Input<string>;
    /** APISIX Admin API (flavor apisix) (default: `9180`) */
    adminPort?: number;
    /** the dashboard; api7-v3: HTTPS (default: `9000` (api7-v2), `17080` (api7-v3)) */
    dashboardPort?: number;
    /** api7-v3: the DP Manager's TLS (mTLS) listener, the chart's 7943, what gateways and balancers use; not 7900 (its plain listener, on loopback) (default: `7943`) */
    dpManagerPort?: number;
    /** `{certificate, privateKey, caCertificate, host}`: clients of the Admin API and dashboards get this certificate (from the organisation's CA: the certificate, then any intermediates) instead of the stack's; `privateKey` is **secret**; `host` is the name clients use, which the certificate must carry. See Security defaults, "An operator's certificate" */
    certificate?: ControlPlaneCertificateArgs;
}

export interface ControlPlaneCertificateArgs {
    certificate: string;
    privateKey: pulumi.Input<string>;
    caCertificate: string;
    host: string;
}

export interface EtcdArgs {
    /** odd, ≥ 3 (3, 5, 7 tolerate 1, 2, 3 failures). `compact` needs exactly 3. `custom` counts the nodes with role `etcd` (default: `3`) */
    members?: number;
    /** the official image, pinned (bitnami/etcd was withdrawn in 2025) (default: `gcr.io/etcd-development/etcd:v3.5.21`) */
    image?: string;
    /** Raft heartbeat, identical on every member (default: `100`) */
    heartbeatMs?: number;
    /** election timeout, ≥ 5 × heartbeat and ≤ 50000 (default: `1000`) */
    electionMs?: number;
    /** client and peer TLS with generated certificates (`https://` endpoints, client-cert auth) (default: `true`) */
    tls?: boolean;
    /** root + per-consumer users, auth enabled after the cluster forms (default: `true`) */
    auth?: boolean;
    /** initial cluster token (default: `<project>-<stack>-etcd`) */
    clusterToken?: string;
    /** client listener (default: `2379`) */
    clientPort?: number;
    /** peer (Raft) listener (default: `2380`) */
    peerPort?: number;
    /** backend size (bytes) at which etcd stops taking writes; etcd's own default is 2 GiB (default: `2147483648`) */
    quotaBackendBytes?: number;
    /** raise by one to rotate etcd's root password: the next `up` generates a new one and changes it in etcd with the previous one (see the etcd runbook) (default: `0`) */
    rootPasswordRotation?: number;
    /** raise by one to rotate the control plane's and the gateways' etcd passwords: new users, consumers rolled onto them, previous users revoked (see the etcd runbook) (default: `0`) */
    consumerPasswordRotation?: number;
    /** the CA generation that signs every etcd certificate; raised by one in the middle phase of a CA rotation (see the etcd runbook) (default: `0`) */
    caGeneration?: number;
    /** the CA generations every member and client trusts: one, or two consecutive ones during a rotation; must include `caGeneration` (default: `[caGeneration]`) */
    caTrust?: number[];
}

export interface NodeArgs {
    name: string;
    address?: string;
    roles?: Role[];
    /** vCPUs of the node (seed 001: 2C4G). On Docker, each service container on the node is capped at it (default: `2`) */
    cpus?: number;
    /** memory of the node, GiB. On Docker, each service container on the node is capped at it (default: `4`) */
    memoryGb?: number;
    sshUser?: string;
    sshPort?: number;
}
