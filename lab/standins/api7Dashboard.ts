// The API7 EE 3.2.16.3 dashboard API, as much of it as `npm run api7:identity` and the HA lab call,
// with the rules the real one applies (from API7's own e2e framework, api7/api7-ingress-controller
// test/e2e/framework/api7_dashboard.go: basic auth on /api/*, `{value: …}` and `{list: […], total}`
// envelopes, POST /api/gateway_groups/{id}/dp_client_certificates answering certificate,
// private_key and ca_certificate, PUT /api/gateway_groups/{id}/admin_key answering `{value: {key}}`).
// It starts with the vendor's admin/admin, as the real dashboard does; PUT /api/password
// {old_password, new_password} changes it (API7's Admin API reference: not in the sources stored
// here, so the command reports the dashboard's answer whatever it is). The APISIX-compatible Admin
// API (`/apisix/admin/routes/{id}`, API7 docs) takes a gateway group's admin key in X-API-KEY and
// publishes routes where the DP Manager serves them to that group's gateways.
//
// Every dashboard of a control plane shares one database (PostgreSQL in API7): here a KvStore, an
// etcd in the lab, so that two dashboards behind a balancer agree on the password, the keys and the
// routes, and the DP Manager reads what they write.
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { handleRouteApi, readBody, sendJson, type KvStore } from "./adminRoutes";
import type { DpIdentity } from "./dpIdentity";

export interface GatewayGroup {
    id: string;
    name: string;
    short_id: string;
}

/** A client certificate for a gateway group, signed by the control plane's CA (a new key each call, as the dashboard issues). */
function issueClientCertificate(ca: Pick<DpIdentity, "caCertificate" | "caKey">, cn: string): { certificate: string; privateKey: string } {
    const dir = mkdtempSync(join(tmpdir(), "api7-dashboard-"));
    try {
        writeFileSync(join(dir, "ca.crt"), ca.caCertificate);
        writeFileSync(join(dir, "ca.key"), ca.caKey);
        writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n");
        const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
        run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "client.key"]);
        run(["req", "-new", "-key", "client.key", "-subj", `/CN=${cn}`, "-out", "client.csr"]);
        run(["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30", "-extfile", "client.ext", "-out", "client.crt"]);
        return { certificate: readFileSync(join(dir, "client.crt"), "utf8"), privateKey: readFileSync(join(dir, "client.key"), "utf8") };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** Where the dashboard keeps its state in the database; routes go under the gateways' prefix. */
export const DB = {
    pki: "api7/pki",
    password: "api7/admin_password",
    groups: "api7/gateway_groups",
    adminKey: (groupId: string) => `api7/admin_keys/${groupId}`,
    /** The gateways' etcd prefix (`deployment.etcd.prefix`), under which the DP Manager serves their configuration. */
    gatewayPrefix: "/apisix",
} as const;

/** The control plane's CA and the DP Manager's server certificate, as the database holds them. */
export type ControlPlanePki = Pick<DpIdentity, "caCertificate" | "caKey" | "serverCertificate" | "serverKey">;

const valueOf = async (db: KvStore, key: string): Promise<string | undefined> => (await db.range(key)).kvs[0]?.value;

/** What the control plane holds before anyone logs in: its CA and the default gateway group. */
export async function initDatabase(db: Pick<KvStore, "put">, pki: ControlPlanePki): Promise<void> {
    await db.put(DB.pki, JSON.stringify(pki));
    const group: GatewayGroup = { id: randomUUID(), name: "default", short_id: "default" };
    await db.put(DB.groups, JSON.stringify([group]));
}

export async function readPki(db: KvStore): Promise<ControlPlanePki> {
    const text = await valueOf(db, DB.pki);
    if (!text) throw new Error(`the database holds no control-plane CA (${DB.pki})`);
    return JSON.parse(text) as ControlPlanePki;
}

export class Api7DashboardStandin {
    /** Every request, for tests: method, path, and whether it authenticated. */
    readonly requests: { method: string; path: string; authenticated: boolean }[] = [];
    private readonly servers: http.Server[] = [];

    constructor(
        private readonly db: KvStore,
        private readonly log: (line: string) => void = () => {},
    ) {}

    /** The admin login; the vendor's default until PUT /api/password changes it. */
    async password(): Promise<string> {
        return (await valueOf(this.db, DB.password)) ?? "admin";
    }

    async groups(): Promise<GatewayGroup[]> {
        return JSON.parse((await valueOf(this.db, DB.groups)) ?? "[]") as GatewayGroup[];
    }

