// Stand-in for the API7 v2 (2.13.2304) console in the HA lab. Its conf.yaml is apache/apisix-dashboard's
// (the Manager API that API7 v2's dashboard grew from), and so is what this stand-in serves:
//
//   npx tsx lab/standins/api7v2Console.ts --root DIR --cluster-id ID [--config PATH]
//
// - the file must satisfy the api7-v2 contract (components/flavors);
// - it serves plain HTTP on conf.listen and, with conf.ssl's cert and key, HTTPS on conf.ssl.port
//   on every address, as 2.13 does (api/internal/core/server);
// - at start it reads etcd with conf.etcd's endpoints, user and mTLS files, and exits when it
//   cannot (manager-api's storage.InitETCDClient); it verifies the member certificates as Go does
//   (an IP endpoint against IP SANs);
// - POST /apisix/admin/user/login checks `authentication.users` and answers a JWT (HS256 with
//   `authentication.secret`, subject the user, `expire_time` seconds): api/internal/handler/
//   authentication; every other /apisix path needs it in `Authorization`
//   (api/internal/filter/authentication.go);
// - /apisix/admin/routes/{id} writes routes where the cluster's gateways read them,
//   `<conf.etcd.prefix>/<cluster id>/routes/{id}`, answering 2xx once etcd acknowledged.
//
// What no public source shows is how the console picks the cluster of a write; the lab passes the
// stack's `dataPlane.clusterId` as --cluster-id, and docs/lab.md says so.
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse } from "yaml";
import { FLAVOR_CONTRACTS, checkFile, formatViolations } from "../../components/flavors/contracts";
import { handleRouteApi, readBody, sendJson, type KvStore } from "./adminRoutes";
import { EtcdClient } from "./etcdClient";
import { exitOnSignals, log, runStandin, StartError } from "./process";

export { StartError };


export interface ConsoleConfig {
    listen: { host: string; port: number };
    /** HTTPS beside it (`conf.ssl`), on every address: 2.13 reads no host for it. */
    ssl?: { port: number; cert: Buffer; key: Buffer };
    etcd: { hosts: string[]; prefix: string; user?: string; password?: string; ca?: Buffer; cert?: Buffer; key?: Buffer };
    users: { username: string; password: string }[];
    secret: string;
    expireSeconds: number;
}

