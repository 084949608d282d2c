import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import {
    KEEPALIVED_PATHS,
    checkScriptPath,
    keepalivedCommand,
    renderKeepalivedSupervisor,
    lvsRealServerVips,
    renderCheckScript,
    renderKeepalivedConf,
    realServerSysctls,
    renderRealServerScript,
    vipsOf,
} from "./render/keepalived";
import { KEEPALIVED_IMAGE_USER } from "./flavors/images";
import { keepalivedRolloutPlan } from "./render/rollout";
import type { DeployedService, EntryPoints, FileSpec, ServiceSpec, Target } from "./service";
import type { Role } from "./config/schema";
import type { PlatformSpec } from "./config/types";
import { controlPlanePorts, controlPlaneUrl } from "./topology/ports";
import type { Topology, TopologyNode } from "./topology/types";
import { componentType, withPreviousToken } from "./tokens";
import { requireTarget } from "./blockArgs";

export interface VirtualIpsArgs {
    /** Where they run: keepalived on every node of the target's plan that holds a VIP (loadBalancer.keepalived.*); VRRP secrets the plan has are used, the others generated. */
    target: Target;
    dependsOn?: pulumi.Resource[];
}

/** keepalived manages addresses and sends VRRP (raw IP, multicast) in the node's network namespace. */
export const KEEPALIVED_CAPABILITIES = ["NET_ADMIN", "NET_RAW", "NET_BROADCAST"];

/** The role a node's keepalived runs for: the balancer role on balancer nodes, else the protected role. */
function roleOn(node: TopologyNode, protects: Role): Role {
    return node.roles.includes("load-balancer") ? "load-balancer" : protects;
}

/**
 * Where clients and operators reach the platform when VIPs carry its traffic: the gateway VIP
 * (protecting data-plane, or a balancer pair) and the control-plane VIP. Undefined where no VIP
 * carries that side; the target's entry points apply there.
 */
export function vipEntryPoints(spec: PlatformSpec, topology: Topology): Partial<EntryPoints> {
    const gw = topology.vips.find((v) => v.protects === "data-plane") ?? topology.vips.find((v) => v.protects === "load-balancer");
    const cp = topology.vips.find((v) => v.protects === "control-plane") ?? topology.vips.find((v) => v.protects === "load-balancer");
    const cpPort = controlPlanePorts(spec)[0].port;
    return {
        ...(gw
            ? {
                  gatewayUrl: `http://${gw.address}:${spec.dataPlane.httpPort}`,
                  gatewayHttpsUrl: `https://${gw.address}:${spec.dataPlane.httpsPort}`,
                  gatewayBalancerHost: gw.address,
              }
            : {}),
        ...(cp ? { controlPlaneUrl: controlPlaneUrl(spec, cp.address, cpPort), controlPlaneBalancerHost: cp.address } : {}),
    };
}

/**
 * VRRP VIPs (seed 004): keepalived on every node that holds a VIP, with one generated (or
 * configured) 8-character PASS secret per VIP, the check scripts, and for kind lvs the IPVS virtual
 * servers on the directors plus the real-server setup on every real server.
 */
export class VirtualIps extends pulumi.ComponentResource {
    readonly services: DeployedService[];
    /** Per VIP name: the VRRP PASS secret (a Pulumi secret). */
    readonly authPass: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: VirtualIpsArgs, opts?: pulumi.ComponentResourceOptions) {
        const target = requireTarget("VirtualIps", name, args);
        const { spec, topology } = target.plan;
        if (topology.vips.length === 0) throw new Error(`VirtualIps ${name}: the plan has no VIPs (loadBalancer.keepalived.vips)`);
        for (const v of topology.vips) if (v.nodes.length < 2) throw new Error(`VirtualIps ${name}: VIP ${v.name} needs two nodes at least`);
        super(componentType("VirtualIps"), name, {}, withPreviousToken("gateway-ha:load-balancer:VirtualIps", opts));
        const child = { parent: this, dependsOn: args.dependsOn ?? [] };
        const k = spec.loadBalancer.keepalived;

        this.authPass = Object.fromEntries(
            topology.vips.map((v) => {
                const given = target.plan.secrets.vipAuthPass?.[v.name];
                const secret = given !== undefined ? pulumi.output(given) : new random.RandomPassword(`${name}-${v.name}-auth`, { length: 8, special: false }, { parent: this }).result;
                return [v.name, pulumi.secret(secret)];
            }),
        );

        const holders = topology.nodes.filter((n) => vipsOf(topology, n).length > 0);
        const keepalived = holders.map((node): ServiceSpec => {
            const vips = vipsOf(topology, node);
            const names = vips.map((v) => v.name);
            const conf = pulumi
                .all(names.map((n) => this.authPass[n]))
                .apply((secrets) => renderKeepalivedConf(spec, topology, node, { authPass: Object.fromEntries(names.map((n, i) => [n, secrets[i]])) }));
            const files: FileSpec[] = [
                // Holds the VRRP secrets.
                { path: KEEPALIVED_PATHS.config, content: pulumi.secret(conf), secret: true },
                ...vips.filter((v) => v.check).map((v) => ({ path: checkScriptPath(v), content: renderCheckScript(spec, v) })),
                { path: KEEPALIVED_PATHS.supervisor, content: renderKeepalivedSupervisor(spec, vips) },
            ];
            return {
                name: `${node.name}-keepalived`,
                node,
                role: roleOn(node, vips[0].protects),
                service: "keepalived",
                image: k.image,
                command: keepalivedCommand(),
                files,
                user: KEEPALIVED_IMAGE_USER,
                capabilities: KEEPALIVED_CAPABILITIES,
                // A change replaces one holder at a time, each back in VRRP before the next stops.
                rollout: keepalivedRolloutPlan(spec),
            };
        });
        const realServers = topology.nodes
            .filter((n) => lvsRealServerVips(topology, n).length > 0)
            .map((node): ServiceSpec => {
                const vips = lvsRealServerVips(topology, node);
                return {
                    name: `${node.name}-lvs-realserver`,
                    node,
                    role: vips[0].protects === "load-balancer" ? "data-plane" : vips[0].protects,
                    service: "lvs-realserver",
                    image: k.image,
                    command: ["/bin/sh", KEEPALIVED_PATHS.realServerScript],
                    files: [{ path: KEEPALIVED_PATHS.realServerScript, content: renderRealServerScript(spec, topology, node) }],
                    // NET_ADMIN for the VIP's address and route; the kernel parameters come from the target.
                    capabilities: ["NET_ADMIN"],
                    sysctls: realServerSysctls(topology, node),
                };
            });
        this.services = [...keepalived, ...realServers].map((svc) => target.deployService(svc, child));
        this.registerOutputs({});
    }
}
