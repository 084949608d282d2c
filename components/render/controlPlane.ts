// Control-plane configs: APISIX in control_plane role, the API7 v2 dashboard, and API7 v3's
// dashboard and DP Manager.
import { stringify } from "yaml";
import { formatIpv4, parseCidr, parseIpv4 } from "../config/net";
import { API7V2_DASHBOARD_PLAIN_PORT, DASHBOARD_PLAIN_PORT, DP_MANAGER_PLAIN_PORT } from "../config/schema";
import type { PlatformSpec } from "../config/types";
import type { Topology } from "../topology/types";
import { etcdClientUrls, etcdConsumerUser, etcdPrefix } from "./etcd";
import { controlPlaneFallbackBlock, type S3Keys } from "./fallback";
import { GENERATED_HEADER, SECRET_ENV, etcdClientBlock, trustedCertificate, workerShutdown } from "./gateway";
import { MANAGEMENT_TLS_PATHS } from "./managementTls";

/** Config-file paths inside the control-plane containers (from the seeds). */
export const CONTROL_PLANE_PATHS = {
    api7v2Dashboard: "/usr/local/apisix-dashboard/conf/conf.yaml",
    api7v2PkiDir: "/usr/local/apisix-dashboard/conf/etcd-pki",
    api7v3Dashboard: "/app/conf/config.yaml",
    api7v3DpManager: "/usr/local/api7/conf/config.yaml",
} as const;

/**
 * Who may call the Admin API: whatever source address its requests arrive with, which depends on
 * what sits in front (APISIX matches `allow_admin` against `$remote_addr`: a VIP or a balancer's
 * name never matches). `dataPlane.adminAllow` is always kept; then
 * - haproxy/nginx balancers proxy every request: their addresses (a hostname cannot be listed:
 *   APISIX takes only IPs and CIDRs);
 * - kinds keepalived and lvs have no proxy, so requests keep the operator's address: on hosts with
 *   a firewall (ssh, remote Docker hosts) the operators' networks (`ssh.firewall.operatorCidrs`,
 *   `docker.firewall.operatorCidrs`, the firewall's own source list); on local Docker nodes the
 *   Docker host, whose bridge address (docker.subnet's first host) is it;
 * - AWS control-plane NLBs do not preserve the client's address (target groups with
 *   preserveClientIp false), so requests come from the NLB's addresses in the VPC: its CIDR.
 */
export function adminAllowList(spec: PlatformSpec, topology: Topology): string[] {
    const balancers = topology.balancerAddresses.filter((a) => parseIpv4(a) !== undefined).map((a) => `${a}/32`);
    const viaVip = spec.loadBalancer.kind === "keepalived" || spec.loadBalancer.kind === "lvs";
    const sources = (): string[] => {
        if (spec.target === "aws") return [spec.aws.existingVpc?.cidr ?? spec.aws.vpcCidr];
        if (!viaVip) return balancers;
        if (spec.hostFirewall) return spec.hostFirewall.operatorCidrs;
        const subnet = parseCidr(spec.docker.subnet);
        return spec.target === "docker" && subnet ? [`${formatIpv4(subnet.network + 1)}/32`] : [];
    };
    return [...new Set([...spec.dataPlane.adminAllow, ...sources()])];
}

export function renderApisixControlPlaneConfig(spec: PlatformSpec, topology: Topology): string {
    const cp = spec.controlPlane;
    const config = {
        apisix: {
            ...(spec.etcd.tls ? { ssl: trustedCertificate(spec) } : {}),
        },
        deployment: {
            role: "control_plane",
            role_control_plane: { config_provider: "etcd" },
            admin: {
                admin_key_required: true,
                admin_key: [{ name: "admin", key: `\${{${SECRET_ENV.adminKey}}}`, role: "admin" }],
                allow_admin: adminAllowList(spec, topology),
                admin_listen: { ip: "0.0.0.0", port: cp.adminPort },
                // The Admin API key never crosses the network in clear. No client CA: the key authenticates.
                https_admin: true,
                admin_api_mtls: { admin_ssl_cert: MANAGEMENT_TLS_PATHS.apisix.cert, admin_ssl_cert_key: MANAGEMENT_TLS_PATHS.apisix.key },
            },
            etcd: etcdClientBlock(spec, topology, "control-plane"),
        },
        nginx_config: workerShutdown(spec),
    };
    return GENERATED_HEADER + stringify(config);
}

