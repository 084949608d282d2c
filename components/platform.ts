import * as pulumi from "@pulumi/pulumi";
import { ControlPlane } from "./controlPlane";
import { EtcdCluster } from "./etcdCluster";
import { FallbackStorage } from "./fallbackStorage";
import { GatewayGroup } from "./gatewayGroup";
import { LoadBalancer } from "./loadBalancer";
import { VirtualIps, vipEntryPoints } from "./vip";
import type { PlatformOutputs, PlatformSecretOutputs } from "./outputs";
import { CertificateAuthority, type ManagementPki } from "./pki";
import type { Target } from "./service";
import { certificateNotAfter } from "./config/certificates";
import type { PlatformSpec } from "./config/types";
import { AwsTarget } from "./targets/aws";
import { DockerTarget } from "./targets/docker";
import { SshTarget } from "./targets/ssh";
import { usesEtcd } from "./topology/ports";
import type { Topology } from "./topology/types";
import { componentType, withPreviousToken } from "./tokens";

export interface GatewayPlatformArgs {
    spec: PlatformSpec;
    topology: Topology;
    /** PostgreSQL DSN (api7-v3); pass a Pulumi secret. */
    databaseDsn?: pulumi.Input<string>;
    /** API7 v3: the private key of the gateways' DP Manager client certificate (dataPlane.dpManagerIdentity.privateKey); pass a Pulumi secret. */
    dpClientKey?: pulumi.Input<string>;
    /** Target ssh: the deployer's private key (ssh.privateKey); pass a Pulumi secret. */
    sshPrivateKey?: pulumi.Input<string>;
    /** Configured VRRP secrets by VIP name (Pulumi secrets); the others are generated. */
    vipAuthPass?: Record<string, pulumi.Input<string>>;
    /** The private key of controlPlane.certificate (required with it); pass a Pulumi secret. */
    controlPlaneKey?: pulumi.Input<string>;
}

function createTarget(name: string, args: GatewayPlatformArgs, parent: pulumi.Resource): Target {
    const { spec, topology } = args;
    switch (spec.target) {
        case "docker":
            return new DockerTarget(`${name}-docker`, { spec, topology }, { parent });
        case "ssh":
            return new SshTarget(`${name}-ssh`, { spec, topology, privateKey: args.sshPrivateKey }, { parent });
        case "aws":
            return new AwsTarget(`${name}-aws`, { spec, topology }, { parent });
        default:
            throw new Error(`target ${spec.target} is not available yet`);
    }
}

/**
 * The whole platform from a validated spec: etcd (for the etcd flavors), control plane,
 * gateways and balancers, on the configured target.
 */
export class GatewayPlatform extends pulumi.ComponentResource {
    readonly outputs: { [K in keyof PlatformOutputs]: pulumi.Output<PlatformOutputs[K]> };
    readonly secretOutputs: { [K in keyof PlatformSecretOutputs]: pulumi.Output<PlatformSecretOutputs[K]> };
    readonly etcd?: EtcdCluster;
    readonly fallbackStorage?: FallbackStorage;
    readonly controlPlane: ControlPlane;
    readonly gateways: GatewayGroup;
    /** Balancer nodes' haproxy/nginx; absent on aws, where the target's NLBs balance. */
    readonly loadBalancer?: LoadBalancer;
    /** keepalived VIPs (loadBalancer.keepalived.vips); absent without any. */
    readonly vips?: VirtualIps;

