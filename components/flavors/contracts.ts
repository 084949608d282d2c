// Flavor contracts: what each pinned program accepts, written by us from its upstream source and
// docs, for the parts of its configuration we render. `checkFile` runs a rendered file against
// its flavor's contract; the contract tests run it over every example stack and flavor, the lab's
// stand-ins refuse to start on a violation, and a file with any of the known faults fails it.
//
// The sources, read at these tags:
//   apache/apisix 3.14.1: apisix/cli/schema.lua, apisix/cli/file.lua, apisix/cli/etcd.lua,
//     apisix/cli/ngx_tpl.lua, apisix/core/etcd.lua
//   apache/apisix 2.13.3 (API7 EE 2.13.2304's base): conf/config-default.yaml,
//     apisix/cli/schema.lua, apisix/cli/ngx_tpl.lua, apisix/core/etcd.lua
//   apache/apisix 3.2.0 (API7 EE 3.2.16.3's base): apisix/cli/schema.lua
//   api7/api7-helm-chart, charts/gateway at appVersion 3.2.16.3 (values.yaml, templates/configmap.yaml)
//   apache/apisix-dashboard api/conf/conf.yaml (the API7 v2 dashboard's conf.yaml layout)
import { isIP } from "node:net";
import type { Flavor } from "../config/schema";
import { Checker, isObject, type Violation } from "./check";

export type { Violation } from "./check";

/** A member certificate's names, as the etcd servers present them. */
export interface ServerCertNames {
    dnsNames: string[];
    ipAddresses: string[];
}

/** What a CA bundle file holds. */
export interface TrustBundle {
    /** Public roots (the system's bundle) besides our own CA. */
    systemRoots: boolean;
    /** The CA that signs the etcd member certificates. */
    etcdCa: boolean;
    /** API7 v3: the DP Manager's CA (the dashboard hands it out with the gateway group's client certificate). */
    dpManagerCa?: boolean;
}

/** Facts outside the file that its rules need. Unknown facts are not checked. */
export interface ContractEnv {
    /** The etcd members' certificates, when the service talks TLS to etcd. */
    etcdServerCerts?: ServerCertNames[];
    /** CA bundle files by the path the config names. */
    bundles?: Record<string, TrustBundle>;
}

/** Which program reads the file. */
export type ServiceKind = "gateway" | "apisix-cp" | "dashboard" | "dp-manager";

export interface FlavorContract {
    flavor: Flavor;
    /** The product version the contract was written for. */
    version: string;
    /** The APISIX release its gateway is built on. */
    apisixBase: string;
    /** The default images this contract covers: changing one fails the contract tests until the contract is reviewed. */
    images: Partial<Record<ServiceKind, string>>;
    /** The config file each program reads, inside its container. */
    files: Partial<Record<ServiceKind, string>>;
    check: Partial<Record<ServiceKind, (c: Checker, env: ContractEnv) => void>>;
}

