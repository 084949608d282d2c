// `npm run api7:identity` against the API7 v3 dashboard stand-in (lab/standins/api7Dashboard.ts):
// it replaces the vendor login with the stack's, fetches the gateway group's certificate, and writes
// it into the stack config so that the gateways' mTLS to the DP Manager verifies.
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DP_MANAGER_TLS_SERVER_NAME } from "../../components/render/gateway";
import { fetchGatewayIdentity, main, type PulumiCli } from "../../scripts/api7-identity";
import { MemoryKv } from "../../lab/standins/adminRoutes";
import { Api7DashboardStandin, initDatabase } from "../../lab/standins/api7Dashboard";
import { issueDpIdentity } from "../../lab/standins/dpIdentity";
import { MANAGEMENT_TLS_NAME } from "../../components/render/managementTls";
import { load } from "../config";
import { Pki } from "../lab/etcdHarness";

const ADMIN = { user: "admin", password: "stack-generated-9d2f7a61c0b4e8" };

describe("api7:identity against the dashboard stand-in, over HTTPS", () => {
    const ca = issueDpIdentity();
    let dashboard: Api7DashboardStandin;
    let url: string;
    /** The stack's management CA (`managementCaCert`), which signed the dashboard's certificate. */
    let managementCa: string;
    let dir: string;
    const fetchIdentity = (admin: typeof ADMIN, gatewayGroup: string) => fetchGatewayIdentity({ dashboardUrl: url, admin, gatewayGroup, ca: managementCa });

    beforeAll(async () => {
        const db = new MemoryKv();
        await initDatabase(db, ca);
        dir = mkdtempSync(join(tmpdir(), "api7-identity-"));
        const pki = new Pki();
        pki.issue(MANAGEMENT_TLS_NAME, { ipAddresses: ["127.0.0.1"], dnsNames: [MANAGEMENT_TLS_NAME] }, dir, "tls.crt", "tls.key");
        managementCa = readFileSync(pki.ca, "utf8");
        dashboard = new Api7DashboardStandin(db);
        url = await dashboard.listen("127.0.0.1", 0, { cert: readFileSync(join(dir, "tls.crt"), "utf8"), key: readFileSync(join(dir, "tls.key"), "utf8") });
    });
    afterAll(async () => {
        await dashboard.close();
        rmSync(dir, { recursive: true, force: true });
    });

    it("a dashboard whose certificate the management CA did not sign gets no login", async () => {
        expect(url).toMatch(/^https:\/\//);
        await expect(fetchGatewayIdentity({ dashboardUrl: url, admin: ADMIN, gatewayGroup: "default" })).rejects.toThrow(/self-signed certificate in certificate chain|unable to verify/);
        await expect(fetchGatewayIdentity({ dashboardUrl: url, admin: ADMIN, gatewayGroup: "default", ca: ca.caCertificate })).rejects.toThrow(/self-signed certificate in certificate chain|unable to verify/);
        expect(dashboard.requests).toEqual([]);
        expect(await dashboard.password()).toBe("admin");
    });

    it("first run: sets the stack's admin password over the vendor default, then issues the group's certificate", async () => {
        const id = await fetchIdentity(ADMIN, "default");
        expect(id.passwordSet).toBe(true);
        expect(await dashboard.password()).toBe(ADMIN.password);
        const cert = new X509Certificate(id.certificate);
        expect(cert.verify(new X509Certificate(id.caCertificate).publicKey)).toBe(true);
        expect(cert.subject).toContain("CN=gateway-group-default");
        // The key is the certificate's.
        expect(createPublicKey(createPrivateKey(id.privateKey)).export({ format: "pem", type: "spki" })).toBe(cert.publicKey.export({ format: "pem", type: "spki" }));
    });

    it("later runs log in with the stack's password; the vendor default no longer works", async () => {
        dashboard.requests.length = 0;
        const id = await fetchIdentity(ADMIN, "default");
        expect(id.passwordSet).toBe(false);
        expect(dashboard.requests.map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/, "<id>")} ${r.authenticated}`)).toEqual([
            "GET /api/gateway_groups true",
            "POST /api/gateway_groups/<id>/dp_client_certificates true",
        ]);
        await expect(fetchIdentity({ user: "admin", password: "wrong-password" }, "default")).rejects.toThrow(
            /accepts neither the stack's admin password \(dashboardAdmin\) nor the vendor's default login/,
        );
    });

    it("an unknown gateway group is named, with the ones the dashboard has", async () => {
        await expect(fetchIdentity(ADMIN, "edge")).rejects.toThrow(
            "no gateway group with short ID edge (dataPlane.gatewayGroup); the dashboard has default",
        );
    });

    it("the issued identity is a valid dataPlane.dpManagerIdentity and completes mTLS with a DP Manager of that CA", async () => {
        const { passwordSet: _, ...id } = await fetchIdentity(ADMIN, "default");
        const { spec, secrets } = load({ flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://u:p@db:5432/x?sslmode=verify-full" }, dataPlane: { dpManagerIdentity: id } });
        expect(spec.dataPlane.dpManagerIdentity).toEqual({ certificate: id.certificate, caCertificate: id.caCertificate });
        expect(secrets.dpClientKey).toBe(id.privateKey);
        expect(JSON.stringify(spec)).not.toContain(id.privateKey);

        const seen: string[] = [];
        const server = tls.createServer({ cert: ca.serverCertificate, key: ca.serverKey, ca: ca.caCertificate, requestCert: true, rejectUnauthorized: true }, (s) => {
            seen.push(String(s.getPeerCertificate().subject?.CN));
            s.end();
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
        try {
            const port = (server.address() as { port: number }).port;
            const connect = (opts: tls.ConnectionOptions) =>
                new Promise<string>((resolve) => {
                    const c = tls.connect({ host: "127.0.0.1", port, servername: DP_MANAGER_TLS_SERVER_NAME, ca: id.caCertificate, ...opts });
                    c.on("secureConnect", () => c.end());
                    c.on("close", () => resolve("closed"));
                    c.on("error", (e) => resolve(e.message));
                });
            await connect({ cert: id.certificate, key: id.privateKey });
            expect(seen).toEqual(["gateway-group-default"]);
            // Another CA's certificate is refused by the DP Manager.
            const stranger = issueDpIdentity();
            await connect({ cert: stranger.certificate, key: stranger.privateKey });
            expect(seen).toEqual(["gateway-group-default"]);
        } finally {
            await new Promise<void>((r) => server.close(() => r()));
        }
    });

    it("main: reads the stack's outputs, writes the identity with values on stdin only, the key as a secret", async () => {
        const calls: { args: string[]; stdin?: string }[] = [];
        const cli: PulumiCli = async (args, stdin) => {
            calls.push({ args, stdin });
            if (args[0] === "stack") return JSON.stringify({ flavor: "api7-v3", controlPlaneUrl: url, dashboardAdmin: ADMIN, managementCaCert: managementCa });
            if (args[0] === "config" && args[1] === "get") throw new Error("configuration key 'dataPlane.gatewayGroup' not found");
            return "";
        };
        const lines: string[] = [];
        await main(["--stack", "dev"], cli, (l) => lines.push(l));
        const sets = calls.filter((c) => c.args[1] === "set");
        expect(sets.map((c) => c.args)).toEqual([
            ["config", "set", "--stack", "dev", "--path", "dataPlane.dpManagerIdentity.certificate", "--plaintext"],
            ["config", "set", "--stack", "dev", "--path", "dataPlane.dpManagerIdentity.caCertificate", "--plaintext"],
            ["config", "set", "--stack", "dev", "--path", "dataPlane.dpManagerIdentity.privateKey", "--secret"],
        ]);
        expect(sets[2].stdin).toMatch(/^-----BEGIN PRIVATE KEY-----/);
        expect(sets[1].stdin).toBe(ca.caCertificate);
        for (const c of calls) expect(c.args.join(" ")).not.toMatch(/BEGIN|stack-generated/);
        expect(lines.at(-1)).toMatch(/run pulumi up to deploy the gateways/);
    });

    it("main: refuses a stack that does not run api7-v3, naming its flavor", async () => {
        const cli: PulumiCli = async () => JSON.stringify({ flavor: "apisix" });
        await expect(main(["--stack", "dev"], cli, () => {})).rejects.toThrow("stack dev runs flavor apisix; only api7-v3 gateways need a dashboard-issued identity");
    });
});

describe("the dashboard stand-in's Admin API (what the HA lab writes routes through)", () => {
    const ca = issueDpIdentity();
    const db = new MemoryKv();
    const dashboards = [new Api7DashboardStandin(db), new Api7DashboardStandin(db)];
    let urls: string[];
    const call = async (url: string, method: string, body?: unknown, headers: Record<string, string> = {}) => {
        const r = await fetch(url, { method, headers: { "content-type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: r.status, body: (await r.json()) as Record<string, any> };
    };
    const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}` });

    beforeAll(async () => {
        await initDatabase(db, ca);
        urls = await Promise.all(dashboards.map((d) => d.listen()));
    });
    afterAll(() => Promise.all(dashboards.map((d) => d.close())));

    it("a gateway group's admin key from one dashboard writes routes on the other; the database holds them under the gateways' prefix", async () => {
        const groups = await call(`${urls[0]}/api/gateway_groups`, "GET", undefined, basic("admin"));
        const group = groups.body.list[0];
        const issued = await call(`${urls[0]}/api/gateway_groups/${group.id}/admin_key`, "PUT", undefined, basic("admin"));
        expect(issued.status).toBe(200);
        const key = issued.body.value.key as string;
        const route = { uri: "/a", upstream: { type: "roundrobin", nodes: { "127.0.0.1:1": 1 } } };
        const put = await call(`${urls[1]}/apisix/admin/routes/r1`, "PUT", route, { "x-api-key": key });
        expect(put.status).toBe(201);
        expect((await db.range("/apisix/routes/r1")).kvs.map((kv) => JSON.parse(kv.value).uri)).toEqual(["/a"]);
        expect((await call(`${urls[0]}/apisix/admin/routes/r1?gateway_group_id=${group.id}`, "GET", undefined, { "x-api-key": key })).body.value.uri).toBe("/a");
    });

    it("refuses a missing or replaced key, another group's id, the basic login, and a route without upstream", async () => {
        const group = (await call(`${urls[0]}/api/gateway_groups`, "GET", undefined, basic("admin"))).body.list[0];
        const old = (await call(`${urls[0]}/api/gateway_groups/${group.id}/admin_key`, "PUT", undefined, basic("admin"))).body.value.key as string;
        const key = (await call(`${urls[1]}/api/gateway_groups/${group.id}/admin_key`, "PUT", undefined, basic("admin"))).body.value.key as string;
        const route = { uri: "/b", upstream: { nodes: { "127.0.0.1:1": 1 } } };
        expect((await call(`${urls[0]}/apisix/admin/routes/r2`, "PUT", route)).status).toBe(401);
        expect((await call(`${urls[0]}/apisix/admin/routes/r2`, "PUT", route, { "x-api-key": old })).status).toBe(401);
        expect((await call(`${urls[0]}/apisix/admin/routes/r2`, "PUT", route, basic("admin"))).status).toBe(401);
        expect((await call(`${urls[0]}/apisix/admin/routes/r2?gateway_group_id=another`, "PUT", route, { "x-api-key": key })).status).toBe(403);
        expect((await call(`${urls[0]}/apisix/admin/routes/r2`, "PUT", { uri: "/b" }, { "x-api-key": key })).status).toBe(400);
        expect((await call(`${urls[0]}/apisix/admin/routes/r2`, "PUT", route, { "x-api-key": key })).status).toBe(201);
    });
});
