import * as pulumi from "@pulumi/pulumi";
import type { EtcdCluster } from "./etcdCluster";
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
}

/** Data-plane gateways, one per data-plane node, all with the same rendered config.yaml. */
export class GatewayGroup extends pulumi.ComponentResource {
    readonly services: DeployedService[];

    constructor(name: string, args: GatewayGroupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gateway-ha:data-plane:GatewayGroup", name, {}, opts);
        const { spec, topology, target, etcd } = args;
        const nodes = topology.byRole["data-plane"];
        if (nodes.length < 2) throw new Error(`GatewayGroup ${name}: dataPlane.replicas must be at least 2, got ${nodes.length}`);
        if (spec.flavor !== "api7-v3" && !etcd) throw new Error(`GatewayGroup ${name}: flavor ${spec.flavor} needs an EtcdCluster`);
        const child = { parent: this, dependsOn: [...(etcd ? [etcd.ready] : []), ...(args.dependsOn ?? [])] };

        const config = renderGatewayConfig(spec, topology);
        const password = etcd?.consumers.gateway.password;
        this.services = nodes.map((node) =>
            target.deployService(
                {
                    name: `${node.name}-gateway`,
                    node,
                    role: "data-plane",
                    service: "gateway",
                    image: spec.dataPlane.image,
                    env: password ? { [SECRET_ENV.etcdPassword]: password } : {},
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