const SRC = {
    schema314: "apache/apisix 3.14.1 apisix/cli/schema.lua",
    ops314: "apache/apisix 3.14.1 apisix/cli/ops.lua (https_admin without admin_api_mtls.admin_ssl_cert/_key: \"missing ssl cert for https admin\") and apisix/cli/ngx_tpl.lua (listen … ssl)",
    tls: "apache/apisix 3.14.1 apisix/core/etcd.lua (_new: sni, ssl_verify) and lua-resty-etcd → OpenResty X509_check_host; apache/apisix #5155, #10940",
    trust32: "apache/apisix 3.2.0 apisix/cli/ngx_tpl.lua (ssl_trusted_certificate is lua_ssl_trusted_certificate and proxy_ssl_trusted_certificate)",
    trust314: "apache/apisix 3.14.1 apisix/cli/file.lua (ssl_trusted_certificate replaces 'system') and apisix/cli/ngx_tpl.lua (lua_ssl_trusted_certificate, proxy_ssl_trusted_certificate)",
    default213: "apache/apisix 2.13.3 conf/config-default.yaml",
    schema213: "apache/apisix 2.13.3 apisix/cli/schema.lua",
    tpl213: "apache/apisix 2.13.3 apisix/cli/ngx_tpl.lua",
    dashboard2: "apache/apisix-dashboard api/conf/conf.yaml (conf.etcd, authentication)",
    dashboardTls213:
        "apache/apisix-dashboard v2.13 api/internal/conf/conf.go (conf.ssl: port, cert, key; the HTTPS host is always 0.0.0.0) and api/internal/core/server/server.go, http.go (the plain listener always starts; HTTPS beside it when cert and key are set)",
    schema32: "apache/apisix 3.2.0 apisix/cli/schema.lua",
    chart3216: "api7/api7-helm-chart charts/gateway appVersion 3.2.16.3: values.yaml (admin.enabled false, etcd.auth.tls.sni), templates/configmap.yaml (role traditional)",
    dpm3216: "API7 EE 3.2.16.3 gateway deployment docs and api7/api7-helm-chart: gateways reach the DP Manager over mTLS on its TLS port (7943), SNI api7ee3-dp-manager",
    fallback3216: "API7 EE 3.2.16.3 docs, standalone gateways: fallback_cp.aws_s3 {access_key, secret_key, bucket, region}",
    dashboardFallback3216: "api7/api7-helm-chart charts/api7 values.yaml at 3.2.16 (dashboard_configuration.fallback_cp: aws_s3 {access_key, secret_key, region, bucket}, cron_spec)",
    v3conf: "api7/api7-helm-chart charts/api7 templates/dashboard-configmap.yaml, dp-manager-configmap.yaml (server.listen, database.dsn)",
    dashboardTls3216:
        "api7/api7-helm-chart charts/api7 at 3.2.16: values.yaml (dashboard_configuration.server: listen.disable true, tls {disable false, host, port 7443, key_file, cert_file}; session_options_config {same_site, secure, max_age}) and templates/dashboard-deploy.yaml (probes over HTTPS when listen.disable)",
} as const;

const URL = /^https?:\/\//;

/** A plain listener only the node itself reaches. */
const isLoopbackHost = (host: unknown): boolean => typeof host === "string" && /^127\./.test(host);

function urlHost(url: string): string | undefined {
    try {
        return new globalThis.URL(url).hostname.replace(/^\[|\]$/g, "");
    } catch {
        return undefined;
    }
}

/**
 * The etcd client block of an APISIX-based program (`deployment.etcd` or 2.13's `etcd`): the
 * schema subset, then what OpenResty does on the wire: the server name is `tls.sni` or the URL
 * host, X509_check_host matches it against DNS SANs only, and the CA comes from
 * `apisix.ssl.ssl_trusted_certificate`, which is the only trust store of the process.
 */
function checkEtcdBlock(c: Checker, block: string, env: ContractEnv, schemaSource: string): void {
    c.citing(schemaSource);
    if (!c.required("etcd-required", block) || !c.type("etcd-required", block, "object")) return;
    c.required("etcd-prefix", `${block}.prefix`);
    c.type("etcd-prefix", `${block}.prefix`, "string");
    c.required("etcd-host", `${block}.host`);
    const hosts = c.items("etcd-host", `${block}.host`, URL, "a URL matching ^https?://");
    c.type("etcd-timeout", `${block}.timeout`, "integer");
    const timeout = c.get(`${block}.timeout`);
    if (typeof timeout === "number" && timeout < 1) c.fail("etcd-timeout", `${block}.timeout`, "must be at least 1 (seconds)");
    c.type("etcd-tls", `${block}.tls`, "object");

    c.citing(SRC.tls);
    const https = hosts.filter((h) => h.startsWith("https://"));
    if (https.length === 0) return;
    if (c.get(`${block}.tls.verify`) === false) c.fail("etcd-tls-verify-off", `${block}.tls.verify`, "must not be false: the member certificates would not be checked at all");
    const sni = c.get(`${block}.tls.sni`);
    hosts.forEach((h, i) => {
        if (!h.startsWith("https://")) return;
        const name = typeof sni === "string" && sni !== "" ? sni : urlHost(h);
        const where = typeof sni === "string" && sni !== "" ? `${block}.tls.sni` : `${block}.host[${i}]`;
        if (!name) return;
        if (isIP(name)) {
            c.fail("etcd-tls-ip-host", where, `the TLS server name ${name} is an IP address; OpenResty's X509_check_host matches DNS names only, so verification fails ("certificate host mismatch"): set tls.sni to a DNS SAN of the member certificates`);
            return;
        }
        for (const [m, cert] of (env.etcdServerCerts ?? []).entries()) {
            if (!cert.dnsNames.some((d) => d.toLowerCase() === name.toLowerCase()))
                c.fail("etcd-tls-name-mismatch", where, `server name ${name} is not a DNS SAN of etcd member ${m + 1}'s certificate (${cert.dnsNames.join(", ") || "no DNS SANs"})`);
        }
    });

    c.citing(SRC.trust314);
    const bundle = c.get("apisix.ssl.ssl_trusted_certificate");
    if (typeof bundle !== "string" || bundle === "" || bundle === "system") {
        c.fail("trust-no-etcd-ca", "apisix.ssl.ssl_trusted_certificate", "must name a bundle holding the etcd CA: without it the member certificates do not verify");
        return;
    }
    const known = env.bundles?.[bundle];
    if (known && !known.etcdCa) c.fail("trust-no-etcd-ca", "apisix.ssl.ssl_trusted_certificate", `${bundle} does not hold the CA that signs the etcd member certificates`);
    if (known && !known.systemRoots)
        c.fail("trust-no-system-roots", "apisix.ssl.ssl_trusted_certificate", `${bundle} holds no public roots: it replaces the system bundle for every outbound TLS connection (upstreams, plugins), which would all fail verification`);
}

