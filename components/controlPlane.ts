import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { EtcdCluster } from "./etcdCluster";
import type { FallbackStorage } from "./fallbackStorage";
import {
    CONTROL_PLANE_PATHS,
    DASHBOARD_ADMIN_USER,
    renderApi7v2DashboardConfig,
    renderApi7v3DashboardConfig,
    renderApi7v3DpManagerConfig,
    renderApisixControlPlaneConfig,
} from "./render/controlPlane";
import { APISIX_PATHS, SECRET_ENV } from "./render/gateway";
import { MANAGEMENT_TLS_NAME, MANAGEMENT_TLS_PATHS, certificateNames, controlPlaneCertificateHosts } from "./render/managementTls";
import { servedAsIssued, type IssuedCert, type ManagementPki } from "./pki";
import { controlPlaneBackend, rolloutPlan } from "./render/rollout";
import { httpsHealthCheck, type DeployedService, type ServiceSpec, type Target } from "./service";
import { controlPlanePorts } from "./topology/ports";
import type { TopologyNode } from "./topology/types";
import { API7_IMAGE, APISIX_IMAGE } from "./flavors/images";
import { componentType, withPreviousToken } from "./tokens";
import { requireNodes, requireOnTarget, requireTarget } from "./blockArgs";

export interface ControlPlaneArgs {
    /** Where it runs: one replica per control-plane node of the target's plan. api7-v3 reads its PostgreSQL DSN (controlPlane.databaseDsn) from the plan's secrets. */
    target: Target;
    /** Required for the etcd-backed flavors (apisix, api7-v2), on the same target. */
    etcd?: EtcdCluster;
    /** Where the api7-v3 dashboard dumps its configuration (resilience.fallbackStorage). */
    fallback?: FallbackStorage;
    /** The management channel's PKI: every flavor's control plane serves HTTPS with its certificates. */
    management: ManagementPki;
}

/**
 * How long API7's dashboard and DP Manager are given to stop on SIGTERM. No public source states their
 * shutdown timeout; once drained they carry no new requests, so this bounds only the last ones.
 */
const API7_SHUTDOWN_SECONDS = 10;

const pkiPaths = (dir: string) => ({ ca: `${dir}/ca.crt`, cert: `${dir}/client.crt`, key: `${dir}/client.key` });

/**
 * The control plane, one replica per control-plane node: APISIX in control_plane role
 * (Admin API), the API7 v2 dashboard on etcd, or API7 v3's stateless dashboard and DP Manager
 * on PostgreSQL.
 */
export class ControlPlane extends pulumi.ComponentResource {
    readonly target: Target;
    readonly services: DeployedService[];
    /** APISIX Admin API key (apisix flavor), a Pulumi secret. */
    readonly adminKey?: pulumi.Output<string>;
    /**
     * The dashboards' admin login, generated: never the vendor's default. The password is a Pulumi secret.
     * api7-v2 reads it from conf.yaml; the 3.2.16.3 dashboard has no such key and starts as admin/admin, so
     * `npm run api7:identity` sets it through the dashboard's API before anything else.
     */
    readonly dashboardAdmin?: { user: string; password: pulumi.Output<string> };

