// The API7 EE 3.2.16.3 dashboard API, as much of it as `npm run api7:identity` calls, with the rules
// the real one applies (from API7's own e2e framework, api7/api7-ingress-controller test/e2e:
// basic auth on /api/*, `{value: …}` and `{list: […], total}` envelopes, POST
// /api/gateway_groups/{id}/dp_client_certificates answering certificate, private_key and
// ca_certificate). It starts with the vendor's admin/admin, as the real dashboard does; PUT
// /api/password {old_password, new_password} changes it (API7's Admin API reference: not in the
// sources stored here, so the command reports the dashboard's answer whatever it is).
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DpIdentity } from "./dpIdentity";

export interface GatewayGroup {
    id: string;
    name: string;
    short_id: string;
}

const sendJson = (res: http.ServerResponse, status: number, body: unknown): void => void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

async function bodyOf(req: http.IncomingMessage): Promise<string> {
    let text = "";
    for await (const chunk of req) text += chunk;
    return text;
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

export class Api7DashboardStandin {
    /** The admin login; the vendor's default until PUT /api/password changes it. */
    password = "admin";
    readonly groups: GatewayGroup[] = [{ id: randomUUID(), name: "default", short_id: "default" }];
    /** Every request, for tests: method, path, and whether it authenticated. */
    readonly requests: { method: string; path: string; authenticated: boolean }[] = [];
    private server?: http.Server;

    constructor(private readonly ca: Pick<DpIdentity, "caCertificate" | "caKey">) {}

    private authenticated(req: http.IncomingMessage): boolean {
        const m = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
        if (!m) return false;
        const [user, ...rest] = Buffer.from(m[1], "base64").toString("utf8").split(":");
        return user === "admin" && rest.join(":") === this.password;
    }

    async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const path = (req.url ?? "/").split("?")[0];
        const authenticated = this.authenticated(req);
        this.requests.push({ method: req.method ?? "", path, authenticated });
        const body = await bodyOf(req);
        if (!authenticated) return sendJson(res, 401, { error_msg: "unauthorized" });
        if (req.method === "PUT" && path === "/api/password") {
            const { old_password: old, new_password: next } = JSON.parse(body || "{}") as { old_password?: string; new_password?: string };
            if (old !== this.password) return sendJson(res, 400, { error_msg: "old password is wrong" });
            if (typeof next !== "string" || next.length < 8) return sendJson(res, 400, { error_msg: "new password is too short" });
            this.password = next;
            return sendJson(res, 200, { value: {} });
        }
        if (req.method === "GET" && path === "/api/gateway_groups") return sendJson(res, 200, { list: this.groups, total: this.groups.length });
        const m = /^\/api\/gateway_groups\/([^/]+)\/dp_client_certificates$/.exec(path);
        if (req.method === "POST" && m) {
            const group = this.groups.find((g) => g.id === m[1]);
            if (!group) return sendJson(res, 404, { error_msg: `gateway group ${m[1]} not found` });
            const issued = issueClientCertificate(this.ca, `gateway-group-${group.short_id}`);
            return sendJson(res, 200, { value: { id: randomUUID(), gateway_group_id: group.id, certificate: issued.certificate, private_key: issued.privateKey, ca_certificate: this.ca.caCertificate } });
        }
        sendJson(res, 404, { error_msg: "404 Route Not Found" });
    }

    /** Listens on `host` (an ephemeral port); resolves to its base URL. */
    async listen(host = "127.0.0.1"): Promise<string> {
        const server = http.createServer((req, res) => void this.handle(req, res));
        await new Promise<void>((r) => server.listen(0, host, () => r()));
        this.server = server;
        const { port } = server.address() as { port: number };
        return `http://${host}:${port}`;
    }

    close(): Promise<void> {
        return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
    }
}
