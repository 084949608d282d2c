import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cfg } from "../config";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
    renderApi7v2DashboardConfig,
    renderApi7v3DashboardConfig,
    renderApi7v3DpManagerConfig,
    renderApisixControlPlaneConfig,
} from "../../components/render/controlPlane";
import { ETCD_TLS_SERVER_NAME } from "../../components/render/etcd";
import { APISIX_PATHS, DP_MANAGER_TLS_SERVER_NAME, SECRET_ENV, api7v2StatusServer, renderGatewayConfig } from "../../components/render/gateway";
import { loadPlatform } from "../../components/config";

const NGINX = "/usr/sbin/nginx";
const DSN = "postgres://api7:s3cretpw@db.internal:5432/api7ee?sslmode=verify-full";
const LOGIN = { username: "admin", password: "generated-admin-password-0123", sessionSecret: "generated-session-secret-0123" };

function platform(values: Record<string, unknown>) {
    const config = cfg(values);
    return loadPlatform(config, { project: "gateway-ha", stack: "test" });
}

describe("gateway config.yaml", () => {
    it("apisix: data_plane on etcd over https with TLS, user and an env-referenced password", () => {
        const { spec, topology } = platform({ dataPlane: { httpPort: 8080, httpsPort: 8443, statusPort: 7086, metricsPort: 9092, adminAllow: ["10.0.0.0/8"] }, loadBalancer: { healthCheck: { port: 7086 } } });
        const doc = parse(renderGatewayConfig(spec, topology));
        expect(doc.deployment.role).toBe("data_plane");
        expect(doc.deployment.role_data_plane).toEqual({ config_provider: "etcd" });
        expect(doc.deployment.etcd.host).toEqual(["https://172.28.0.11:2379", "https://172.28.0.12:2379", "https://172.28.0.13:2379"]);
        for (const h of doc.deployment.etcd.host) expect(h).toMatch(/^https?:\/\//);
        expect(doc.deployment.etcd).toMatchObject({
            prefix: "/apisix",
            timeout: 30,
            user: "gateway",
            password: `\${{${SECRET_ENV.etcdPassword}}}`,
            tls: { cert: APISIX_PATHS.cert, key: APISIX_PATHS.key, verify: true, sni: ETCD_TLS_SERVER_NAME },
        });
        // The combined bundle (system roots + etcd CA), never the etcd CA alone.
        expect(doc.apisix.ssl.ssl_trusted_certificate).toBe(APISIX_PATHS.trustBundle);
        expect(doc.apisix.status).toEqual({ ip: "0.0.0.0", port: 7086 });
        expect(doc.apisix.node_listen).toEqual([{ port: 8080 }]);
        expect(doc.apisix.ssl.listen).toEqual([{ port: 8443 }]);
        expect(doc.plugin_attr.prometheus.export_addr).toEqual({ ip: "0.0.0.0", port: 9092 });
        expect(doc.deployment.admin.allow_admin).toEqual(["10.0.0.0/8"]);
    });

    it("without etcd TLS and auth: http hosts, no tls block, no credentials", () => {
        const { spec, topology } = platform({ etcd: { tls: false, auth: false } });
        const doc = parse(renderGatewayConfig(spec, topology));
        expect(doc.deployment.etcd.host.every((h: string) => h.startsWith("http://"))).toBe(true);
        expect(doc.deployment.etcd).not.toHaveProperty("tls");
        expect(doc.deployment.etcd).not.toHaveProperty("user");
        expect(doc.deployment.etcd).not.toHaveProperty("password");
        expect(doc.apisix.ssl).not.toHaveProperty("ssl_trusted_certificate");
    });

    it("api7-v2 (APISIX 2.13 shape): a top-level etcd block on /api7/<clusterId>, no deployment, Admin API off, the status server as an nginx snippet", () => {
        const { spec, topology } = platform({ flavor: "api7-v2", dataPlane: { clusterId: "c42" } });
        const doc = parse(renderGatewayConfig(spec, topology));
        expect(doc).not.toHaveProperty("deployment");
        expect(doc.etcd).toMatchObject({ prefix: "/api7/c42", timeout: 30, user: "gateway", tls: { verify: true, sni: ETCD_TLS_SERVER_NAME } });
        expect(doc.etcd.host).toEqual(["https://172.28.0.11:2379", "https://172.28.0.12:2379", "https://172.28.0.13:2379"]);
        expect(doc.apisix).not.toHaveProperty("status");
        expect(doc.apisix.enable_admin).toBe(false);
        expect(doc.apisix.config_center).toBe("etcd");
        expect(doc.nginx_config.http_configuration_snippet).toBe(api7v2StatusServer(7085));
        expect(doc.apisix.ssl.ssl_trusted_certificate).toBe(APISIX_PATHS.trustBundle);
    });

    it("api7-v3 (APISIX 3.2 shape): role traditional on the DP Manager's mTLS listener, verified by its own name, Admin API off", () => {
        const { spec, topology } = platform({ flavor: "api7-v3", controlPlane: { databaseDsn: DSN } });
        const doc = parse(renderGatewayConfig(spec, topology));
        expect(doc.deployment.role).toBe("traditional");
        expect(doc.deployment.role_traditional).toEqual({ config_provider: "etcd" });
        expect(doc.apisix.enable_admin).toBe(false);
        const lb = topology.byRole["load-balancer"][0].address;
        expect(doc.deployment.etcd.host).toEqual([`https://${lb}:7943`]);
        expect(doc.deployment.etcd.tls).toEqual({ cert: APISIX_PATHS.dpCert, key: APISIX_PATHS.dpKey, verify: true, sni: DP_MANAGER_TLS_SERVER_NAME });
        expect(doc.apisix.ssl.ssl_trusted_certificate).toBe(APISIX_PATHS.dpTrustBundle);
        expect(doc.deployment.etcd).not.toHaveProperty("password");
    });
});

describe("control-plane configs", () => {
    it("apisix control_plane: Admin API on adminPort with an env-referenced key and the allow-list", () => {
        const { spec, topology } = platform({ controlPlane: { adminPort: 9280 } });
        const text = renderApisixControlPlaneConfig(spec, topology);
        const doc = parse(text);
        expect(doc.deployment.role).toBe("control_plane");
        expect(doc.deployment.admin.admin_listen).toEqual({ ip: "0.0.0.0", port: 9280 });
        expect(doc.deployment.admin.admin_key).toEqual([{ name: "admin", key: `\${{${SECRET_ENV.adminKey}}}`, role: "admin" }]);
        expect(doc.deployment.etcd.user).toBe("control-plane");
        // Requests reach the Admin API through the control-plane balancer: its address must be allowed.
        const lb = topology.byRole["load-balancer"].map((n) => `${n.address}/32`);
        expect(lb.length).toBeGreaterThan(0);
        expect(doc.deployment.admin.allow_admin).toEqual(["127.0.0.0/24", ...lb]);
    });

    it("api7-v2 dashboard conf.yaml: HTTPS, host:port endpoints, auth, mTLS files and the /api7 prefix", () => {
        const { spec, topology } = platform({ flavor: "api7-v2", dataPlane: { clusterId: "c1" } });
        const doc = parse(renderApi7v2DashboardConfig(spec, topology, LOGIN, "pw-123"));
        // HTTPS on the dashboard port; 2.13's plain listener, which it cannot switch off, on loopback.
        expect(doc.conf.listen).toEqual({ host: "127.0.0.1", port: 9001 });
        expect(doc.conf.ssl).toEqual({ port: 9000, cert: "/usr/local/apisix-dashboard/conf/management/tls.crt", key: "/usr/local/apisix-dashboard/conf/management/tls.key" });
        expect(doc.conf.etcd.endpoints).toEqual(["172.28.0.11:2379", "172.28.0.12:2379", "172.28.0.13:2379"]);
        expect(doc.conf.etcd).toMatchObject({ enable_auth: true, username: "control-plane", password: "pw-123", prefix: "/api7" });
        expect(doc.conf.etcd.mtls.enable).toBe(true);
        expect(doc.conf.etcd.mtls.ca_file).toMatch(/ca\.crt$/);
        // The stack's own login, never the vendor default.
        expect(doc.authentication).toEqual({ secret: LOGIN.sessionSecret, expire_time: 3600, users: [{ username: "admin", password: LOGIN.password }] });
    });

    it("api7-v3 dashboard (HTTPS on 17080, its plain listener off) and DP Manager (mTLS on 7943, its plain listener on loopback) share the DSN", () => {
        const { spec, topology } = platform({ flavor: "api7-v3", controlPlane: { databaseDsn: DSN } });
        expect(parse(renderApi7v3DashboardConfig(spec, topology, DSN))).toEqual({
            server: {
                listen: { disable: true, host: "127.0.0.1", port: 7080 },
                tls: { disable: false, host: "0.0.0.0", port: 17080, cert_file: "/app/certs/tls.crt", key_file: "/app/certs/tls.key" },
            },
            session_options_config: { same_site: "lax", secure: true, max_age: 86400 },
            database: { dsn: DSN },
        });
        expect(parse(renderApi7v3DpManagerConfig(spec, DSN))).toEqual({
            server: { listen: { host: "127.0.0.1", port: 7900 }, tls: { host: "0.0.0.0", port: 7943 } },
            database: { dsn: DSN },
        });
    });

    it("renders YAML that round-trips special characters in values", () => {
        const { spec, topology } = platform({ flavor: "api7-v2", dataPlane: { clusterId: "c1" } });
        const tricky = `p: #"'{}[]&*`;
        expect(parse(renderApi7v2DashboardConfig(spec, topology, LOGIN, tricky)).conf.etcd.password).toBe(tricky);
    });
});

// The API7 v2 status server is a plain nginx server block in APISIX 2.13's http {} (via
// nginx_config.http_configuration_snippet): real nginx parses it, serves it, and answers /status.
describe.skipIf(!existsSync(NGINX))("API7 v2 status server snippet in real nginx", () => {
    it("nginx -t accepts it inside http {}; running, GET /status is 200 and anything else 404", async () => {
        const dir = mkdtempSync(join(tmpdir(), "gwha-v2-status-"));
        const port = await new Promise<number>((resolve) => {
            const srv = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (srv.address() as net.AddressInfo).port;
                srv.close(() => resolve(p));
            });
        });
        const conf = join(dir, "nginx.conf");
        writeFileSync(
            conf,
            [`daemon off;`, `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`, `events {}`, `http {`, `    access_log off;`, api7v2StatusServer(port).replace("0.0.0.0:", "127.0.0.1:"), `}`, ``].join("\n"),
        );
        const paths = ["-p", `${dir}/`, "-c", conf, "-e", `${dir}/error.log`];
        const t = spawnSync(NGINX, ["-t", ...paths], { encoding: "utf8", timeout: 10_000 });
        expect(t.status, t.stderr).toBe(0);
        // Its own process group: a SIGKILLed master leaves its workers running, so the group is killed.
        const nginx = spawn(NGINX, paths, { stdio: "ignore", detached: true });
        try {
            const get = async (path: string) => {
                for (let i = 0; i < 50; i++) {
                    try {
                        const r = await fetch(`http://127.0.0.1:${port}${path}`);
                        return { status: r.status, body: await r.text() };
                    } catch {
                        await new Promise((r) => setTimeout(r, 100));
                    }
                }
                throw new Error("nginx did not answer");
            };
            expect(await get("/status")).toEqual({ status: 200, body: "ok\n" });
            expect((await get("/status/ready")).status).toBe(404);
        } finally {
            process.kill(-nginx.pid!, "SIGKILL");
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

// APISIX matches allow_admin against $remote_addr: the list must hold whoever's address the
// requests really arrive with, which depends on what sits in front of the Admin API.
describe("allow_admin: the callers' real source addresses", () => {
    const sshHosts = ["node-1", "node-2", "node-3", "node-4", "node-5"].map((name, i) => ({ name, address: `192.168.101.${11 + i}`, sshUser: "deploy" }));
    const ssh = (loadBalancer: Record<string, unknown>) =>
        platform({
            target: "ssh",
            layout: "compact",
            nodes: sshHosts,
            ssh: { agent: true, knownHosts: sshHosts.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey`), firewall: { operatorCidrs: ["192.168.100.0/24"] } },
            loadBalancer,
        });
    const vips = [
        { name: "control_plane", address: "192.168.101.10/24", virtualRouterId: 51, protects: "control-plane" },
        { name: "gateway", address: "192.168.101.20/24", virtualRouterId: 52, protects: "data-plane" },
    ];
    const allow = (p: ReturnType<typeof platform>) => parse(renderApisixControlPlaneConfig(p.spec, p.topology)).deployment.admin.allow_admin as string[];

    it("keepalived VIPs on hosts (no proxy): the operators' networks, never the VIP", () => {
        const list = allow(ssh({ kind: "keepalived", keepalived: { interface: "ens160", vips } }));
        expect(list).toEqual(["127.0.0.0/24", "192.168.100.0/24"]);
        expect(list.join(",")).not.toContain("192.168.101.10");
    });

    it("LVS directors (DR keeps the client's address): the operators' networks", () => {
        const p = platform({
            target: "ssh",
            layout: "custom",
            nodes: [
                ...sshHosts.slice(0, 3).map((n) => ({ ...n, roles: ["etcd", "control-plane"] })),
                ...sshHosts.slice(3).map((n) => ({ ...n, roles: ["data-plane"] })),
                ...["lb-1", "lb-2"].map((name, i) => ({ name, address: `192.168.101.${16 + i}`, sshUser: "deploy", roles: ["load-balancer"] })),
            ],
            ssh: {
                agent: true,
                knownHosts: [...sshHosts.map((n) => n.address), "192.168.101.16", "192.168.101.17"].map((a) => `${a} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey`),
                firewall: { operatorCidrs: ["192.168.100.0/24"] },
            },
            loadBalancer: { kind: "lvs", keepalived: { interface: "ens160", vips: vips.map((v) => ({ ...v, lvs: { lbKind: "DR" } })) } },
        });
        expect(allow(p)).toEqual(["127.0.0.0/24", "192.168.100.0/24"]);
    });

    it("haproxy balancer hosts proxy every request: their addresses", () => {
        const p = platform({});
        expect(allow(p)).toEqual(["127.0.0.0/24", ...p.topology.balancerAddresses.map((a) => `${a}/32`)]);
    });

    it("AWS control-plane NLBs do not preserve the client address: the VPC's CIDR, where the NLB's addresses are", () => {
        expect(allow(platform({ target: "aws", aws: { region: "eu-west-1", zones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] } }))).toEqual(["127.0.0.0/24", "10.42.0.0/16"]);
    });
});
