// The API7 v2 console stand-in (lab/standins/api7v2Console.ts) on loopback over an
// in-memory store: it reads the rendered conf.yaml (and refuses what the api7-v2 contract rejects),
// logs in only the stack's admin, signs and checks its tokens, and writes routes where the
// cluster's gateways read them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { CONTROL_PLANE_PATHS, renderApi7v2DashboardConfig } from "../../components/render/controlPlane";
import { MANAGEMENT_TLS_PATHS } from "../../components/render/managementTls";
import { MemoryKv } from "../../lab/standins/adminRoutes";
import { Api7v2Console, loadConsoleConfig, signToken, StartError, verifyToken } from "../../lab/standins/api7v2Console";
import { load } from "../config";

const LOGIN = { username: "admin", password: "pw-of-the-stack-0123456789", sessionSecret: "session-secret-of-the-stack-0123" };
const CLUSTER = "c-lab-1";
const { spec, topology } = load({ flavor: "api7-v2", dataPlane: { clusterId: CLUSTER } });

/** A container filesystem with the rendered conf.yaml and the etcd client files it names. */
function consoleRoot(conf: string): string {
    const root = mkdtempSync(join(tmpdir(), "gwha-console-"));
    const put = (p: string, text: string) => {
        mkdirSync(dirname(join(root, p)), { recursive: true });
        writeFileSync(join(root, p), text);
    };
    put(CONTROL_PLANE_PATHS.api7v2Dashboard, conf);
    for (const f of ["ca.crt", "client.crt", "client.key"]) put(`${CONTROL_PLANE_PATHS.api7v2PkiDir}/${f}`, `pem of ${f}\n`);
    for (const [k, p] of Object.entries(MANAGEMENT_TLS_PATHS.api7v2Dashboard)) put(p, `pem of the management ${k}\n`);
    return root;
}

describe("API7 v2 console stand-in", () => {
    const roots: string[] = [];
    const store = new MemoryKv();
    let server: http.Server;
    let base = "";

    beforeAll(async () => {
        const root = consoleRoot(renderApi7v2DashboardConfig(spec, topology, LOGIN, "etcd-pw"));
        roots.push(root);
        const console_ = new Api7v2Console(loadConsoleConfig(root), store, CLUSTER);
        server = http.createServer((req, res) => void console_.handle(req, res));
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => {
        server?.close();
        for (const r of roots) rmSync(r, { recursive: true, force: true });
    });

    async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
        const r = await fetch(`${base}${path}`, { method, headers: { "content-type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: r.status, json: (await r.json()) as any };
    }
    const login = (username: string, password: string) => call("POST", "/apisix/admin/user/login", { username, password });

    it("reads the rendered conf.yaml: HTTPS on the dashboard port, plain HTTP on loopback only, etcd over mTLS with the control-plane user, the stack's login", () => {
        const c = loadConsoleConfig(roots[0]);
        expect(c.listen).toEqual({ host: "127.0.0.1", port: 9001 });
        expect(c.ssl?.port).toBe(spec.controlPlane.dashboardPort);
        expect(c.ssl?.cert.toString()).toBe("pem of the management cert\n");
        expect(c.etcd.hosts.every((h) => h.startsWith("https://"))).toBe(true);
        expect(c.etcd.user).toBe("control-plane");
        expect(c.etcd.cert?.toString()).toBe("pem of client.crt\n");
        expect(c.users).toEqual([{ username: LOGIN.username, password: LOGIN.password }]);
    });

    it("refuses to start on a file the api7-v2 contract rejects (the 3.x shape's http:// endpoints)", () => {
        const doc = parse(renderApi7v2DashboardConfig(spec, topology, LOGIN, "etcd-pw"));
        doc.conf.etcd.endpoints = doc.conf.etcd.endpoints.map((e: string) => `http://${e}`);
        const root = consoleRoot(stringify(doc));
        roots.push(root);
        expect(() => loadConsoleConfig(root)).toThrow(StartError);
        expect(() => loadConsoleConfig(root)).toThrow(/contract rejects/);
    });

    it("logs in the stack's admin only: the vendor default admin/admin and a wrong password get 401", async () => {
        expect((await login("admin", "admin")).status).toBe(401);
        expect((await login(LOGIN.username, `${LOGIN.password}x`)).status).toBe(401);
        const ok = await login(LOGIN.username, LOGIN.password);
        expect(ok.status).toBe(200);
        expect(verifyToken(LOGIN.sessionSecret, ok.json.data.token, [LOGIN.username])).toBe(LOGIN.username);
    });

    it("tokens: another secret's signature, an expired token or an unknown user are refused", () => {
        const now = 1_800_000_000;
        const t = signToken(LOGIN.sessionSecret, "admin", 3600, now);
        expect(verifyToken(LOGIN.sessionSecret, t, ["admin"], now + 10)).toBe("admin");
        expect(verifyToken("another-secret", t, ["admin"], now + 10)).toBeUndefined();
        expect(verifyToken(LOGIN.sessionSecret, t, ["admin"], now + 3601)).toBeUndefined();
        expect(verifyToken(LOGIN.sessionSecret, t, ["someone"], now + 10)).toBeUndefined();
        expect(verifyToken(LOGIN.sessionSecret, "not.a-token", ["admin"], now)).toBeUndefined();
    });

    it("route writes need the token and land under <prefix>/<cluster id>/routes/, where the gateways read", async () => {
        const route = { uri: "/lab/x", upstream: { type: "roundrobin", nodes: { "127.0.0.1:1": 1 } } };
        expect((await call("PUT", "/apisix/admin/routes/r1", route)).status).toBe(401);
        expect((await call("PUT", "/apisix/admin/routes/r1", route, { authorization: signToken("another-secret", "admin", 60) })).status).toBe(401);
        const token = (await login(LOGIN.username, LOGIN.password)).json.data.token as string;
        const put = await call("PUT", "/apisix/admin/routes/r1", route, { authorization: token });
        expect(put.status).toBe(201);
        const { kvs } = await store.range("", { prefix: true });
        expect(kvs.map((kv) => kv.key)).toEqual([`/api7/${CLUSTER}/routes/r1`]);
        expect(JSON.parse(kvs[0].value).uri).toBe("/lab/x");
    });
});
