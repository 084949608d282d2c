import * as pulumi from "@pulumi/pulumi";
import type { EtcdCluster } from "./etcdCluster";
import type { FallbackStorage } from "./fallbackStorage";
import { APISIX_PATHS, SECRET_ENV, renderGatewayConfig } from "./render/gateway";
import { httpHealthCheck, type DeployedService, type Target } from "./service";
import type { PlatformSpec } from "./spec/types";
import type { Topology } from "./topology/types";

export interface GatewayGroupArgs {
    spec: PlatformSpec;
    topology: Topology;
    target: Target;
    /** The etcd cluster gateways watch (apisix, api7-v2); api7-v3 gateways use the DP Manager. */
    etcd?: EtcdCluster;
    /** Started after these (e.g. the control plane, for api7-v3's DP Manager). */
    dependsOn?: pulumi.Resource[];
    /** The buckets standalone gateways read (resilience.fallbackStorage). */
    fallback?: FallbackStorage;
}

/**
 * Data-plane gateways, one per data-plane node, all with the same rendered config.yaml: connected
 * to the control plane, or standalone on the last dump (resilience.mode). The mode changes only
 * the gateways' config.yaml and environment.
 */
export class GatewayGroup extends pulumi.ComponentResource {
    readonly services: DeployedService[];

    constructor(name: string, args: GatewayGroupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gateway-ha:data-plane:GatewayGroup", name, {}, opts);
        const { spec, topology, target, etcd } = args;
        const nodes = topology.byRole["data-plane"];
        if (nodes.length < 2) throw new Error(`GatewayGroup ${name}: dataPlane.replicas must be at least 2, got ${nodes.length}`);
        if (spec.flavor !== "api7-v3" && !etcd) throw new Error(`GatewayGroup ${name}: flavor ${spec.flavor} needs an EtcdCluster`);
        const { fallback } = args;
        const standalone = spec.resilience.mode === "standalone";
        if (standalone && !fallback) throw new Error(`GatewayGroup ${name}: resilience.mode standalone needs a FallbackStorage`);
        const child = { parent: this, dependsOn: [...(etcd ? [etcd.ready] : []), ...(args.dependsOn ?? []), ...(fallback?.ready ?? [])] };

        const config = renderGatewayConfig(spec, topology, fallback?.auth);
        const password = etcd?.consumers.gateway.password;
        const reader = standalone ? fallback?.credentials?.["data-plane"] : undefined;
        const env = {
            ...(password ? { [SECRET_ENV.etcdPassword]: password } : {}),
            ...(reader ? { [SECRET_ENV.s3AccessKey]: reader.accessKey, [SECRET_ENV.s3SecretKey]: reader.secretKey } : {}),
        };
        this.services = nodes.map((node) =>
            target.deployService(
                {
                    name: `${node.name}-gateway`,
                    node,
                    role: "data-plane",
                    service: "gateway",
                    image: spec.dataPlane.image,
                    env,
                    files: [{ path: APISIX_PATHS.config, content: config }, ...(etcd ? etcd.clientFiles("gateway", APISIX_PATHS) : [])],
                    // Healthy means ready for traffic, the same probe the balancers use.
                    healthCheck: httpHealthCheck(spec.dataPlane.statusPort, spec.loadBalancer.healthCheck.path, true),
                },
                child,
            ),
        );
        this.registerOutputs({});
    }
}