/** An APISIX 3.x status server for the balancers' probes (`apisix.status`). */
function checkStatusServer(c: Checker): void {
    if (!c.required("status-server", "apisix.status")) return;
    c.equals("status-server", "apisix.status.ip", "0.0.0.0", "the balancers probe it from other nodes");
    c.type("status-server", "apisix.status.port", "integer");
}

const ROLES_3X = ["traditional", "control_plane", "data_plane", "standalone"] as const;

function checkApisix314Gateway(c: Checker, env: ContractEnv): void {
    c.citing(SRC.schema314);
    c.required("schema-required", "apisix");
    c.required("schema-required", "deployment");
    if (!c.oneOf("deployment-role", "deployment.role", ROLES_3X)) return;
    c.equals("deployment-role", "deployment.role", "data_plane", "gateways only read configuration");
    c.required("data-plane-provider", "deployment.role_data_plane.config_provider");
    c.oneOf("data-plane-provider", "deployment.role_data_plane.config_provider", ["etcd", "yaml", "json", "xds"]);
    if (c.get("deployment.role_data_plane.config_provider") === "etcd") checkEtcdBlock(c, "deployment.etcd", env, SRC.schema314);
    c.citing(SRC.schema314);
    checkStatusServer(c);
}

function checkApisix314ControlPlane(c: Checker, env: ContractEnv): void {
    c.citing(SRC.schema314);
    c.required("schema-required", "apisix");
    c.required("schema-required", "deployment");
    c.equals("deployment-role", "deployment.role", "control_plane", "the Admin API nodes");
    c.required("control-plane-provider", "deployment.role_control_plane.config_provider");
    c.oneOf("control-plane-provider", "deployment.role_control_plane.config_provider", ["etcd"]);
    checkEtcdBlock(c, "deployment.etcd", env, SRC.schema314);
    c.citing(SRC.schema314);
    c.equals("admin-key", "deployment.admin.admin_key_required", true, "the stack always generates a key");
    const keys = c.get("deployment.admin.admin_key");
    if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => !isObject(k) || typeof k.key !== "string" || k.key === ""))
        c.fail("admin-key", "deployment.admin.admin_key", "needs an admin entry with a non-empty key");
    c.items("admin-allow", "deployment.admin.allow_admin", /^[0-9.]+(\/\d{1,2})?$/, "an IPv4 address or CIDR");
    c.citing(SRC.ops314);
    c.equals("admin-https", "deployment.admin.https_admin", true, "the Admin API key must never cross the network in clear");
    for (const key of ["admin_ssl_cert", "admin_ssl_cert_key"]) {
        const value = c.get(`deployment.admin.admin_api_mtls.${key}`);
        if (c.get("deployment.admin.https_admin") === true && (typeof value !== "string" || value === ""))
            c.fail("admin-https-cert", `deployment.admin.admin_api_mtls.${key}`, "https_admin needs it: APISIX dies with \"missing ssl cert for https admin\"");
    }
}

/**
 * API7 EE 2.13.2304: APISIX 2.13 reads a top-level `etcd` (no `deployment`: a 3.x-shaped file is
 * ignored and the gateway falls back to http://127.0.0.1:2379 with prefix /apisix), and has no
 * `apisix.status`: our status server comes from an nginx snippet.
 */
