// Control-plane configs: APISIX in control_plane role, the API7 v2 dashboard, and API7 v3's
// dashboard and DP Manager.
import { stringify } from "yaml";
import { formatIpv4, parseCidr, parseIpv4 } from "../spec/net";
import type { PlatformSpec } from "../spec/types";
import type { Topology } from "../topology/types";
import { etcdClientUrls, etcdPrefix } from "./etcd";
import { controlPlaneFallbackBlock, type S3Keys } from "./fallback";
import { APISIX_PATHS, GENERATED_HEADER, SECRET_ENV, etcdClientBlock } from "./gateway";

/** Config-file paths inside the control-plane containers (from the seeds). */
export const CONTROL_PLANE_PATHS = {
    api7v2Dashboard: "/usr/local/apisix-dashboard/conf/conf.yaml",
    api7v2PkiDir: "/usr/local/apisix-dashboard/conf/etcd-pki",
    api7v3Dashboard: "/app/conf/config.yaml",
    api7v3DpManager: "/usr/local/api7/conf/config.yaml",
} as const;

/**
 * Who may call the Admin API: the control-plane balancers (every operator request arrives from
 * them) and the node itself. `dataPlane.adminAllow` alone would make APISIX answer the balancer
 * with 403; a hostname balancer address cannot be listed (APISIX takes only IPs and CIDRs).
 * Without a proxy (kinds keepalived, lvs) requests keep the operator's address; on local Docker
 * nodes the operator is the Docker host, whose bridge address (docker.subnet's first host) is
 * allowed, as its published port was before.
 */
export function adminAllowList(spec: PlatformSpec, topology: Topology): string[] {
    const balancers = topology.balancerAddresses.filter((a) => parseIpv4(a) !== undefined).map((a) => `${a}/32`);
    const subnet = parseCidr(spec.docker.subnet);
    const viaVip = (spec.loadBalancer.kind === "keepalived" || spec.loadBalancer.kind === "lvs") && spec.target === "docker" && !topology.nodes.some((n) => n.ssh);
    const dockerHost = viaVip && subnet ? [`${formatIpv4(subnet.network + 1)}/32`] : [];
    return [...new Set([...spec.dataPlane.adminAllow, ...balancers, ...dockerHost])];
}

export function renderApisixControlPlaneConfig(spec: PlatformSpec, topology: Topology): string {
    const cp = spec.controlPlane;
    const config = {
        apisix: {
            ...(spec.etcd.tls ? { ssl: { ssl_trusted_certificate: APISIX_PATHS.ca } } : {}),
        },
        deployment: {
            role: "control_plane",
            role_control_plane: { config_provider: "etcd" },
            admin: {
                admin_key_required: true,
                admin_key: [{ name: "admin", key: `\${{${SECRET_ENV.adminKey}}}`, role: "admin" }],
                allow_admin: adminAllowList(spec, topology),
                admin_listen: { ip: "0.0.0.0", port: cp.adminPort },
            },
            etcd: etcdClientBlock(spec, topology, "control-plane"),
        },
    };
    return GENERATED_HEADER + stringify(config);
}

/**
 * Seed 001's dashboard_conf/conf.yaml: endpoints are host:port, with auth and mTLS switched on
 * when etcd has them. The dashboard reads its password from this file, so the file is a secret.
 */
export function renderApi7v2DashboardConfig(spec: PlatformSpec, topology: Topology, etcdPassword?: string): string {
    const pki = CONTROL_PLANE_PATHS.api7v2PkiDir;
    const config = {
        conf: {
            listen: { host: "0.0.0.0", port: spec.controlPlane.dashboardPort },
            etcd: {
                name: "default",
                endpoints: etcdClientUrls(spec, topology).map((u) => u.replace(/^https?:\/\//, "")),
                enable_auth: spec.etcd.auth,
                ...(spec.etcd.auth ? { username: "control-plane", password: etcdPassword ?? "" } : {}),
                mtls: spec.etcd.tls
                    ? { enable: true, key_file: `${pki}/client.key`, cert_file: `${pki}/client.crt`, ca_file: `${pki}/ca.crt` }
                    : { enable: false },
                prefix: etcdPrefix(spec, "control-plane"),
            },
        },
    };
    return GENERATED_HEADER + stringify(config);
}

/**
 * Seed 000: the API7 v3 dashboard is stateless; everything lives in PostgreSQL. With fallback
 * storage (seed 002) it also dumps its configuration to the buckets; `keys` are the writer's,
 * absent on instance roles. The file holds the DSN and keys, so it is a secret.
 */
export function renderApi7v3DashboardConfig(spec: PlatformSpec, topology: Topology, databaseDsn: string, keys?: S3Keys): string {
    return (
        GENERATED_HEADER +
        stringify({
            server: { listen: { host: "0.0.0.0", port: spec.controlPlane.dashboardPort } },
            database: { dsn: databaseDsn },
            ...(spec.resilience.fallbackStorage ? { fallback_cp: controlPlaneFallbackBlock(spec, topology, keys) } : {}),
        })
    );
}

export function renderApi7v3DpManagerConfig(spec: PlatformSpec, databaseDsn: string): string {
    return GENERATED_HEADER + stringify({ server: { listen: { host: "0.0.0.0", port: spec.controlPlane.dpManagerPort } }, database: { dsn: databaseDsn } });
}