/** The dashboard's own login (API7 v2): never the vendor default; `secret` signs its session tokens. */
export interface DashboardLogin {
    username: string;
    password: string;
    sessionSecret: string;
}

/** The admin user the stack creates on the dashboards. */
export const DASHBOARD_ADMIN_USER = "admin";

/**
 * Seed 001's dashboard_conf/conf.yaml: endpoints are host:port, with auth and mTLS switched on
 * when etcd has them; `authentication` (the apisix-dashboard conf.yaml layout the API7 v2
 * dashboard derives from: api/conf/conf.yaml) holds the login, so the file is always a secret.
 *
 * Logins cross the network over TLS only: apisix-dashboard 2.13 serves `conf.ssl` (port, cert, key;
 * it always binds 0.0.0.0) beside a plain listener it cannot switch off, which therefore stays on
 * loopback.
 */
export function renderApi7v2DashboardConfig(spec: PlatformSpec, topology: Topology, login: DashboardLogin, etcdPassword?: string): string {
    const pki = CONTROL_PLANE_PATHS.api7v2PkiDir;
    const tls = MANAGEMENT_TLS_PATHS.api7v2Dashboard;
    const config = {
        conf: {
            listen: { host: "127.0.0.1", port: API7V2_DASHBOARD_PLAIN_PORT },
            ssl: { port: spec.controlPlane.dashboardPort, cert: tls.cert, key: tls.key },
            etcd: {
                name: "default",
                endpoints: etcdClientUrls(spec, topology).map((u) => u.replace(/^https?:\/\//, "")),
                enable_auth: spec.etcd.auth,
                ...(spec.etcd.auth ? { username: etcdConsumerUser(spec, "control-plane"), password: etcdPassword ?? "" } : {}),
                mtls: spec.etcd.tls
                    ? { enable: true, key_file: `${pki}/client.key`, cert_file: `${pki}/client.crt`, ca_file: `${pki}/ca.crt` }
                    : { enable: false },
                prefix: etcdPrefix(spec, "control-plane"),
            },
        },
        authentication: { secret: login.sessionSecret, expire_time: 3600, users: [{ username: login.username, password: login.password }] },
    };
    return GENERATED_HEADER + stringify(config);
}

/**
 * Seed 000: the API7 v3 dashboard is stateless; everything lives in PostgreSQL. With fallback
 * storage (seed 002) it also dumps its configuration to the buckets; `keys` are the writer's,
 * absent on instance roles. The file holds the DSN and keys, so it is a secret.
 *
 * Logins and keys cross the network over TLS only, as the chart at 3.2.16 serves it: `server.tls`
 * with the node's management certificate, the plain listener disabled (and on loopback should a
 * build ignore `disable`), and the session cookie `secure` (the chart's other session values kept).
 */
export function renderApi7v3DashboardConfig(spec: PlatformSpec, topology: Topology, databaseDsn: string, keys?: S3Keys): string {
    const tls = MANAGEMENT_TLS_PATHS.api7v3Dashboard;
    return (
        GENERATED_HEADER +
        stringify({
            server: {
                listen: { disable: true, host: "127.0.0.1", port: DASHBOARD_PLAIN_PORT },
                tls: { disable: false, host: "0.0.0.0", port: spec.controlPlane.dashboardPort, cert_file: tls.cert, key_file: tls.key },
            },
            session_options_config: { same_site: "lax", secure: true, max_age: 86400 },
            database: { dsn: databaseDsn },
            ...(spec.resilience.fallbackStorage ? { fallback_cp: controlPlaneFallbackBlock(spec, topology, keys) } : {}),
        })
    );
}

/**
 * Gateways reach the DP Manager only on its TLS listener, where it checks their dashboard-issued
 * client certificate (api7/api7-helm-chart charts/api7 values.yaml at 3.2.16: server.listen 7900,
 * server.tls 7943; the DP Manager serves a certificate of its own CA there). The plain listener
 * authenticates nobody, so it stays on loopback.
 */
export function renderApi7v3DpManagerConfig(spec: PlatformSpec, databaseDsn: string): string {
    return (
        GENERATED_HEADER +
        stringify({
            server: { listen: { host: "127.0.0.1", port: DP_MANAGER_PLAIN_PORT }, tls: { host: "0.0.0.0", port: spec.controlPlane.dpManagerPort } },
            database: { dsn: databaseDsn },
        })
    );
}