function checkApi7v2Gateway(c: Checker, env: ContractEnv): void {
    c.citing(SRC.default213);
    c.absent("v2-no-deployment", "deployment", "APISIX 2.13 has no `deployment` section: it is ignored, and the gateway reads the top-level `etcd` block (default http://127.0.0.1:2379, prefix /apisix)");
    c.absent("v2-no-status", "apisix.status", "APISIX 2.13 has no `apisix.status` server: nothing would listen on the status port");
    c.citing(SRC.schema213);
    c.oneOf("v2-config-center", "apisix.config_center", ["etcd", "yaml"]);
    checkEtcdBlock(c, "etcd", env, SRC.schema213);
    c.citing(SRC.default213);
    const prefix = c.get("etcd.prefix");
    if (typeof prefix === "string" && !/^\/api7\/[^/]+$/.test(prefix)) c.fail("v2-prefix", "etcd.prefix", `must be /api7/<cluster id> (the dashboard's cluster), got ${JSON.stringify(prefix)}`);
    c.equals("v2-admin-off", "apisix.enable_admin", false, "2.13 turns the Admin API on by default with a published default key (admin_key edd1c9f0…)");
    c.citing(SRC.tpl213);
    const snippet = c.get("nginx_config.http_configuration_snippet");
    if (typeof snippet !== "string" || !/listen\s+0\.0\.0\.0:\d+;/.test(snippet) || !snippet.includes("location = /status"))
        c.fail("v2-status-snippet", "nginx_config.http_configuration_snippet", "must hold the status server (listen 0.0.0.0:<status port>; location = /status): 2.13 has none of its own and the balancers probe it");
}

function checkApi7v2Dashboard(c: Checker): void {
    c.citing(SRC.dashboard2);
    c.type("dashboard-listen", "conf.listen.port", "integer");
    c.required("dashboard-etcd", "conf.etcd.endpoints");
    // The Go client takes host:port; a scheme makes every endpoint unreachable.
    c.items("dashboard-etcd", "conf.etcd.endpoints", /^[^/:]+:\d+$/, "host:port without a scheme");
    c.equals("dashboard-prefix", "conf.etcd.prefix", "/api7", "the dashboard owns /api7; gateways read /api7/<cluster id>");
    if (c.get("conf.etcd.mtls.enable") === true)
        for (const k of ["key_file", "cert_file", "ca_file"]) c.required("dashboard-mtls", `conf.etcd.mtls.${k}`);
    const users = c.get("authentication.users");
    if (!Array.isArray(users) || users.length === 0) c.fail("dashboard-default-login", "authentication.users", "must list the stack's own admin user: without it the vendor's default login applies");
    else
        users.forEach((u, i) => {
            if (!isObject(u) || typeof u.password !== "string" || u.password.length < 16 || u.password === u.username)
                c.fail("dashboard-default-login", `authentication.users[${i}].password`, "must be a generated password (at least 16 characters), not a default");
        });
    const secret = c.get("authentication.secret");
    if (typeof secret !== "string" || secret.length < 16 || secret === "secret") c.fail("dashboard-session-secret", "authentication.secret", "must be a generated secret: it signs the login tokens");
    c.citing(SRC.dashboardTls213);
    if (c.required("v2-dashboard-tls", "conf.ssl") && c.type("v2-dashboard-tls", "conf.ssl", "object")) {
        c.type("v2-dashboard-tls", "conf.ssl.port", "integer");
        for (const k of ["cert", "key"]) {
            const v = c.get(`conf.ssl.${k}`);
            if (typeof v !== "string" || v === "") c.fail("v2-dashboard-tls", `conf.ssl.${k}`, "must name the node's management certificate file: without both, 2.13 serves no HTTPS at all");
        }
        if (c.get("conf.ssl.port") === c.get("conf.listen.port")) c.fail("v2-dashboard-tls", "conf.ssl.port", "must differ from conf.listen.port: both listeners start");
    }
    const host = c.get("conf.listen.host");
    if (!isLoopbackHost(host))
        c.fail("v2-dashboard-plain", "conf.listen.host", "must be a loopback address: 2.13 always starts its plain listener (default 0.0.0.0), which serves logins in clear");
}

