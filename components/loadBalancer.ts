import * as pulumi from "@pulumi/pulumi";
import { renderHaproxyCfg, type BalancerScope } from "./render/haproxy";
import { renderNginxConf } from "./render/nginx";
import { READY_TIMEOUT_SECONDS, balancerServiceName } from "./render/rollout";
import { MANAGEMENT_TLS_NAME, MANAGEMENT_TLS_PATHS, balancerCertificateHosts, certificateNames, haproxyCertificateFile } from "./render/managementTls";
import { servedAsIssued, type ManagementPki } from "./pki";
import type { DeployedService, FileSpec, ReloadSpec, RolloutSpec, ServiceSpec, Target } from "./service";
import { controlPlanePorts } from "./topology/ports";
import type { Topology } from "./topology/types";
import { HAPROXY_IMAGE_USER, NGINX_IMAGE_USER } from "./flavors/images";
import { componentType, withPreviousToken } from "./tokens";
import { requireNodes, requireTarget } from "./blockArgs";

export interface LoadBalancerArgs {
    /** Where they run: per load-balancer node of the target's plan (loadBalancer.*), the gateways' balancer, and the control plane's where the plan runs one. */
    target: Target;
    dependsOn?: pulumi.Resource[];
    /** The management channel's PKI: the balancers terminate the control plane's HTTPS with their own certificate. Required where the plan runs a control plane. */
    management?: ManagementPki;
}

/** A stopping balancer's connections get this long to finish before it is killed. */
const BALANCER_STOP_SECONDS = 30;

/** Each balancer has its own file, so two on one host (or in one node) never overwrite each other. */
export function balancerConfigPath(kind: "nginx" | "haproxy", scope: BalancerScope): string {
    return kind === "nginx" ? `/etc/nginx/${scope}-lb.conf` : `/usr/local/etc/haproxy/${scope}-lb.cfg`;
}

/** Foreground commands of the official images, pointed at the balancer's own file. */
export function balancerCommand(kind: "nginx" | "haproxy", scope: BalancerScope): string[] {
    const file = balancerConfigPath(kind, scope);
    return kind === "nginx" ? ["nginx", "-c", file, "-g", "daemon off;"] : ["haproxy", "-W", "-db", "-f", file];
}

/**
 * In-place reload of a balancer's file: haproxy's master (-W) re-executes on SIGUSR2 and its old
 * workers finish their connections; nginx's master starts new workers on SIGHUP and old ones close
 * gracefully. The candidate is checked by the program itself first, so a bad file never goes live.
 * Only the configuration: a renewed TLS key is a secret file, which replaces the balancer in its rollout.
 */
export function balancerReload(kind: "nginx" | "haproxy", scope: BalancerScope): ReloadSpec {
    return kind === "nginx"
        ? { files: [balancerConfigPath(kind, scope)], check: (p) => ["nginx", "-t", "-q", "-c", p], signal: "HUP" }
        : { files: [balancerConfigPath(kind, scope)], check: (p) => ["haproxy", "-c", "-q", "-f", p], signal: "USR2" };
}

/**
 * Two balancers per load-balancer node: one in front of the gateways (HTTP and HTTPS
 * pass-through) and one in front of the control plane, so either can fail alone.
 */
export class LoadBalancer extends pulumi.ComponentResource {
    readonly services: DeployedService[];

    constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        const target = requireTarget("LoadBalancer", name, args);
        const { spec, topology } = target.plan;
        const nodes = requireNodes("LoadBalancer", name, target.plan, "load-balancer", 1, "loadBalancer.kind");
        if (controlPlanePorts(spec).length === 0) throw new Error(`LoadBalancer ${name}: the control plane exposes no ports`);
        const { kind, image } = spec.loadBalancer;
        if (kind !== "haproxy" && kind !== "nginx") throw new Error(`LoadBalancer ${name}: loadBalancer.kind ${kind} runs no proxy (see VirtualIps)`);
        // The control plane's balancer where the plan runs a control plane (planPlatform's roles).
        const scopes: BalancerScope[] = topology.byRole["control-plane"].length ? ["gateway", "control-plane"] : ["gateway"];
        const { management } = args;
        if (!management && scopes.includes("control-plane"))
            throw new Error(`LoadBalancer ${name}: args.management is required: the control plane serves HTTPS, which the balancers terminate`);
        super(componentType("LoadBalancer"), name, {}, withPreviousToken("gateway-ha:load-balancer:LoadBalancer", opts));
        const child = { parent: this, dependsOn: args.dependsOn ?? [] };

        /** The control-plane balancer's certificate (server only) and the CA it verifies the nodes with. */
        const tlsFiles = (node: Topology["nodes"][number], order: number, management: ManagementPki): FileSpec[] => {
            const { served } = management;
            const issue = () => {
                const names = pulumi.all(management.entryHosts).apply((entry) => certificateNames(balancerCertificateHosts(topology, node, entry)));
                return management.ca.issue(`${node.name}-control-plane-lb`, { commonName: MANAGEMENT_TLS_NAME }, { dns: names.dns, ips: names.ips }, management.firstRenewalOrder + order, true);
            };
            // Clients' TLS ends here: the operator's certificate where one is supplied.
            const cert = served ? servedAsIssued(served) : issue();
            const p = MANAGEMENT_TLS_PATHS;
            return kind === "nginx"
                ? [
                      { path: p.nginx.cert, content: cert.certPem },
                      { path: p.nginx.key, content: cert.keyPem, secret: true },
                      { path: p.nginx.ca, content: management.ca.certPem },
                  ]
                : [
                      { path: p.haproxy.pem, content: pulumi.secret(pulumi.all([cert.certPem, cert.keyPem]).apply(([c, k]) => haproxyCertificateFile(c, k))), secret: true },
                      { path: p.haproxy.ca, content: management.ca.certPem },
                  ];
        };

        // One balancer node replaced at a time (a VIP over the pair moves meanwhile), each stopped
        // gracefully: haproxy's image stops on SIGUSR1 (finish connections), nginx's on SIGQUIT.
        const vip = spec.loadBalancer.keepalived.vips.length > 0;
        const rollout = {
            balancers: [],
            balancerKind: "passive",
            backends: [],
            rotationSeconds: vip ? spec.loadBalancer.keepalived.check.interval * spec.loadBalancer.keepalived.check.rise : 0,
            stopSignal: kind === "haproxy" ? "USR1" : "QUIT",
            drainSeconds: 0,
            stopGraceSeconds: BALANCER_STOP_SECONDS,
            readyTimeoutSeconds: READY_TIMEOUT_SECONDS,
        } satisfies RolloutSpec;
        const balancer = (node: Topology["nodes"][number], scope: BalancerScope, order: number): ServiceSpec => ({
            name: balancerServiceName(node, scope),
            rollout,
            node,
            role: "load-balancer",
            service: `${scope}-lb`,
            image,
            command: balancerCommand(kind, scope),
            user: kind === "nginx" ? NGINX_IMAGE_USER : HAPROXY_IMAGE_USER,
            reload: balancerReload(kind, scope),
            files: [
                {
                    path: balancerConfigPath(kind, scope),
                    content: kind === "nginx" ? renderNginxConf(spec, topology, scope) : renderHaproxyCfg(spec, topology, scope),
                },
                ...(scope === "control-plane" ? tlsFiles(node, order, management!) : []),
            ],
        });
        this.services = nodes
            .flatMap((node, i) => scopes.map((scope) => balancer(node, scope, i)))
            .map((svc) => target.deployService(svc, child));
        this.registerOutputs({});
    }
}