    constructor(name: string, args: GatewayPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super(componentType("GatewayPlatform"), name, {}, withPreviousToken("gateway-ha:platform:GatewayPlatform", opts));
        const { spec, topology } = args;
        if (spec.flavor === "api7-v3" && args.databaseDsn === undefined)
            throw new Error("GatewayPlatform: controlPlane.databaseDsn is required for flavor api7-v3");
        const supplied = spec.controlPlane.certificate;
        if (supplied && args.controlPlaneKey === undefined) throw new Error("GatewayPlatform: args.controlPlaneKey is required with controlPlane.certificate (the certificate's private key)");
        const child = { parent: this };
        const target = createTarget(name, args, this);
        const common = { spec, topology, target };

        this.etcd = usesEtcd(spec) ? new EtcdCluster(`${name}-etcd`, common, child) : undefined;
        const storage = spec.resilience.fallbackStorage;
        // The AWS target's provider carries its region and default tags; reuse it when the buckets live there.
        const provider = target instanceof AwsTarget && storage?.region === spec.aws.region ? target.provider : undefined;
        const fallback = storage ? new FallbackStorage(`${name}-fallback`, { ...common, provider }, child) : undefined;
        this.fallbackStorage = fallback;
        // VIPs, where they carry a side, are the entry points; the target's otherwise.
        const viaVip = vipEntryPoints(spec, topology);
        const entry = viaVip.gatewayUrl && viaVip.controlPlaneUrl ? (viaVip as ReturnType<Target["entryPoints"]>) : { ...target.entryPoints(), ...viaVip };
        const proxied = (spec.loadBalancer.kind === "haproxy" || spec.loadBalancer.kind === "nginx") && topology.byRole["load-balancer"].length > 0;
        // TLS ends on the balancers where they proxy, on the nodes otherwise (VIPs, an NLB's TCP listener).
        const managementCa = new CertificateAuthority(`${name}-management`, `${spec.project}-${spec.stack} management CA`, { signing: 0, trusted: [0] }, child);
        // Renewal windows of their own, after etcd's, fixed: a count derived from etcd's members would
        // move them when etcd scales, and a moved window reissues the certificate (a balancer restart).
        const renewal = { controlPlane: 10, balancers: 20 };
        const served = supplied && { certPem: supplied.certificate, keyPem: pulumi.secret(args.controlPlaneKey!), caPem: supplied.caCertificate, host: supplied.host };
        // The operator's certificate goes where the clients' TLS ends: the balancers, or the nodes.
        const management = (entryHosts: pulumi.Input<string>[], firstRenewalOrder: number, endsClientTls: boolean): ManagementPki => ({
            ca: managementCa,
            entryHosts,
            firstRenewalOrder,
            ...(served && endsClientTls ? { served } : {}),
        });
        this.controlPlane = new ControlPlane(
            `${name}-control-plane`,
            { ...common, etcd: this.etcd, databaseDsn: args.databaseDsn, fallback, management: management(proxied ? [] : [entry.controlPlaneBalancerHost], renewal.controlPlane, !proxied) },
            child,
        );
        // api7-v3 gateways register with the DP Manager, so they start after the control plane.
        const cpReady = spec.flavor === "api7-v3" ? this.controlPlane.services.map((s) => s.resource) : [];
        this.loadBalancer = proxied
            ? new LoadBalancer(
                  `${name}-lb`,
                  { ...common, dependsOn: cpReady, management: management([entry.controlPlaneBalancerHost], renewal.balancers, true) },
                  child,
              )
            : undefined;
        this.vips = topology.vips.length > 0 ? new VirtualIps(`${name}-vip`, { ...common, authPass: args.vipAuthPass }, child) : undefined;
        this.gateways = new GatewayGroup(
            `${name}-gateways`,
            {
                ...common,
                etcd: this.etcd,
                fallback,
                dpClientKey: args.dpClientKey,
                dependsOn:
                    spec.flavor === "api7-v3"
                        ? [...cpReady, ...(this.loadBalancer?.services.map((s) => s.resource) ?? []), ...(this.vips?.services.map((s) => s.resource) ?? [])]
                        : [],
            },
            child,
        );

        // A consumer password rotation's last step: the previous users go once both consumers have
        // rolled (their services too: on aws they are the target's, the nodes' health gates).
        this.etcd?.revokePreviousConsumerUsers([this.controlPlane, this.gateways, ...[...this.controlPlane.services, ...this.gateways.services].map((s) => s.resource)]);
        target.complete();
        this.outputs = {
            flavor: pulumi.output(spec.flavor),
            target: pulumi.output(spec.target),
            layout: pulumi.output(spec.layout),
            gatewayUrl: pulumi.output(entry.gatewayUrl),
            gatewayHttpsUrl: pulumi.output(entry.gatewayHttpsUrl),
            // Clients reach the operator's certificate by the name it carries, on the entry point's port.
            controlPlaneUrl: pulumi.output(entry.controlPlaneUrl).apply((url) => (supplied ? withHost(url, supplied.host) : url)),
            etcdEndpoints: pulumi.output(this.etcd?.clientUrls ?? []),
            nodes: pulumi.output(Object.fromEntries(topology.nodes.map((n) => [n.name, { address: n.address, roles: n.roles }]))),
            etcdCaCert: this.etcd ? this.etcd.caCertPem : pulumi.output(""),
            // What the control plane's clients trust: the operator's CA where its certificate is served.
            managementCaCert: supplied ? pulumi.output(supplied.caCertificate) : managementCa.certPem,
            balancerDnsNames: pulumi.all([entry.gatewayBalancerHost, entry.controlPlaneBalancerHost]).apply(([gateway, controlPlane]) => ({ gateway, controlPlane })),
            certificateExpiry: pulumi
                .all([this.etcd?.certificateExpiry ?? {}, managementCa.expiry])
                .apply(([etcd, managed]): Record<string, string> => {
                    const out = {
                        ...Object.fromEntries(Object.entries(etcd).map(([id, at]) => [`etcd/${id}`, at])),
                        ...Object.fromEntries(Object.entries(managed).map(([id, at]) => [`management/${id}`, at])),
                    };
                    const operator = supplied && certificateNotAfter(supplied.certificate);
                    const identity = spec.dataPlane.dpManagerIdentity && certificateNotAfter(spec.dataPlane.dpManagerIdentity.certificate);
                    return { ...out, ...(operator ? { "management/operator": operator } : {}), ...(identity ? { dpManagerIdentity: identity } : {}) };
                }),
            fallbackBuckets: pulumi.output(
                fallback
                    ? { config: fallback.configBucket, resource: fallback.resourceBucket, region: fallback.region, endpoint: fallback.endpoint, mode: spec.resilience.mode }
                    : null,
            ),
        };
        const cred = (user: string, pw?: pulumi.Output<string>) => (pw ?? pulumi.output("")).apply((password) => ({ user, password }));
        this.secretOutputs = {
            adminKey: pulumi.secret(this.controlPlane.adminKey ?? pulumi.output("")),
            dashboardAdmin: pulumi.secret(
                this.controlPlane.dashboardAdmin
                    ? this.controlPlane.dashboardAdmin.password.apply((password) => ({ user: this.controlPlane.dashboardAdmin!.user, password }))
                    : pulumi.output({ user: "", password: "" }),
            ),
            etcdCredentials: pulumi.secret(
                pulumi
                    .all([
                        cred("root", this.etcd?.rootPassword),
                        cred(this.etcd?.consumers["control-plane"].user ?? "control-plane", this.etcd?.consumers["control-plane"].password),
                        cred(this.etcd?.consumers.gateway.user ?? "gateway", this.etcd?.consumers.gateway.password),
                    ])
                    .apply(([root, controlPlane, gateway]) => ({ root, "control-plane": controlPlane, gateway })),
            ),
        };
        this.registerOutputs({ ...this.outputs, ...this.secretOutputs });
    }
}

/** `url` with its host replaced (scheme, port and path kept). */
function withHost(url: string, host: string): string {
    const u = new URL(url);
    u.hostname = host;
    return u.toString().replace(/\/$/, "");
}
