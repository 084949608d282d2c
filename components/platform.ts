import * as pulumi from "@pulumi/pulumi";
import { ControlPlane } from "./controlPlane";
import { EtcdCluster } from "./etcdCluster";
import { FallbackStorage } from "./fallbackStorage";
import { GatewayGroup } from "./gatewayGroup";
import { LoadBalancer } from "./loadBalancer";
import { VirtualIps, vipEntryPoints } from "./vip";
import { PLAIN_OUTPUT_KEYS, SECRET_OUTPUT_KEYS, type BalancerDnsNames, type Credential, type EtcdCredentials, type FallbackBucketsOutput, type NodeOutput } from "./outputs";
import { CertificateAuthority, type ManagementPki } from "./pki";
import type { Target } from "./service";
import { certificateNotAfter } from "./config/certificates";
import { claimPhysical } from "./claims";
import { planPlatform, type PlatformPlan } from "./plan";
import { AwsTarget } from "./targets/aws";
import { DockerTarget } from "./targets/docker";
import { SshTarget } from "./targets/ssh";
import { usesEtcd } from "./topology/ports";
import { componentType, withPreviousToken } from "./tokens";
import type { GatewayPlatformArgs } from "./platformArgs";

export type { GatewayPlatformArgs } from "./platformArgs";

function createTarget(name: string, plan: PlatformPlan, parent: pulumi.Resource): Target {
    switch (plan.spec.target) {
        case "docker":
            return new DockerTarget(`${name}-docker`, { plan }, { parent });
        case "ssh":
            return new SshTarget(`${name}-ssh`, { plan }, { parent });
        case "aws":
            return new AwsTarget(`${name}-aws`, { plan }, { parent });
        default:
            throw new Error(`target ${plan.spec.target} is not available yet`);
    }
}

/** The building blocks a platform is made of (TypeScript programs may reach them; other languages see the outputs). */
export interface PlatformBlocks {
    etcd?: EtcdCluster;
    fallbackStorage?: FallbackStorage;
    controlPlane: ControlPlane;
    gateways: GatewayGroup;
    /** Balancer nodes' haproxy/nginx; absent on aws, where the target's NLBs balance. */
    loadBalancer?: LoadBalancer;
    /** keepalived VIPs (loadBalancer.keepalived.vips); absent without any. */
    vips?: VirtualIps;
}

// Outside the instance: Pulumi's component analyzer takes every property of the class for an output.
const blocksOf = new WeakMap<GatewayPlatform, PlatformBlocks>();

/**
 * A highly available API-gateway platform: etcd (flavors apisix and api7-v2), the control plane,
 * gateways and their load balancers or keepalived VIPs, on local Docker, existing hosts over SSH,
 * or AWS. Its Args are the stack configuration's keys (docs/configuration.md); its outputs are the
 * stack outputs other stacks read (components/outputs.ts).
 */
export class GatewayPlatform extends pulumi.ComponentResource {
    /** apisix, api7-v2 or api7-v3. */
    readonly flavor: pulumi.Output<string>;
    /** docker, ssh or aws. */
    readonly target: pulumi.Output<string>;
    /** standard, compact or custom. */
    readonly layout: pulumi.Output<string>;
    /** Clients' entry point: the gateway balancer (HTTP). */
    readonly gatewayUrl: pulumi.Output<string>;
    /** The gateway balancer's HTTPS (TLS pass-through to the gateways). */
    readonly gatewayHttpsUrl: pulumi.Output<string>;
    /** Operators' entry point: the control-plane balancer (Admin API or dashboard), over HTTPS verified with managementCaCert. */
    readonly controlPlaneUrl: pulumi.Output<string>;
    /** PEM of the CA controlPlaneUrl's clients trust. */
    readonly managementCaCert: pulumi.Output<string>;
    /** etcd client URLs on the platform network; empty for api7-v3. */
    readonly etcdEndpoints: pulumi.Output<string[]>;
    /** Every node's address and roles, by name. */
    readonly nodes: pulumi.Output<{ [name: string]: NodeOutput }>;
    /** PEM of the CA that signs etcd's certificates; empty when etcd TLS is off or for api7-v3. */
    readonly etcdCaCert: pulumi.Output<string>;
    /** Host names of the balancers: the NLBs' DNS names on aws; the published host or balancer node elsewhere. */
    readonly balancerDnsNames: pulumi.Output<BalancerDnsNames>;
    /** The data-plane fallback buckets; absent without fallback storage. */
    readonly fallbackBuckets: pulumi.Output<FallbackBucketsOutput | undefined>;
    /** When each certificate the stack deploys expires (RFC 3339), by name. */
    readonly certificateExpiry: pulumi.Output<{ [id: string]: string }>;
    /** APISIX Admin API key (flavor apisix; empty otherwise); a secret. */
    readonly adminKey: pulumi.Output<string>;
    /** The dashboards' admin login the stack generated (api7-v2; empty otherwise); a secret. */
    readonly dashboardAdmin: pulumi.Output<Credential>;
    /** etcd's users and passwords (empty when etcd auth is off); a secret. */
    readonly etcdCredentials: pulumi.Output<EtcdCredentials>;