/**
 * API7 EE 3.2.16.3 gateways: APISIX 3.2, whose data_plane role takes config_provider control_plane,
 * yaml or xds only (no etcd): connected gateways run `traditional` on the DP Manager's etcd API,
 * Admin API off, as the chart does.
 */
function checkApi7v3Gateway(c: Checker, env: ContractEnv): void {
    c.citing(SRC.schema32);
    c.required("schema-required", "apisix");
    c.required("schema-required", "deployment");
    if (!c.oneOf("deployment-role", "deployment.role", ROLES_3X)) return;
    const role = c.get("deployment.role");
    if (role === "data_plane") {
        c.required("data-plane-provider", "deployment.role_data_plane.config_provider");
        c.oneOf("data-plane-provider", "deployment.role_data_plane.config_provider", ["control_plane", "yaml", "xds"]);
        if (c.get("deployment.role_data_plane.config_provider") === "yaml") {
            c.citing(SRC.fallback3216);
            c.required("v3-fallback-keys", "deployment.fallback_cp.aws_s3");
            c.onlyKeys("v3-fallback-keys", "deployment.fallback_cp.aws_s3", ["access_key", "secret_key", "bucket", "region"], "is not a 3.2.16.3 gateway key (bucket, region, access_key, secret_key): it is ignored");
            c.required("v3-fallback-keys", "deployment.fallback_cp.aws_s3.bucket");
        }
    } else if (role === "traditional") {
        c.required("traditional-provider", "deployment.role_traditional.config_provider");
        c.oneOf("traditional-provider", "deployment.role_traditional.config_provider", ["etcd"]);
        c.required("etcd-required", "deployment.etcd");
        c.items("etcd-host", "deployment.etcd.host", URL, "a URL matching ^https?://");
        c.citing(SRC.chart3216);
        c.equals("v3-admin-off", "apisix.enable_admin", false, "gateways are managed by the dashboard; the chart keeps their Admin API off");
        c.citing(SRC.dpm3216);
        const hosts = c.get("deployment.etcd.host");
        if (Array.isArray(hosts) && hosts.some((h) => typeof h !== "string" || !h.startsWith("https://")))
            c.fail("v3-dpm-mtls", "deployment.etcd.host", "must be the DP Manager's TLS port (https://…:7943): it authenticates gateways by client certificate");
        for (const k of ["cert", "key"]) if (typeof c.get(`deployment.etcd.tls.${k}`) !== "string") c.fail("v3-dpm-mtls", `deployment.etcd.tls.${k}`, "needs the gateway group's dashboard-issued client certificate and key");
        c.equals("v3-dpm-mtls", "deployment.etcd.tls.sni", "api7ee3-dp-manager", "the DP Manager's certificate name");
        c.equals("v3-dpm-mtls", "deployment.etcd.tls.verify", true, "an unverified DP Manager could hand the gateways any configuration");
        c.citing(SRC.trust32);
        const bundle = c.get("apisix.ssl.ssl_trusted_certificate");
        if (typeof bundle !== "string" || bundle === "") c.fail("v3-dpm-ca", "apisix.ssl.ssl_trusted_certificate", "must name a bundle holding the DP Manager's CA: its server certificate is issued by that CA");
        else {
            const known = env.bundles?.[bundle];
            if (known && !known.dpManagerCa) c.fail("v3-dpm-ca", "apisix.ssl.ssl_trusted_certificate", `${bundle} does not hold the DP Manager's CA`);
            if (known && !known.systemRoots)
                c.fail("trust-no-system-roots", "apisix.ssl.ssl_trusted_certificate", `${bundle} holds no public roots: it replaces the system bundle for every outbound TLS connection`);
        }
    } else c.fail("deployment-role", "deployment.role", "gateways run traditional (connected) or data_plane (standalone)");
    c.citing(SRC.schema32);
    checkStatusServer(c);
}

