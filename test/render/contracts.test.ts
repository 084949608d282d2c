// Flavor contracts (components/flavors): every rendered file of every example stack and flavor
// satisfies what its pinned program accepts, and files with the faults the upstream sources
// describe do not. The stacks run under the mock engine with real certificates (the lab's
// realState), so the TLS rules are checked against the certificates `pulumi up` would issue.
import { X509Certificate } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { FLAVOR_CONTRACTS, checkFile, formatViolations, type ContractEnv, type ServiceKind, type Violation } from "../../components/flavors/contracts";
import { ETCD_PKI_FILES, ETCD_CONTAINER_PATHS, ETCD_TLS_SERVER_NAME } from "../../components/render/etcd";
import { APISIX_PATHS } from "../../components/render/gateway";
import { DEFAULT_IMAGES, FLAVORS, type Flavor } from "../../components/config/schema";
import { labDeployment, type LabService } from "../../lab/deployment";
import { identitySets, issueDpIdentity } from "../../lab/standins/dpIdentity";
import { preview, renderedFiles } from "../../scripts/preview-offline";
import { issuesOf } from "../config";

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const certs = (text: string) => (text.match(PEM) ?? []).map((p) => new X509Certificate(p));

/** A certificate's SANs as OpenSSL lists them: `DNS:a, IP Address:1.2.3.4`. */
function sanNames(cert: X509Certificate) {
    const entries = (cert.subjectAltName ?? "").split(", ").filter(Boolean);
    return {
        dnsNames: entries.filter((e) => e.startsWith("DNS:")).map((e) => e.slice(4)),
        ipAddresses: entries.filter((e) => e.startsWith("IP Address:")).map((e) => e.slice(11)),
    };
}

/** The API7 v3 gateway group's identity the v3 stacks run with (what `npm run api7:identity` sets). */
const DP_IDENTITY = issueDpIdentity();
const DP_CA = new X509Certificate(DP_IDENTITY.caCertificate);

/** What a bundle file holds besides `ca`: anything else counts as the system's roots. */
function bundleFacts(bundle: string, ca: X509Certificate | undefined) {
    const inBundle = certs(bundle);
    const hasCa = ca !== undefined && inBundle.some((c) => c.fingerprint256 === ca.fingerprint256);
    return { hasCa, systemRoots: inBundle.some((c) => c.fingerprint256 !== ca?.fingerprint256 && !c.subject.includes("O=gateway-ha")) };
}

/** The facts a contract needs, read from the deployment's real files. */
function envOf(services: LabService[], svc: LabService): ContractEnv {
    const memberCert = `${ETCD_CONTAINER_PATHS.pkiDir}/${ETCD_PKI_FILES.cert}`;
    const etcdServerCerts = services
        .filter((s) => s.service === "etcd")
        .flatMap((s) => s.files.filter((f) => f.path === memberCert))
        .map((f) => sanNames(certs(f.content)[0]!));
    const ca = svc.files.find((f) => f.path === APISIX_PATHS.ca)?.content;
    const bundle = svc.files.find((f) => f.path === APISIX_PATHS.trustBundle)?.content;
    const dpBundle = svc.files.find((f) => f.path === APISIX_PATHS.dpTrustBundle)?.content;
    const etcdFacts = bundle ? bundleFacts(bundle, ca ? certs(ca)[0] : undefined) : undefined;
    const dpFacts = dpBundle ? bundleFacts(dpBundle, DP_CA) : undefined;
    return {
        etcdServerCerts,
        bundles: {
            ...(etcdFacts ? { [APISIX_PATHS.trustBundle]: { etcdCa: etcdFacts.hasCa, systemRoots: etcdFacts.systemRoots } } : {}),
            ...(dpFacts ? { [APISIX_PATHS.dpTrustBundle]: { etcdCa: false, dpManagerCa: dpFacts.hasCa, systemRoots: dpFacts.systemRoots } } : {}),
        },
    };
}

const KINDS: Record<string, ServiceKind> = { gateway: "gateway", "apisix-cp": "apisix-cp", dashboard: "dashboard", "dp-manager": "dp-manager" };