    constructor(name: string, args: GatewayPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validated before super(): bad Args register nothing, not even this component.
        const plan = planPlatform(name, args, { component: "GatewayPlatform" });
        const { spec, topology, secrets } = plan;
        claimPhysical(`GatewayPlatform ${name}`, plan, "all", "args.");
        super(componentType("GatewayPlatform"), name, {}, withPreviousToken("gateway-ha:platform:GatewayPlatform", opts));
        const supplied = spec.controlPlane.certificate;
        const child = { parent: this };
        const target = createTarget(name, plan, this);
        const common = { target };

        const etcd = usesEtcd(spec) ? new EtcdCluster(`${name}-etcd`, common, child) : undefined;
        const storage = spec.resilience.fallbackStorage;
        // The AWS target's provider carries its region and default tags; reuse it when the buckets live there.
        const provider = target instanceof AwsTarget && storage?.region === spec.aws.region ? target.provider : undefined;
        const fallback = storage ? new FallbackStorage(`${name}-fallback`, { ...common, provider }, child) : undefined;
        // VIPs, where they carry a side, are the entry points; the target's otherwise.
        const viaVip = vipEntryPoints(spec, topology);
        const entry = viaVip.gatewayUrl && viaVip.controlPlaneUrl ? (viaVip as ReturnType<Target["entryPoints"]>) : { ...target.entryPoints(), ...viaVip };
        const proxied = (spec.loadBalancer.kind === "haproxy" || spec.loadBalancer.kind === "nginx") && topology.byRole["load-balancer"].length > 0;
        // TLS ends on the balancers where they proxy, on the nodes otherwise (VIPs, an NLB's TCP listener).
        const managementCa = new CertificateAuthority(`${name}-management`, `${spec.project}-${spec.stack} management CA`, { signing: 0, trusted: [0] }, child);
        // Renewal windows of their own, after etcd's, fixed: a count derived from etcd's members would
        // move them when etcd scales, and a moved window reissues the certificate (a balancer restart).
        const renewal = { controlPlane: 10, balancers: 20 };
        const served = supplied && secrets.controlPlaneKey && { certPem: supplied.certificate, keyPem: secrets.controlPlaneKey, caPem: supplied.caCertificate, host: supplied.host };
        // The operator's certificate goes where the clients' TLS ends: the balancers, or the nodes.
        const management = (entryHosts: pulumi.Input<string>[], firstRenewalOrder: number, endsClientTls: boolean): ManagementPki => ({
            ca: managementCa,
            entryHosts,
            firstRenewalOrder,
            ...(served && endsClientTls ? { served } : {}),
        });
        const controlPlane = new ControlPlane(
            `${name}-control-plane`,
            { ...common, etcd, fallback, management: management(proxied ? [] : [entry.controlPlaneBalancerHost], renewal.controlPlane, !proxied) },
            child,
        );
        // api7-v3 gateways register with the DP Manager, so they start after the control plane.
        const cpReady = spec.flavor === "api7-v3" ? controlPlane.services.map((s) => s.resource) : [];
        const loadBalancer = proxied
            ? new LoadBalancer(`${name}-lb`, { ...common, dependsOn: cpReady, management: management([entry.controlPlaneBalancerHost], renewal.balancers, true) }, child)
            : undefined;
        const vips = topology.vips.length > 0 ? new VirtualIps(`${name}-vip`, common, child) : undefined;
        const gateways = new GatewayGroup(
            `${name}-gateways`,
            {
                ...common,
                etcd,
                fallback,
                dependsOn:
                    spec.flavor === "api7-v3"
                        ? [...cpReady, ...(loadBalancer?.services.map((s) => s.resource) ?? []), ...(vips?.services.map((s) => s.resource) ?? [])]
                        : [],
            },
            child,
        );
        blocksOf.set(this, { etcd, fallbackStorage: fallback, controlPlane, gateways, loadBalancer, vips });

        // A consumer password rotation's last step: the previous users go once both consumers have
        // rolled (their services too: on aws they are the target's, the nodes' health gates).
        etcd?.revokePreviousConsumerUsers([controlPlane, gateways, ...[...controlPlane.services, ...gateways.services].map((s) => s.resource)]);
        target.complete();
        this.flavor = pulumi.output(spec.flavor);
        this.target = pulumi.output(spec.target);
        this.layout = pulumi.output(spec.layout);
        this.gatewayUrl = pulumi.output(entry.gatewayUrl);
        this.gatewayHttpsUrl = pulumi.output(entry.gatewayHttpsUrl);
        // Clients reach the operator's certificate by the name it carries, on the entry point's port.
        this.controlPlaneUrl = pulumi.output(entry.controlPlaneUrl).apply((url) => (supplied ? withHost(url, supplied.host) : url));
        this.etcdEndpoints = pulumi.output(etcd?.clientUrls ?? []);
        this.nodes = pulumi.output(Object.fromEntries(topology.nodes.map((n) => [n.name, { address: n.address, roles: n.roles }])));
        this.etcdCaCert = etcd ? etcd.caCertPem : pulumi.output("");
        // What the control plane's clients trust: the operator's CA where its certificate is served.
        this.managementCaCert = supplied ? pulumi.output(supplied.caCertificate) : managementCa.certPem;
        this.balancerDnsNames = pulumi.all([entry.gatewayBalancerHost, entry.controlPlaneBalancerHost]).apply(([gateway, controlPlane]) => ({ gateway, controlPlane }));
        this.certificateExpiry = pulumi.all([etcd?.certificateExpiry ?? {}, managementCa.expiry]).apply(([etcdExpiry, managed]): Record<string, string> => {
            const out = {
                ...Object.fromEntries(Object.entries(etcdExpiry).map(([id, at]) => [`etcd/${id}`, at])),
                ...Object.fromEntries(Object.entries(managed).map(([id, at]) => [`management/${id}`, at])),
            };
            const operator = supplied && certificateNotAfter(supplied.certificate);
            const identity = spec.dataPlane.dpManagerIdentity && certificateNotAfter(spec.dataPlane.dpManagerIdentity.certificate);
            return { ...out, ...(operator ? { "management/operator": operator } : {}), ...(identity ? { dpManagerIdentity: identity } : {}) };
        });
        this.fallbackBuckets = pulumi.output(
            fallback ? { config: fallback.configBucket, resource: fallback.resourceBucket, region: fallback.region, endpoint: fallback.endpoint, mode: spec.resilience.mode } : undefined,
        );
        const cred = (user: string, pw?: pulumi.Output<string>) => (pw ?? pulumi.output("")).apply((password) => ({ user, password }));
        this.adminKey = pulumi.secret(controlPlane.adminKey ?? pulumi.output(""));
        this.dashboardAdmin = pulumi.secret(
            controlPlane.dashboardAdmin
                ? controlPlane.dashboardAdmin.password.apply((password) => ({ user: controlPlane.dashboardAdmin!.user, password }))
                : pulumi.output({ user: "", password: "" }),
        );
        this.etcdCredentials = pulumi.secret(
            pulumi
                .all([
                    cred("root", etcd?.rootPassword),
                    cred(etcd?.consumers["control-plane"].user ?? "control-plane", etcd?.consumers["control-plane"].password),
                    cred(etcd?.consumers.gateway.user ?? "gateway", etcd?.consumers.gateway.password),
                ])
                .apply(([root, controlPlane, gateway]) => ({ root, "control-plane": controlPlane, gateway })),
        );
        this.registerOutputs(Object.fromEntries([...PLAIN_OUTPUT_KEYS, ...SECRET_OUTPUT_KEYS].map((k) => [k, this[k]])));
    }

    /** The building blocks, for TypeScript programs that depend on one (e.g. `dependsOn: platform.blocks.gateways`). */
    get blocks(): PlatformBlocks {
        return blocksOf.get(this)!;
    }
}

/** `url` with its host replaced (scheme, port and path kept). */
function withHost(url: string, host: string): string {
    const u = new URL(url);
    u.hostname = host;
    return u.toString().replace(/\/$/, "");
}