function checkApi7v3Server(c: Checker): void {
    if (c.get("fallback_cp") !== undefined) {
        c.citing(SRC.dashboardFallback3216);
        c.onlyKeys("v3-fallback-keys", "fallback_cp", ["aws_s3", "cron_spec"], "is not a 3.2.16.3 dashboard key: it is ignored");
        c.onlyKeys("v3-fallback-keys", "fallback_cp.aws_s3", ["access_key", "secret_key", "bucket", "region"], "is not a 3.2.16.3 dashboard key (bucket, region, access_key, secret_key): it is ignored");
        c.required("v3-fallback-keys", "fallback_cp.aws_s3.bucket");
    }
    c.citing(SRC.v3conf);
    c.type("v3-listen", "server.listen.port", "integer");
    c.required("v3-dsn", "database.dsn");
    const dsn = c.get("database.dsn");
    if (typeof dsn === "string" && !/^postgres(ql)?:\/\//.test(dsn)) c.fail("v3-dsn", "database.dsn", "must be a PostgreSQL URL (postgres://…)");
}

/**
 * The dashboard carries logins, the admin password and gateway groups' keys: TLS only, with a
 * certificate clients can verify (the stack's management certificate), and nothing in clear.
 */
function checkApi7v3Dashboard(c: Checker): void {
    checkApi7v3Server(c);
    c.citing(SRC.dashboardTls3216);
    if (!c.required("v3-dashboard-tls", "server.tls") || !c.type("v3-dashboard-tls", "server.tls", "object")) return;
    if (c.get("server.tls.disable") === true) c.fail("v3-dashboard-tls", "server.tls.disable", "must not be true: logins and keys would cross the network in clear");
    c.type("v3-dashboard-tls", "server.tls.port", "integer");
    for (const k of ["cert_file", "key_file"]) {
        const v = c.get(`server.tls.${k}`);
        if (typeof v !== "string" || v === "") c.fail("v3-dashboard-tls", `server.tls.${k}`, "must name the node's management certificate file: without it clients cannot verify the dashboard");
    }
    const host = c.get("server.listen.host");
    if (c.get("server.listen.disable") !== true && !isLoopbackHost(host))
        c.fail("v3-dashboard-plain", "server.listen.disable", "must be true (or the plain listener on loopback): it serves logins in clear");
    c.equals("v3-dashboard-cookie", "session_options_config.secure", true, "the session cookie must never be sent over plain HTTP");
}

const APISIX_CONFIG = "/usr/local/apisix/conf/config.yaml";

export const FLAVOR_CONTRACTS: Record<Flavor, FlavorContract> = {
    apisix: {
        flavor: "apisix",
        version: "3.14.1",
        apisixBase: "3.14.1",
        images: { gateway: "apache/apisix:3.14.1-debian", "apisix-cp": "apache/apisix:3.14.1-debian" },
        files: { gateway: APISIX_CONFIG, "apisix-cp": APISIX_CONFIG },
        check: { gateway: checkApisix314Gateway, "apisix-cp": checkApisix314ControlPlane },
    },
    "api7-v2": {
        flavor: "api7-v2",
        version: "2.13.2304",
        apisixBase: "2.13.3",
        images: { gateway: "api7ee.azurecr.io/api7-gateway:2.13.2304", dashboard: "api7ee.azurecr.io/api7-dashboard:2.13.2304" },
        files: { gateway: APISIX_CONFIG, dashboard: "/usr/local/apisix-dashboard/conf/conf.yaml" },
        check: { gateway: checkApi7v2Gateway, dashboard: checkApi7v2Dashboard },
    },
    "api7-v3": {
        flavor: "api7-v3",
        version: "3.2.16.3",
        apisixBase: "3.2.0",
        images: { gateway: "api7/api7-ee-3-gateway:3.2.16.3", dashboard: "api7/api7-ee-3-integrated:v3.2.16.3", "dp-manager": "api7/api7-ee-dp-manager:v3.2.16.3" },
        files: { gateway: APISIX_CONFIG, dashboard: "/app/conf/config.yaml", "dp-manager": "/usr/local/api7/conf/config.yaml" },
        check: { gateway: checkApi7v3Gateway, dashboard: checkApi7v3Dashboard, "dp-manager": checkApi7v3Server },
    },
};

/** A rendered file's violations of its flavor's contract for the program that reads it. */
export function checkFile(flavor: Flavor, kind: ServiceKind, file: string, doc: unknown, env: ContractEnv = {}): Violation[] {
    const check = FLAVOR_CONTRACTS[flavor].check[kind];
    if (!check) throw new Error(`flavor ${flavor} has no ${kind}`);
    const c = new Checker(file, doc, "");
    check(c, env);
    return c.violations;
}

/** One line per violation, for errors and stand-in refusals. */
export function formatViolations(vs: readonly Violation[]): string {
    return vs.map((v) => `${v.file}: ${v.path || "(file)"} ${v.message} [${v.rule}; ${v.source}]`).join("\n");
}