/** Every contract-covered file of a docker or ssh stack, with its violations. */
async function stackViolations(stack: string, sets: string[]): Promise<{ checked: string[]; violations: Violation[] }> {
    vi.resetModules(); // index.ts must register its resources again on this run
    const d = await labDeployment({ stack, sets });
    const flavor = d.spec.flavor;
    const contract = FLAVOR_CONTRACTS[flavor];
    const checked: string[] = [];
    const violations: Violation[] = [];
    for (const svc of d.services) {
        const kind = KINDS[svc.service];
        if (!kind) continue;
        const path = contract.files[kind];
        const file = svc.files.find((f) => f.path === path);
        if (!path || !file) throw new Error(`${svc.container}: no ${path} for ${kind}`);
        checked.push(`${svc.container}:${kind}`);
        violations.push(...checkFile(flavor, kind, `${svc.container}:${path}`, parse(file.content), envOf(d.services, svc)));
    }
    return { checked, violations };
}


describe("contracts pin the versions they were written for", () => {
    it("each flavor's default images are the contract's: a version change fails here until its contract is reviewed", () => {
        expect(FLAVOR_CONTRACTS.apisix.images).toEqual({ gateway: DEFAULT_IMAGES.apisix, "apisix-cp": DEFAULT_IMAGES.apisix });
        expect(FLAVOR_CONTRACTS["api7-v2"].images).toEqual({ gateway: DEFAULT_IMAGES.api7v2Gateway, dashboard: DEFAULT_IMAGES.api7v2Dashboard });
        expect(FLAVOR_CONTRACTS["api7-v3"].images).toEqual({
            gateway: DEFAULT_IMAGES.api7v3Gateway,
            dashboard: DEFAULT_IMAGES.api7v3Dashboard,
            "dp-manager": DEFAULT_IMAGES.api7v3DpManager,
        });
    });

    it("API7 v3's dashboard and DP Manager are one version; a DP Manager of another version is refused naming the key", () => {
        expect(DEFAULT_IMAGES.api7v3DpManager.split(":")[1]).toBe(DEFAULT_IMAGES.api7v3Dashboard.split(":")[1]);
        const issues = issuesOf({ flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://a:b@db:5432/x?sslmode=verify-full", dpManagerImage: "api7/api7-ee-dp-manager:v3.2.9.1" } });
        expect(issues).toEqual([expect.objectContaining({ key: "controlPlane.dpManagerImage", value: "api7/api7-ee-dp-manager:v3.2.9.1" })]);
        expect(issues[0]!.rule).toMatch(/dashboard's version/);
    });

    it("the DP Manager's TLS listener cannot take its plain listener's port", () => {
        const issues = issuesOf({ flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://a:b@db:5432/x?sslmode=verify-full", dpManagerPort: 7900 } });
        expect(issues).toEqual([expect.objectContaining({ key: "controlPlane.dpManagerPort", value: 7900 })]);
        expect(issues[0]!.rule).toMatch(/plain listener holds it on loopback/);
    });

    it("no TLS listener can take a loopback port of the plain listeners (API7 v3 7900, 7080; API7 v2 9001)", () => {
        const issues = issuesOf({ flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://a:b@db:5432/x?sslmode=verify-full", dashboardPort: 7900, dpManagerPort: 7080 } });
        expect(issues).toEqual([
            expect.objectContaining({ key: "controlPlane.dpManagerPort", value: 7080 }),
            expect.objectContaining({ key: "controlPlane.dashboardPort", value: 7900 }),
        ]);
        expect(issues[0]!.rule).toMatch(/dashboard's plain listener/);
        expect(issues[1]!.rule).toMatch(/DP Manager's plain listener/);
        expect(issuesOf({ flavor: "api7-v2", controlPlane: { dashboardPort: 7080 }, dataPlane: { clusterId: "c1" } })).toEqual([]);
        const v2 = issuesOf({ flavor: "api7-v2", controlPlane: { dashboardPort: 9001 }, dataPlane: { clusterId: "c1" } });
        expect(v2).toEqual([expect.objectContaining({ key: "controlPlane.dashboardPort", value: 9001 })]);
        expect(v2[0]!.rule).toMatch(/dashboard's plain listener holds it on loopback \(9000 by default\)/);
    });
});

// Every example stack with every flavor it can run, and the modes that change the files.
const MATRIX: { stack: string; sets: string[] }[] = [
    ...FLAVORS.map((f) => ({ stack: "dev", sets: [`flavor=${f}`, ...(f === "api7-v3" ? ["controlPlane.databaseDsn=postgres://api7:pw@db.internal:5432/api7?sslmode=verify-full", ...identitySets(DP_IDENTITY)] : []), ...(f === "api7-v2" ? ["dataPlane.clusterId=c1"] : [])] })),
    { stack: "dev", sets: ["layout=compact"] },
    { stack: "dev", sets: ["etcd.tls=false", "etcd.auth=false"] },
    { stack: "onprem", sets: [] },
    { stack: "onprem", sets: ["flavor=apisix"] },
    { stack: "onprem-lvs", sets: [] },
    // The dashboards' and standalone gateways' fallback_cp.
    ...["connected", "standalone"].map((mode) => ({
        stack: "dev",
        sets: [
            "flavor=api7-v3",
            "controlPlane.databaseDsn=postgres://api7:pw@db.internal:5432/api7?sslmode=verify-full",
            ...identitySets(DP_IDENTITY),
            `resilience={mode: ${mode}, fallbackStorage: {kind: s3, region: eu-west-1, configBucket: acme-gw-config, resourceBucket: acme-gw-resources}}`,
        ],
    })),
];

describe("every example stack's rendered files satisfy their flavor's contract", () => {
    for (const { stack, sets } of MATRIX) {
        it(`${stack} ${sets.join(" ")}`, async () => {
            const { checked, violations } = await stackViolations(stack, sets);
            expect(checked.length).toBeGreaterThanOrEqual(4);
            expect(violations, formatViolations(violations)).toEqual([]);
        }, 60_000);
    }

    it("prod (api7-v3 on AWS, connected and standalone): the gateways' user-data config.yaml", async () => {
        for (const mode of ["connected", "standalone"]) {
            vi.resetModules();
            const { run } = await preview({ stack: "prod", sets: [`resilience.mode=${mode}`, ...identitySets(DP_IDENTITY)] });
            const files = renderedFiles(run).filter((f) => f.path.endsWith(`-gateway${APISIX_PATHS.config}`));
            expect(files.length).toBe(3);
            for (const f of files) {
                const rules = checkFile("api7-v3", "gateway", f.path, parse(f.content)).map((v) => v.rule);
                expect(rules).toEqual([]);
            }
        }
    }, 60_000);
});

// The faults the upstream sources describe (issue "Every flavor works against the real software").
const member = (dnsNames: string[]) => ({ dnsNames, ipAddresses: ["172.28.0.11"] });
const HOSTS = ["https://172.28.0.11:2379", "https://172.28.0.12:2379", "https://172.28.0.13:2379"];
const GOOD_ENV: ContractEnv = {
    etcdServerCerts: [member(["etcd-1-etcd", ETCD_TLS_SERVER_NAME])],
    bundles: { [APISIX_PATHS.trustBundle]: { systemRoots: true, etcdCa: true } },
};
const gateway314 = (etcd: Record<string, unknown>, ssl: Record<string, unknown> = { ssl_trusted_certificate: APISIX_PATHS.trustBundle }) => ({
    apisix: { ssl, status: { ip: "0.0.0.0", port: 7085 } },
    deployment: { role: "data_plane", role_data_plane: { config_provider: "etcd" }, etcd: { prefix: "/apisix", timeout: 30, ...etcd } },
});
const rules = (flavor: Flavor, kind: ServiceKind, doc: unknown, env: ContractEnv = GOOD_ENV) => checkFile(flavor, kind, "config.yaml", doc, env).map((v) => v.rule);

/** An API7 v2 dashboard's listeners as the stack renders them. */
const V2_LISTENERS = { listen: { host: "127.0.0.1", port: 9001 }, ssl: { port: 9000, cert: "/usr/local/apisix-dashboard/conf/management/tls.crt", key: "/usr/local/apisix-dashboard/conf/management/tls.key" } };
const V2_LOGIN = { secret: "s".repeat(32), users: [{ username: "admin", password: "p".repeat(32) }] };

/** An API7 v3 dashboard config as the stack renders it, apart from the DSN. */
const V3_DASHBOARD = {
    server: {
        listen: { disable: true, host: "127.0.0.1", port: 7080 },
        tls: { disable: false, host: "0.0.0.0", port: 17080, cert_file: "/app/certs/tls.crt", key_file: "/app/certs/tls.key" },
    },
    session_options_config: { same_site: "lax", secure: true, max_age: 86400 },
    database: { dsn: "postgres://a:b@db/x" },
};

describe("files with the known faults fail their contract", () => {
    it("a well-formed APISIX 3.14 gateway passes (the negative cases below differ from it in one fault each)", () => {
        expect(rules("apisix", "gateway", gateway314({ host: HOSTS, tls: { verify: true, sni: ETCD_TLS_SERVER_NAME } }))).toEqual([]);
    });

    it("1. IP hosts without sni: OpenResty checks the IP as a DNS name and fails", () => {
        expect(rules("apisix", "gateway", gateway314({ host: HOSTS, tls: { verify: true } }))).toEqual(["etcd-tls-ip-host", "etcd-tls-ip-host", "etcd-tls-ip-host"]);
    });

    it("1. an sni the member certificates do not carry as a DNS SAN (IP SANs only): certificate host mismatch", () => {
        const env = { ...GOOD_ENV, etcdServerCerts: [member(["etcd-1-etcd"])] };
        expect(rules("apisix", "gateway", gateway314({ host: HOSTS, tls: { verify: true, sni: ETCD_TLS_SERVER_NAME } }), env)).toEqual(["etcd-tls-name-mismatch", "etcd-tls-name-mismatch", "etcd-tls-name-mismatch"]);
    });

    it("1. verification switched off is refused too", () => {
        expect(rules("apisix", "gateway", gateway314({ host: HOSTS, tls: { verify: false, sni: ETCD_TLS_SERVER_NAME } }))).toEqual(["etcd-tls-verify-off"]);
    });

    it("2. the etcd CA alone as ssl_trusted_certificate: every public upstream fails verification", () => {
        const env = { ...GOOD_ENV, bundles: { [APISIX_PATHS.ca]: { systemRoots: false, etcdCa: true } } };
        const doc = gateway314({ host: HOSTS, tls: { verify: true, sni: ETCD_TLS_SERVER_NAME } }, { ssl_trusted_certificate: APISIX_PATHS.ca });
        expect(rules("apisix", "gateway", doc, env)).toEqual(["trust-no-system-roots"]);
        // And none at all: 3.14 uses the system bundle, which lacks the etcd CA.
        expect(rules("apisix", "gateway", gateway314({ host: HOSTS, tls: { verify: true, sni: ETCD_TLS_SERVER_NAME } }, {}))).toEqual(["trust-no-etcd-ca"]);
    });

    it("3. API7 v2 given the 3.x shape: deployment is ignored, no etcd block, no status server of its own", () => {
        const doc = gateway314({ host: HOSTS, prefix: "/api7/default", tls: { verify: true, sni: ETCD_TLS_SERVER_NAME } });
        expect(rules("api7-v2", "gateway", doc)).toEqual(["v2-no-deployment", "v2-no-status", "etcd-required", "v2-admin-off", "v2-status-snippet"]);
    });

    it("3. API7 v2 on the wrong prefix (not /api7/<cluster id>)", () => {
        const doc = { apisix: { enable_admin: false, ssl: { ssl_trusted_certificate: APISIX_PATHS.trustBundle }, config_center: "etcd" }, nginx_config: { http_configuration_snippet: "server {\n listen 0.0.0.0:7085;\n location = /status {}\n}" }, etcd: { host: HOSTS, prefix: "/apisix", tls: { sni: ETCD_TLS_SERVER_NAME } } };
        expect(rules("api7-v2", "gateway", doc)).toEqual(["v2-prefix"]);
    });

    it("4. API7 v3 gateways as data_plane on etcd: APISIX 3.2 has no such config_provider", () => {
        const doc = { apisix: { status: { ip: "0.0.0.0", port: 7085 } }, deployment: { role: "data_plane", role_data_plane: { config_provider: "etcd" }, etcd: { host: ["http://10.0.0.5:17900"], prefix: "/apisix" } } };
        expect(rules("api7-v3", "gateway", doc)).toEqual(["data-plane-provider"]);
    });

    it("4. API7 v3 gateways on plain HTTP to the DP Manager, without a client certificate", () => {
        const doc = { apisix: { enable_admin: false, status: { ip: "0.0.0.0", port: 7085 } }, deployment: { role: "traditional", role_traditional: { config_provider: "etcd" }, etcd: { host: ["http://10.0.0.5:17900"], prefix: "/apisix" } } };
        // Plain host, no client certificate or key, no sni, verification unset, and no bundle with the DP Manager's CA.
        expect(rules("api7-v3", "gateway", doc)).toEqual(["v3-dpm-mtls", "v3-dpm-mtls", "v3-dpm-mtls", "v3-dpm-mtls", "v3-dpm-mtls", "v3-dpm-ca"]);
    });

    it("4. API7 v3 gateways with mTLS but a bundle without the DP Manager's CA (or without public roots)", () => {
        const doc = {
            apisix: { enable_admin: false, ssl: { ssl_trusted_certificate: APISIX_PATHS.dpTrustBundle }, status: { ip: "0.0.0.0", port: 7085 } },
            deployment: {
                role: "traditional",
                role_traditional: { config_provider: "etcd" },
                etcd: { host: ["https://10.0.0.5:7943"], prefix: "/apisix", tls: { cert: APISIX_PATHS.dpCert, key: APISIX_PATHS.dpKey, verify: true, sni: "api7ee3-dp-manager" } },
            },
        };
        const env = (dpManagerCa: boolean, systemRoots: boolean): ContractEnv => ({ bundles: { [APISIX_PATHS.dpTrustBundle]: { etcdCa: false, dpManagerCa, systemRoots } } });
        expect(rules("api7-v3", "gateway", doc, env(true, true))).toEqual([]);
        expect(rules("api7-v3", "gateway", doc, env(false, true))).toEqual(["v3-dpm-ca"]);
        expect(rules("api7-v3", "gateway", doc, env(true, false))).toEqual(["trust-no-system-roots"]);
    });

    it("6. standalone v3 gateways with keys the 3.2.16.3 gateway does not read", () => {
        const doc = { apisix: { status: { ip: "0.0.0.0", port: 7085 } }, deployment: { role: "data_plane", role_data_plane: { config_provider: "yaml" }, fallback_cp: { aws_s3: { region: "eu-west-1", config_bucket: "c", resource_bucket: "r" } } } };
        expect(rules("api7-v3", "gateway", doc)).toEqual(["v3-fallback-keys", "v3-fallback-keys", "v3-fallback-keys"]);
    });

    it("6. a v3 dashboard dumping with the newer keys (two buckets, custom_endpoint): 3.2.16.3 reads bucket", () => {
        const doc = { ...V3_DASHBOARD, fallback_cp: { cron_spec: "@every 1m", aws_s3: { region: "eu-west-1", config_bucket: "c", resource_bucket: "r", custom_endpoint: "http://s3:9000" } } };
        expect(rules("api7-v3", "dashboard", doc)).toEqual(["v3-fallback-keys", "v3-fallback-keys", "v3-fallback-keys", "v3-fallback-keys"]);
        const good = { ...doc, fallback_cp: { cron_spec: "@every 1m", aws_s3: { region: "eu-west-1", bucket: "c" } } };
        expect(rules("api7-v3", "dashboard", good)).toEqual([]);
    });

    it("7. an API7 v2 dashboard with the vendor's login (or none)", () => {
        const conf = { ...V2_LISTENERS, etcd: { endpoints: ["172.28.0.11:2379"], prefix: "/api7" } };
        expect(rules("api7-v2", "dashboard", { conf })).toEqual(["dashboard-default-login", "dashboard-session-secret"]);
        expect(rules("api7-v2", "dashboard", { conf, authentication: { secret: "secret", users: [{ username: "admin", password: "admin" }] } })).toEqual([
            "dashboard-default-login",
            "dashboard-session-secret",
        ]);
    });

    it("8. an APISIX Admin API in plain HTTP is refused; HTTPS without its certificate is what APISIX dies on", () => {
        const cp = (admin: Record<string, unknown>) => ({
            apisix: { ssl: { ssl_trusted_certificate: APISIX_PATHS.trustBundle } },
            deployment: {
                role: "control_plane",
                role_control_plane: { config_provider: "etcd" },
                etcd: { host: HOSTS, prefix: "/apisix", timeout: 30, tls: { verify: true, sni: ETCD_TLS_SERVER_NAME } },
                admin: { admin_key_required: true, admin_key: [{ name: "admin", key: "k".repeat(32), role: "admin" }], allow_admin: ["172.28.0.18/32"], ...admin },
            },
        });
        const tls = { admin_ssl_cert: "/usr/local/apisix/conf/management/tls.crt", admin_ssl_cert_key: "/usr/local/apisix/conf/management/tls.key" };
        expect(rules("apisix", "apisix-cp", cp({ https_admin: true, admin_api_mtls: tls }))).toEqual([]);
        expect(rules("apisix", "apisix-cp", cp({}))).toEqual(["admin-https"]);
        expect(rules("apisix", "apisix-cp", cp({ https_admin: true }))).toEqual(["admin-https-cert", "admin-https-cert"]);
        expect(rules("apisix", "apisix-cp", cp({ https_admin: true, admin_api_mtls: { ...tls, admin_ssl_cert_key: "" } }))).toEqual(["admin-https-cert"]);
    });

    it("9. an API7 v3 dashboard serving logins in clear, or TLS without a certificate clients can verify", () => {
        expect(rules("api7-v3", "dashboard", V3_DASHBOARD)).toEqual([]);
        const server = V3_DASHBOARD.server;
        const without = <T extends object>(o: T, k: keyof T) => Object.fromEntries(Object.entries(o).filter(([key]) => key !== k));
        expect(rules("api7-v3", "dashboard", { ...V3_DASHBOARD, server: { listen: { host: "0.0.0.0", port: 17080 } } })).toEqual(["v3-dashboard-tls"]);
        expect(rules("api7-v3", "dashboard", { ...V3_DASHBOARD, server: { ...server, tls: { ...server.tls, disable: true } } })).toEqual(["v3-dashboard-tls"]);
        expect(rules("api7-v3", "dashboard", { ...V3_DASHBOARD, server: { ...server, tls: { ...server.tls, key_file: "" } } })).toEqual(["v3-dashboard-tls"]);
        expect(rules("api7-v3", "dashboard", { ...V3_DASHBOARD, server: { ...server, tls: without(server.tls, "cert_file") } })).toEqual(["v3-dashboard-tls"]);
        expect(rules("api7-v3", "dashboard", { ...V3_DASHBOARD, server: { ...server, listen: { host: "0.0.0.0", port: 7080 } } })).toEqual(["v3-dashboard-plain"]);
        expect(rules("api7-v3", "dashboard", { ...V3_DASHBOARD, server: { ...server, listen: { host: "127.0.0.1", port: 7080 } } })).toEqual([]);
        expect(rules("api7-v3", "dashboard", without(V3_DASHBOARD, "session_options_config"))).toEqual(["v3-dashboard-cookie"]);
    });

    it("10. an API7 v2 dashboard serving logins in clear: no HTTPS, half a certificate, or the plain listener it cannot switch off on the network", () => {
        const etcd = { endpoints: ["172.28.0.11:2379"], prefix: "/api7" };
        const doc = (conf: Record<string, unknown>) => ({ conf: { ...conf, etcd }, authentication: V2_LOGIN });
        expect(rules("api7-v2", "dashboard", doc(V2_LISTENERS))).toEqual([]);
        expect(rules("api7-v2", "dashboard", doc({ listen: { port: 9000 } }))).toEqual(["v2-dashboard-tls", "v2-dashboard-plain"]);
        expect(rules("api7-v2", "dashboard", doc({ ...V2_LISTENERS, ssl: { ...V2_LISTENERS.ssl, key: "" } }))).toEqual(["v2-dashboard-tls"]);
        expect(rules("api7-v2", "dashboard", doc({ ...V2_LISTENERS, ssl: { ...V2_LISTENERS.ssl, port: 9001 } }))).toEqual(["v2-dashboard-tls"]);
        expect(rules("api7-v2", "dashboard", doc({ ...V2_LISTENERS, listen: { host: "0.0.0.0", port: 9001 } }))).toEqual(["v2-dashboard-plain"]);
        expect(rules("api7-v2", "dashboard", doc({ ...V2_LISTENERS, listen: { port: 9001 } }))).toEqual(["v2-dashboard-plain"]);
    });

    it("the dashboard's etcd endpoints take host:port: a URL scheme is refused", () => {
        const doc = { conf: { ...V2_LISTENERS, etcd: { endpoints: ["https://172.28.0.11:2379"], prefix: "/api7" } }, authentication: V2_LOGIN };
        expect(rules("api7-v2", "dashboard", doc)).toEqual(["dashboard-etcd"]);
    });
});
