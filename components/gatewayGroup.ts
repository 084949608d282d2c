import * as pulumi from "@pulumi/pulumi";
import type { EtcdCluster } from "./etcdCluster";
import type { FallbackStorage } from "./fallbackStorage";
import { API7_GATEWAY_GROUP_ENV, APISIX_PATHS, SECRET_ENV, renderGatewayConfig } from "./render/gateway";
import { GATEWAY_BACKENDS, rolloutPlan } from "./render/rollout";
import { httpHealthCheck, type DeployedService, type FileSpec, type ServiceSpec, type Target } from "./service";
import type { PlatformSpec } from "./config/types";
import { API7_IMAGE, APISIX_IMAGE } from "./flavors/images";
import { componentType, withPreviousToken } from "./tokens";
import { requireNodes, requireOnTarget, requireTarget } from "./blockArgs";

export interface GatewayGroupArgs {
    /**
     * Where they run: one gateway per data-plane node of the target's plan (dataPlane.*). API7 v3,
     * connected: the private key of the dashboard-issued DP Manager client certificate is the plan's
     * secret dataPlane.dpManagerIdentity.privateKey.
     */
    target: Target;
    /** The etcd cluster gateways watch (apisix, api7-v2), on the same target; api7-v3 gateways use the DP Manager. */
    etcd?: EtcdCluster;
    /** Started after these (e.g. the control plane, for api7-v3's DP Manager). */
    dependsOn?: pulumi.Resource[];
    /** The buckets standalone gateways read (resilience.fallbackStorage). */
    fallback?: FallbackStorage;
}

/** The command that fetches an API7 v3 gateway group's identity from the dashboard into the stack config. */
export const API7_IDENTITY_COMMAND = "npm run --silent api7:identity -- --stack <stack>";

/**
 * API7 v3 connected gateways need the dashboard-issued client certificate before they can reach the
 * DP Manager; the dashboard can only issue it once the control plane runs. Until the stack has it
 * (dataPlane.dpManagerIdentity), `pulumi up` deploys everything but the gateways: a gateway started
 * without it would only fail its handshakes.
 */
export function awaitingDpManagerIdentity(spec: PlatformSpec, dpClientKey: unknown): boolean {
    return spec.flavor === "api7-v3" && spec.resilience.mode === "connected" && (!spec.dataPlane.dpManagerIdentity || dpClientKey === undefined);
}

/** The identity files of an API7 v3 connected gateway: its certificate and key, and the roots plus the DP Manager's CA. */
function dpManagerIdentityFiles(spec: PlatformSpec, key: pulumi.Input<string>): FileSpec[] {
    const id = spec.dataPlane.dpManagerIdentity!;
    return [
        { path: APISIX_PATHS.dpCert, content: id.certificate },
        { path: APISIX_PATHS.dpKey, content: key, secret: true },
        { path: APISIX_PATHS.dpTrustBundle, content: id.caCertificate, systemRoots: true },
    ];
}

/**
 * Data-plane gateways, one per data-plane node, all with the same rendered config.yaml: connected
 * to the control plane, or standalone on the last dump (resilience.mode). The mode changes only
 * the gateways' config.yaml and environment.
 */
export class GatewayGroup extends pulumi.ComponentResource {
    readonly target: Target;
    readonly services: DeployedService[];

    constructor(name: string, args: GatewayGroupArgs, opts?: pulumi.ComponentResourceOptions) {
        const target = requireTarget("GatewayGroup", name, args);
        const { spec, topology } = target.plan;
        const dpClientKey = target.plan.secrets.dpClientKey;
        const nodes = requireNodes("GatewayGroup", name, target.plan, "data-plane", 2, "dataPlane.replicas");
        const etcd = requireOnTarget("GatewayGroup", name, "etcd", args.etcd, target, "an EtcdCluster");
        if (spec.flavor !== "api7-v3" && !etcd) throw new Error(`GatewayGroup ${name}: args.etcd is required: flavor ${spec.flavor}'s gateways watch etcd`);
        const fallback = requireOnTarget("GatewayGroup", name, "fallback", args.fallback, target, "a FallbackStorage");
        const standalone = spec.resilience.mode === "standalone";
        if (standalone && !fallback) throw new Error(`GatewayGroup ${name}: args.fallback is required: resilience.mode standalone reads the fallback buckets`);
        super(componentType("GatewayGroup"), name, {}, withPreviousToken("gateway-ha:data-plane:GatewayGroup", opts));
        this.target = target;
        const child = { parent: this, dependsOn: [...(etcd ? [etcd.ready] : []), ...(args.dependsOn ?? []), ...(fallback?.ready ?? [])] };

        if (awaitingDpManagerIdentity(spec, dpClientKey)) {
            pulumi.log.warn(
                `${name}: no API7 v3 gateways yet: they need the gateway group's DP Manager client certificate (dataPlane.dpManagerIdentity). ` +
                    `Once the control plane runs, run \`${API7_IDENTITY_COMMAND}\`, then \`pulumi up\` again.`,
                this,
            );
            this.services = [];
            this.registerOutputs({});
            return;
        }
        const identity = spec.flavor === "api7-v3" && !standalone ? dpManagerIdentityFiles(spec, dpClientKey!) : [];
        const config = renderGatewayConfig(spec, topology, fallback?.auth);
        const password = etcd?.consumers.gateway.password;
        const reader = standalone ? fallback?.credentials?.["data-plane"] : undefined;
        const secrets = {
            ...(password ? { [SECRET_ENV.etcdPassword]: password } : {}),
            ...(reader ? { [SECRET_ENV.s3AccessKey]: reader.accessKey, [SECRET_ENV.s3SecretKey]: reader.secretKey } : {}),
        };
        // Secrets become files behind a wrapper before the image's start: APISIX's known, API7's read from the image.
        const image = spec.flavor === "apisix" ? APISIX_IMAGE : API7_IMAGE;
        const environment: Pick<ServiceSpec, "env" | "secretEnv" | "user"> = {
            user: image.user,
            ...(spec.flavor === "api7-v3" ? { env: { [API7_GATEWAY_GROUP_ENV]: spec.dataPlane.gatewayGroup } } : {}),
            ...(Object.keys(secrets).length ? { secretEnv: { values: secrets, start: image.start } } : {}),
        };
        this.services = nodes.map((node) =>
            target.deployService(
                {
                    name: `${node.name}-gateway`,
                    node,
                    role: "data-plane",
                    service: "gateway",
                    image: spec.dataPlane.image,
                    ...environment,
                    files: [{ path: APISIX_PATHS.config, content: config }, ...identity, ...(etcd ? etcd.clientFiles("gateway", APISIX_PATHS) : [])],
                    // Healthy means ready for traffic, the same probe the balancers use.
                    healthCheck: httpHealthCheck(spec.dataPlane.statusPort, spec.loadBalancer.healthCheck.path, true),
                    // APISIX images stop on SIGQUIT: nginx's graceful shutdown (worker_shutdown_timeout).
                    rollout: rolloutPlan(spec, topology, "gateway", { backends: [...GATEWAY_BACKENDS], stopSignal: "QUIT", shutdownSeconds: spec.dataPlane.shutdownTimeoutSeconds }),
                },
                child,
            ),
        );
        this.registerOutputs({});
    }
}