/** Reads and checks conf.yaml; file paths are read under `root`, as in the container. */
export function loadConsoleConfig(root: string, configPath = FLAVOR_CONTRACTS["api7-v2"].files.dashboard!): ConsoleConfig {
    const doc = parse(readFileSync(join(root, configPath), "utf8")) as Record<string, any>;
    const violations = checkFile("api7-v2", "dashboard", configPath, doc);
    if (violations.length) throw new StartError(`refusing to start: the api7-v2 contract rejects ${configPath}:\n${formatViolations(violations)}`);
    const etcd = doc.conf.etcd;
    const mtls = etcd.mtls?.enable === true;
    const file = (p: string) => readFileSync(join(root, p));
    return {
        listen: { host: doc.conf.listen?.host ?? "0.0.0.0", port: doc.conf.listen.port },
        ...(doc.conf.ssl?.cert && doc.conf.ssl?.key ? { ssl: { port: doc.conf.ssl.port ?? 443, cert: file(doc.conf.ssl.cert), key: file(doc.conf.ssl.key) } } : {}),
        etcd: {
            hosts: (etcd.endpoints as string[]).map((e) => `${mtls ? "https" : "http"}://${e}`),
            prefix: etcd.prefix,
            ...(etcd.enable_auth ? { user: etcd.username, password: etcd.password } : {}),
            ...(mtls ? { ca: file(etcd.mtls.ca_file), cert: file(etcd.mtls.cert_file), key: file(etcd.mtls.key_file) } : {}),
        },
        users: doc.authentication.users,
        secret: doc.authentication.secret,
        expireSeconds: doc.authentication.expire_time ?? 3600,
    };
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export function signToken(secret: string, subject: string, expireSeconds: number, now = Math.floor(Date.now() / 1000)): string {
    const head = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify({ sub: subject, iat: now, exp: now + expireSeconds }))}`;
    return `${head}.${b64url(createHmac("sha256", secret).update(head).digest())}`;
}

/** The token's subject when its signature, expiry and user check out. */
export function verifyToken(secret: string, token: string, users: string[], now = Math.floor(Date.now() / 1000)): string | undefined {
    const [h, p, sig] = token.split(".");
    if (!h || !p || !sig) return undefined;
    const want = createHmac("sha256", secret).update(`${h}.${p}`).digest();
    const got = Buffer.from(sig, "base64url");
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as { sub?: string; exp?: number };
    if (!claims.sub || !users.includes(claims.sub) || typeof claims.exp !== "number" || claims.exp < now) return undefined;
    return claims.sub;
}

export class Api7v2Console {
    constructor(
        private readonly config: ConsoleConfig,
        private readonly store: KvStore,
        private readonly clusterId: string,
    ) {}

    async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const path = new URL(req.url ?? "/", "http://console").pathname;
        if (req.method === "POST" && path === "/apisix/admin/user/login") {
            let body: { username?: string; password?: string } = {};
            try {
                body = JSON.parse(await readBody(req));
            } catch {
                // An empty or malformed body is a failed login.
            }
            const user = this.config.users.find((u) => u.username === body.username && u.password === body.password);
            if (!user) return sendJson(res, 401, { code: 10001, message: "username or password error", data: null });
            return sendJson(res, 200, { code: 0, message: "", data: { token: signToken(this.config.secret, user.username, this.config.expireSeconds) } });
        }
        if (!path.startsWith("/apisix")) return sendJson(res, 404, { code: 10004, message: "not found" });
        const user = verifyToken(this.config.secret, req.headers.authorization ?? "", this.config.users.map((u) => u.username));
        if (!user) return sendJson(res, 401, { code: 10013, message: "request unauthorized", data: null });
        await handleRouteApi(req, res, path, { store: this.store, prefix: `${this.config.etcd.prefix}/${this.clusterId}`, log, describeError: (e) => (e instanceof Error ? e.message : String(e)) });
    }
}

async function main(): Promise<void> {
    const { values } = parseArgs({ options: { root: { type: "string", default: "/" }, config: { type: "string" }, "cluster-id": { type: "string" } } });
    const clusterId = values["cluster-id"];
    if (!clusterId) throw new StartError("--cluster-id: the gateways' cluster (dataPlane.clusterId) is required");
    const config = loadConsoleConfig(values.root!, values.config);
    const etcd = new EtcdClient({ ...config.etcd, verify: true, nameCheck: "x509", timeoutMs: 5000 });
    try {
        await etcd.range(`${config.etcd.prefix}/`, { prefix: true });
    } catch (e) {
        throw new StartError(`init etcd client fail: ${e instanceof Error ? e.message : String(e)}`);
    }
    const console_ = new Api7v2Console(config, etcd, clusterId);
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) =>
        void console_.handle(req, res).catch((e) => {
            log(`console: ${req.method} ${req.url} failed: ${e instanceof Error ? e.message : String(e)}`);
            if (!res.headersSent) sendJson(res, 500, { code: 10000, message: "internal error" });
            else res.destroy();
        });
    const listen = (server: http.Server, port: number, host: string) =>
        new Promise<http.Server>((resolve, reject) => {
            server.once("error", reject);
            server.listen(port, host, () => resolve(server));
        });
    const servers = [await listen(http.createServer(handler), config.listen.port, config.listen.host)];
    if (config.ssl) servers.push(await listen(https.createServer({ cert: config.ssl.cert, key: config.ssl.key }, handler), config.ssl.port, "0.0.0.0"));
    log(
        `console: listening on ${config.listen.host}:${config.listen.port}${config.ssl ? ` and HTTPS on 0.0.0.0:${config.ssl.port}` : ""}, etcd ${config.etcd.hosts.join(",")} as ${config.etcd.user ?? "(no user)"}, routes of cluster ${clusterId} under ${config.etcd.prefix}/${clusterId}`,
    );
    exitOnSignals(() =>
        Promise.all(
            servers.map((server) => {
                server.closeAllConnections();
                return new Promise<void>((r) => server.close(() => r()));
            }),
        ).then(() => undefined),
    );
}

if (require.main === module) runStandin(main);