    constructor(name: string, args: ControlPlaneArgs, opts?: pulumi.ComponentResourceOptions) {
        const target = requireTarget("ControlPlane", name, args);
        const { spec, topology, secrets } = target.plan;
        const nodes = requireNodes("ControlPlane", name, target.plan, "control-plane", 1, "controlPlane.replicas");
        const databaseDsn = secrets.databaseDsn;
        if (spec.flavor === "api7-v3" && databaseDsn === undefined)
            throw new Error(`ControlPlane ${name}: controlPlane.databaseDsn is required for flavor api7-v3`);
        const etcd = requireOnTarget("ControlPlane", name, "etcd", args.etcd, target, "an EtcdCluster");
        if (spec.flavor !== "api7-v3" && !etcd) throw new Error(`ControlPlane ${name}: args.etcd is required: flavor ${spec.flavor} keeps its configuration in etcd`);
        const fallback = requireOnTarget("ControlPlane", name, "fallback", args.fallback, target, "a FallbackStorage");
        const { management } = args;
        if (!management) throw new Error(`ControlPlane ${name}: args.management is required: the control plane serves HTTPS with its certificates`);
        if (spec.resilience.fallbackStorage && !fallback) throw new Error(`ControlPlane ${name}: args.fallback is required: the plan has resilience.fallbackStorage`);
        super(componentType("ControlPlane"), name, {}, withPreviousToken("gateway-ha:control-plane:ControlPlane", opts));
        this.target = target;
        const child = { parent: this, dependsOn: [...(etcd ? [etcd.ready] : []), ...(fallback?.ready ?? [])] };

        const generated = (id: string) => pulumi.secret(new random.RandomPassword(`${name}-${id}`, { length: 32, special: false }, { parent: this }).result);
        if (spec.flavor === "apisix") this.adminKey = generated("admin-key");
        const sessionSecret = spec.flavor === "api7-v2" ? generated("dashboard-session-secret") : undefined;
        if (spec.flavor !== "apisix") this.dashboardAdmin = { user: DASHBOARD_ADMIN_USER, password: generated("dashboard-admin-password") };

        /** A node's HTTPS certificate: server only, named for every way clients reach it; the operator's where their TLS ends here. */
        const managementCertificate = (node: TopologyNode, order: number): IssuedCert => {
            if (management.served) return servedAsIssued(management.served);
            const names = pulumi.all(management.entryHosts).apply((entry) => certificateNames(controlPlaneCertificateHosts(spec, topology, node, entry)));
            return management.ca.issue(node.name, { commonName: MANAGEMENT_TLS_NAME }, { dns: names.dns, ips: names.ips }, management.firstRenewalOrder + order, true);
        };
        const build = (node: TopologyNode, order: number): ServiceSpec[] => {
            const base = { node, role: "control-plane" as const };
            switch (spec.flavor) {
                case "apisix": {
                    const id = etcd!.consumers["control-plane"];
                    const tls = managementCertificate(node, order);
                    const paths = MANAGEMENT_TLS_PATHS.apisix;
                    return [
                        {
                            ...base,
                            name: `${node.name}-apisix-cp`,
                            service: "apisix-cp",
                            image: spec.controlPlane.image,
                            user: APISIX_IMAGE.user,
                            secretEnv: {
                                values: { [SECRET_ENV.adminKey]: this.adminKey!, ...(id.password ? { [SECRET_ENV.etcdPassword]: id.password } : {}) },
                                start: APISIX_IMAGE.start,
                            },
                            files: [
                                { path: APISIX_PATHS.config, content: renderApisixControlPlaneConfig(spec, topology) },
                                ...etcd!.clientFiles("control-plane", APISIX_PATHS),
                                { path: paths.cert, content: tls.certPem },
                                { path: paths.key, content: tls.keyPem, secret: true },
                                { path: paths.ca, content: management.served?.caPem ?? management.ca.certPem },
                            ],
                            healthCheck: httpsHealthCheck(spec.controlPlane.adminPort, "/", management.served?.host ?? MANAGEMENT_TLS_NAME, paths.ca),
                        },
                    ];
                }
                case "api7-v2": {
                    const id = etcd!.consumers["control-plane"];
                    const conf = pulumi
                        .all([this.dashboardAdmin!.password, sessionSecret!, id.password ?? ""])
                        .apply(([password, secret, etcdPassword]) =>
                            renderApi7v2DashboardConfig(spec, topology, { username: DASHBOARD_ADMIN_USER, password, sessionSecret: secret }, etcdPassword || undefined),
                        );
                    const tls = managementCertificate(node, order);
                    const paths = MANAGEMENT_TLS_PATHS.api7v2Dashboard;
                    return [
                        {
                            ...base,
                            name: `${node.name}-dashboard`,
                            service: "dashboard",
                            image: spec.controlPlane.image,
                            user: API7_IMAGE.user,
                            files: [
                                { path: CONTROL_PLANE_PATHS.api7v2Dashboard, content: conf, secret: true },
                                ...etcd!.clientFiles("control-plane", pkiPaths(CONTROL_PLANE_PATHS.api7v2PkiDir)),
                                { path: paths.cert, content: tls.certPem },
                                { path: paths.key, content: tls.keyPem, secret: true },
                            ],
                        },
                    ];
                }
                case "api7-v3": {
                    const dsn = pulumi.output(databaseDsn!);
                    const writer = fallback?.credentials?.["control-plane"];
                    const dashboardConfig = writer
                        ? pulumi
                              .all([dsn, writer.accessKey, writer.secretKey])
                              .apply(([d, accessKey, secretKey]) => renderApi7v3DashboardConfig(spec, topology, d, { accessKey, secretKey }))
                        : dsn.apply((d) => renderApi7v3DashboardConfig(spec, topology, d));
                    const tls = managementCertificate(node, order);
                    const paths = MANAGEMENT_TLS_PATHS.api7v3Dashboard;
                    return [
                        {
                            ...base,
                            name: `${node.name}-dashboard`,
                            service: "dashboard",
                            image: spec.controlPlane.image,
                            user: API7_IMAGE.user,
                            files: [
                                { path: CONTROL_PLANE_PATHS.api7v3Dashboard, content: dashboardConfig, secret: true },
                                { path: paths.cert, content: tls.certPem },
                                { path: paths.key, content: tls.keyPem, secret: true },
                            ],
                        },
                        {
                            ...base,
                            name: `${node.name}-dp-manager`,
                            service: "dp-manager",
                            image: spec.controlPlane.dpManagerImage!,
                            user: API7_IMAGE.user,
                            files: [{ path: CONTROL_PLANE_PATHS.api7v3DpManager, content: dsn.apply((d) => renderApi7v3DpManagerConfig(spec, d)), secret: true }],
                        },
                    ];
                }
            }
        };
        // Each service behind the control-plane balancer, on the backends of its own ports: APISIX stops
        // gracefully on SIGQUIT within its worker_shutdown_timeout; API7's Go services on SIGTERM.
        const ports = controlPlanePorts(spec);
        const rollout = (svc: ServiceSpec): ServiceSpec => {
            const own = ports.filter((p) => p.service === svc.service);
            const apisix = svc.service === "apisix-cp";
            return {
                ...svc,
                rollout: rolloutPlan(spec, topology, "control-plane", {
                    backends: (own.length ? own : ports).map((p) => controlPlaneBackend(p.service)),
                    stopSignal: apisix ? "QUIT" : "TERM",
                    shutdownSeconds: apisix ? spec.dataPlane.shutdownTimeoutSeconds : API7_SHUTDOWN_SECONDS,
                }),
            };
        };
        this.services = nodes.flatMap((node, i) => build(node, i)).map((svc) => target.deployService(rollout(svc), child));
        this.registerOutputs({});
    }
}