    private async authenticated(req: http.IncomingMessage): Promise<boolean> {
        const m = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
        if (!m) return false;
        const [user, ...rest] = Buffer.from(m[1], "base64").toString("utf8").split(":");
        return user === "admin" && rest.join(":") === (await this.password());
    }

    /** The gateway group whose admin key the request carries. */
    private async groupOfKey(key: unknown): Promise<GatewayGroup | undefined> {
        if (typeof key !== "string" || key === "") return undefined;
        for (const g of await this.groups()) if ((await valueOf(this.db, DB.adminKey(g.id))) === key) return g;
        return undefined;
    }

    async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const url = new URL(req.url ?? "/", "http://dashboard");
        const path = url.pathname;
        if (path.startsWith("/apisix/admin/")) {
            const group = await this.groupOfKey(req.headers["x-api-key"]);
            this.requests.push({ method: req.method ?? "", path, authenticated: group !== undefined });
            if (!group) return sendJson(res, 401, { error_msg: "invalid API key" });
            const asked = url.searchParams.get("gateway_group_id");
            if (asked !== null && asked !== group.id) return sendJson(res, 403, { error_msg: `the key is not gateway group ${asked}'s` });
            return handleRouteApi(req, res, path, { store: this.db, prefix: DB.gatewayPrefix, log: this.log, describeError: (e) => `database: ${e instanceof Error ? e.message : String(e)}` });
        }
        const authenticated = await this.authenticated(req);
        this.requests.push({ method: req.method ?? "", path, authenticated });
        const body = await readBody(req);
        if (!authenticated) return sendJson(res, 401, { error_msg: "unauthorized" });
        if (req.method === "PUT" && path === "/api/password") {
            const { old_password: old, new_password: next } = JSON.parse(body || "{}") as { old_password?: string; new_password?: string };
            if (old !== (await this.password())) return sendJson(res, 400, { error_msg: "old password is wrong" });
            if (typeof next !== "string" || next.length < 8) return sendJson(res, 400, { error_msg: "new password is too short" });
            await this.db.put(DB.password, next);
            return sendJson(res, 200, { value: {} });
        }
        const groups = await this.groups();
        if (req.method === "GET" && path === "/api/gateway_groups") return sendJson(res, 200, { list: groups, total: groups.length });
        const m = /^\/api\/gateway_groups\/([^/]+)\/(dp_client_certificates|admin_key)$/.exec(path);
        const group = m && groups.find((g) => g.id === m[1]);
        if (m && !group) return sendJson(res, 404, { error_msg: `gateway group ${m[1]} not found` });
        if (req.method === "POST" && m?.[2] === "dp_client_certificates") {
            const ca = await readPki(this.db);
            const issued = issueClientCertificate(ca, `gateway-group-${group!.short_id}`);
            return sendJson(res, 200, { value: { id: randomUUID(), gateway_group_id: group!.id, certificate: issued.certificate, private_key: issued.privateKey, ca_certificate: ca.caCertificate } });
        }
        // A new key each call; the old one stops working (the e2e framework regenerates it per test).
        if (req.method === "PUT" && m?.[2] === "admin_key") {
            const key = `a7adm-${randomBytes(24).toString("hex")}`;
            await this.db.put(DB.adminKey(group!.id), key);
            return sendJson(res, 200, { value: { id: group!.id, key } });
        }
        sendJson(res, 404, { error_msg: "404 Route Not Found" });
    }

    /** Listens on `host`:`port` (default: an ephemeral port), over TLS with `tls`; resolves to its base URL. */
    async listen(host = "127.0.0.1", port = 0, tls?: { cert: string; key: string }): Promise<string> {
        const handler = (req: http.IncomingMessage, res: http.ServerResponse) =>
            void this.handle(req, res).catch((e) => {
                this.log(`dashboard: ${req.method} ${req.url} failed: ${e instanceof Error ? e.message : String(e)}`);
                if (!res.headersSent) sendJson(res, 503, { error_msg: "database unavailable" });
                else res.destroy();
            });
        const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
        await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen(port, host, () => resolve());
        });
        this.servers.push(server);
        return `${tls ? "https" : "http"}://${host}:${(server.address() as { port: number }).port}`;
    }

    async close(): Promise<void> {
        const servers = this.servers.splice(0);
        await Promise.all(
            servers.map((s) => {
                s.closeAllConnections();
                return new Promise<void>((r) => s.close(() => r()));
            }),
        );
    }
}
