// Stand-in for APISIX 3.x in the HA lab, where APISIX itself cannot be installed. It reads the
// real rendered config.yaml and behaves like APISIX where the lab looks:
//   data_plane:    proxies the routes it synced from etcd (and keeps serving them while etcd is
//                  away), /status and /status/ready, a few Prometheus gauges;
//   control_plane: the Admin API for routes, answering 2xx only for writes etcd acknowledged.
//
//   npx tsx lab/standins/apisix.ts --root DIR [--config /usr/local/apisix/conf/config.yaml]
//       [--https-cert FILE --https-key FILE] [--etcd-timeout-ms N] [--flavor apisix|api7-v2|api7-v3]
//
// --root is the service's filesystem: paths in config.yaml are read under it. --https-* are host
// paths. --etcd-timeout-ms replaces deployment.etcd.timeout (30 s rendered) so a lab can bound how
// long a write waits for a silent member. --flavor picks the contract the file must satisfy and
// its shape (API7 v2: APISIX 2.13's top-level etcd, /status only). Events go to stdout, one line each.
//
// As strict as the real program where the lab looks: it refuses a file its flavor's contract
// rejects, dies at start unless more than half of the etcd hosts answer (init_etcd), and verifies
// etcd's certificate names as OpenResty does (etcdClient.ts: DNS SANs only, `sni` or the URL host).
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { parseArgs } from "node:util";
import { FLAVORS, type Flavor } from "../../components/config/schema";
import { ConfigError, loadConfig, type Listen, type StandinConfig } from "./config";
import { handleRouteApi, sendJson } from "./adminRoutes";
import { EtcdClient, EtcdError, type KeyValue } from "./etcdClient";
import { exitOnSignals, log, runStandin, StartError } from "./process";


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function readBody(req: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
    });
}

function etcdClient(config: StandinConfig, timeoutOverrideMs: number | undefined): EtcdClient {
    const e = config.etcd;
    const file = (p: string | undefined) => (p ? readFileSync(p) : undefined);
    return new EtcdClient({
        hosts: e.hosts,
        user: e.user,
        password: e.password,
        ca: file(e.caFile),
        cert: file(e.certFile),
        key: file(e.keyFile),
        verify: e.verify,
        sni: e.sni,
        timeoutMs: timeoutOverrideMs ?? e.timeoutMs,
    });
}

/** Explains the one etcd refusal that a configuration change, not a retry, fixes. */
function describeEtcdError(e: unknown): string {
    if (e instanceof EtcdError && e.certHasCommonName) return `${e.message} (the client certificate must have no CommonName when etcd has client-cert-auth and auth on)`;
    return errorText(e);
}

// ---------------------------------------------------------------- data plane: routes

interface UpstreamNode {
    host: string;
    port: number;
    weight: number;
}

interface Route {
    id: string;
    uris: string[];
    methods?: string[];
    hosts?: string[];
    nodes: UpstreamNode[];
    totalWeight: number;
    /** Weighted round-robin position. */
    next: number;
}

/** "host:port" (or "[v6]:port"), port 80 when absent. */
function parseNodeAddress(address: string, weight: number): UpstreamNode {
    const m = /^\[(.+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
    if (!m) throw new Error(`bad upstream node ${JSON.stringify(address)}`);
    return { host: m[1], port: m[2] ? Number(m[2]) : 80, weight };
}

/** APISIX route JSON → Route; undefined for a disabled route (status 0). Throws on what cannot be served. */
function parseRoute(id: string, json: string): Route | undefined {
    const r = JSON.parse(json);
    if (r.status === 0) return undefined;
    const uris: string[] = r.uris ?? (r.uri ? [r.uri] : []);
    if (uris.length === 0) throw new Error("no uri or uris");
    const rawNodes = r.upstream?.nodes;
    if (!rawNodes) throw new Error("no inline upstream.nodes (upstream_id and service_id are not supported by the stand-in)");
    if (r.upstream.type && r.upstream.type !== "roundrobin") throw new Error(`upstream type ${r.upstream.type} is not supported by the stand-in`);
    const nodes: UpstreamNode[] = Array.isArray(rawNodes)
        ? rawNodes.map((n: { host: string; port?: number; weight?: number }) => ({ host: n.host.replace(/^\[|\]$/g, ""), port: n.port ?? 80, weight: n.weight ?? 1 }))
        : Object.entries(rawNodes as Record<string, number>).map(([addr, w]) => parseNodeAddress(addr, w));
    const live = nodes.filter((n) => n.weight > 0);
    if (live.length === 0) throw new Error("no upstream node with a weight above 0");
    const hosts: string[] | undefined = r.hosts ?? (r.host ? [r.host] : undefined);
    return { id, uris, methods: r.methods, hosts: hosts?.map((h) => h.toLowerCase()), nodes: live, totalWeight: live.reduce((s, n) => s + n.weight, 0), next: 0 };
}

function hostMatches(patterns: string[], hostHeader: string | undefined): boolean {
    const host = (hostHeader ?? "").replace(/:\d+$/, "").toLowerCase();
    return patterns.some((p) => (p.startsWith("*.") ? host.endsWith(p.slice(1)) : host === p));
}

class RouteTable {
    private readonly routes = new Map<string, Route>();

    constructor(private readonly keyPrefix: string) {}

    get size(): number {
        return this.routes.size;
    }

    replaceAll(kvs: KeyValue[]): void {
        this.routes.clear();
        for (const kv of kvs) this.put(kv);
    }

    put(kv: KeyValue): void {
        const id = kv.key.slice(this.keyPrefix.length);
        try {
            const route = parseRoute(id, kv.value);
            if (route) this.routes.set(kv.key, route);
            else this.routes.delete(kv.key);
        } catch (e) {
            this.routes.delete(kv.key);
            log(`route ${id}: ignored (${errorText(e)})`);
        }
    }

    delete(key: string): void {
        this.routes.delete(key);
    }

    /** Exact uri first, then the longest `prefix*` uri, as APISIX's radixtree does. */
    match(method: string, path: string, host: string | undefined): Route | undefined {
        let best: Route | undefined;
        let bestLength = -1;
        for (const route of this.routes.values()) {
            if (route.methods && !route.methods.includes(method)) continue;
            if (route.hosts && !hostMatches(route.hosts, host)) continue;
            for (const uri of route.uris) {
                if (uri === path) return route;
                if (uri.endsWith("*") && path.startsWith(uri.slice(0, -1)) && uri.length - 1 > bestLength) {
                    best = route;
                    bestLength = uri.length - 1;
                }
            }
        }
        return best;
    }
}

function pickNode(route: Route): UpstreamNode {
    let position = route.next++ % route.totalWeight;
    for (const node of route.nodes) {
        if (position < node.weight) return node;
        position -= node.weight;
    }
    return route.nodes[0];
}

const UPSTREAM_CONNECT_TIMEOUT_MS = 2000;
const UPSTREAM_RESPONSE_TIMEOUT_MS = 60_000;
const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"];

function endToEnd(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
    const copy = { ...headers };
    for (const h of HOP_BY_HOP) delete copy[h];
    return copy;
}

class UpstreamError extends Error {
    constructor(
        message: string,
        /** Whether the request may have reached the node: then it is not sent to another one. */
        readonly connected: boolean,
    ) {
        super(message);
    }
}

/** One try against one node; rejects if no response head arrives (connect failure, timeout). */
function forward(node: UpstreamNode, req: http.IncomingMessage, body: Buffer, clientIp: string): Promise<http.IncomingMessage> {
    const forwardedFor = req.headers["x-forwarded-for"] ? `${req.headers["x-forwarded-for"]}, ${clientIp}` : clientIp;
    return new Promise((resolve, reject) => {
        const up = http.request({
            host: node.host,
            port: node.port,
            method: req.method,
            path: req.url,
            headers: { ...endToEnd(req.headers), "x-forwarded-for": forwardedFor, "content-length": String(body.length) },
            agent: false,
        });
        const connectTimer = setTimeout(() => up.destroy(new Error(`connect timeout ${UPSTREAM_CONNECT_TIMEOUT_MS} ms`)), UPSTREAM_CONNECT_TIMEOUT_MS);
        let connected = false;
        up.on("socket", (s) =>
            s.once("connect", () => {
                connected = true;
                clearTimeout(connectTimer);
            }),
        );
        up.setTimeout(UPSTREAM_RESPONSE_TIMEOUT_MS, () => up.destroy(new Error("upstream response timeout")));
        up.on("response", (res) => {
            clearTimeout(connectTimer);
            resolve(res);
        });
        up.on("error", (e) => {
            clearTimeout(connectTimer);
            reject(new UpstreamError(e.message, connected));
        });
        up.end(body);
    });
}

// ---------------------------------------------------------------- data plane: process

class DataPlane {
    private readonly routes: RouteTable;
    private synced = false;
    private etcdConnected = false;
    private requestsTotal = 0;
    private stopped = false;
    private stopWatch = () => {};

    constructor(
        private readonly config: StandinConfig,
        private readonly etcd: EtcdClient,
    ) {
        this.routes = new RouteTable(`${config.etcd.prefix}/routes/`);
    }

    async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        this.requestsTotal++;
        const path = (req.url ?? "/").split("?")[0];
        const route = this.routes.match(req.method ?? "GET", path, req.headers.host);
        if (!route) return sendJson(res, 404, { error_msg: "404 Route Not Found" });
        // Buffered so the next node can be tried with the same body when one cannot be reached
        // (APISIX retries the next node; like nginx, not once the request may have been sent).
        const body = await readBody(req);
        const clientIp = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
        for (let attempt = 0; attempt < route.nodes.length; attempt++) {
            const node = pickNode(route);
            try {
                const up = await forward(node, req, body, clientIp);
                res.writeHead(up.statusCode ?? 502, endToEnd(up.headers));
                // An upstream that dies mid-body must not leave the client waiting for the rest.
                up.on("close", () => up.complete || res.destroy());
                up.pipe(res);
                return;
            } catch (e) {
                log(`route ${route.id}: upstream ${node.host}:${node.port} failed (${errorText(e)})`);
                if (e instanceof UpstreamError && e.connected) break;
            }
        }
        sendJson(res, 502, { error_msg: "502 Bad Gateway" });
    }

    /** APISIX 3.x: /status says the workers run (etcd plays no part); /status/ready needs a first sync. */
    status(req: http.IncomingMessage, res: http.ServerResponse): void {
        const path = (req.url ?? "/").split("?")[0];
        if (path === "/status") return sendJson(res, 200, { status: "ok" });
        if (path === "/status/ready" && this.config.readyEndpoint) {
            return this.synced ? sendJson(res, 200, { status: "ok" }) : sendJson(res, 503, { status: "error", error: "worker has not received configuration" });
        }
        sendJson(res, 404, { error_msg: "404 Route Not Found" });
    }

    metrics(req: http.IncomingMessage, res: http.ServerResponse): void {
        if ((req.url ?? "").split("?")[0] !== "/apisix/prometheus/metrics") return sendJson(res, 404, { error_msg: "404 Route Not Found" });
        const text = [
            "# HELP apisix_http_requests_total The total number of client requests since the stand-in started",
            "# TYPE apisix_http_requests_total gauge",
            `apisix_http_requests_total ${this.requestsTotal}`,
            "# HELP apisix_etcd_reachable Config server etcd reachable from the gateway, 0 is unreachable",
            "# TYPE apisix_etcd_reachable gauge",
            `apisix_etcd_reachable ${this.etcdConnected ? 1 : 0}`,
            "# HELP apisix_standin_routes_cached Routes the gateway currently serves",
            "# TYPE apisix_standin_routes_cached gauge",
            `apisix_standin_routes_cached ${this.routes.size}`,
            "",
        ].join("\n");
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.end(text);
    }

    /**
     * Full sync, then watch from the next revision; on any failure back off (100 ms doubling to
     * 2 s) and start over. The route table is only replaced by a successful sync, so the cached
     * routes keep being served while etcd is away.
     */
    async syncForever(): Promise<void> {
        // APISIX's own key ranges (config_etcd.lua, 2.13 and 3.x): its full load is readdir(prefix),
        // i.e. [prefix, prefix+1) with no trailing slash, and its main watch is watchdir(prefix/). A
        // grant narrower than the prefix (`/apisix/`) refuses the full load; APISIX 3.14 logs that
        // and falls back to a read per resource, the stand-in (stricter) never syncs.
        const root = this.config.etcd.prefix;
        const routes = `${root}/routes/`;
        let delayMs = 100;
        while (!this.stopped) {
            let phase = "sync failed";
            try {
                const { revision, kvs } = await this.etcd.range(root, { prefix: true });
                this.routes.replaceAll(kvs.filter((kv) => kv.key.startsWith(routes)));
                this.synced = true;
                this.etcdConnected = true;
                log(`etcd: synced ${this.routes.size} routes at revision ${revision}`);
                phase = "watch lost";
                await this.follow(`${root}/`, routes, revision + 1, () => (delayMs = 100));
            } catch (e) {
                if (this.stopped) break;
                this.etcdConnected = false;
                log(`etcd: ${phase} (${describeEtcdError(e)}), retrying in ${delayMs} ms`);
                await sleep(delayMs);
                delayMs = Math.min(delayMs * 2, 2000);
            }
        }
    }

    /** Applies changes until the watch fails. A watch that only went quiet is re-made where it stopped, without a re-sync. */
    private async follow(prefix: string, routes: string, startRevision: number, onCreated: () => void): Promise<void> {
        let next = startRevision;
        while (!this.stopped) {
            const watch = await this.etcd.watch(
                prefix,
                { prefix: true, startRevision: next, idleMs: this.config.etcd.watchTimeoutMs },
                {
                    onCreated: () => {
                        onCreated();
                        log(`etcd: watching ${prefix} from revision ${next}`);
                    },
                    onEvents: (events) => {
                        for (const e of events) {
                            next = e.kv.modRevision + 1;
                            if (!e.kv.key.startsWith(routes)) continue;
                            if (e.type === "PUT") this.routes.put(e.kv);
                            else this.routes.delete(e.kv.key);
                            log(`etcd: ${e.type} ${e.kv.key} at revision ${e.kv.modRevision} (${this.routes.size} routes)`);
                        }
                    },
                },
            );
            this.stopWatch = () => watch.close();
            if (this.stopped) watch.close();
            try {
                await watch.done;
            } catch (e) {
                if (!(e instanceof EtcdError && e.details.idle)) throw e;
            }
        }
    }

    stop(): void {
        this.stopped = true;
        this.stopWatch();
    }
}

// ---------------------------------------------------------------- control plane: Admin API

/** allow_admin as a BlockList (used as an allow list); undefined when everyone is allowed. */
function allowList(cidrs: string[]): net.BlockList | undefined {
    if (cidrs.length === 0) return undefined;
    const list = new net.BlockList();
    for (const c of cidrs) {
        const [address, bits] = c.split("/");
        const type = net.isIPv6(address) ? "ipv6" : "ipv4";
        const maxBits = type === "ipv6" ? 128 : 32;
        if (!net.isIP(address) || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= maxBits))) {
            throw new ConfigError(`deployment.admin.allow_admin: ${JSON.stringify(c)} is no address or CIDR`);
        }
        if (bits === undefined) list.addAddress(address, type);
        else list.addSubnet(address, Number(bits), type);
    }
    return list;
}

class ControlPlane {
    private readonly allowed: net.BlockList | undefined;

    constructor(
        private readonly config: StandinConfig,
        private readonly etcd: EtcdClient,
    ) {
        this.allowed = allowList(config.admin.allow);
    }

    async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const peer = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
        if (this.allowed && !this.allowed.check(peer, net.isIPv6(peer) ? "ipv6" : "ipv4")) return sendJson(res, 403, { error_msg: "403 Forbidden" });
        const url = new URL(req.url ?? "/", "http://admin");
        const key = req.headers["x-api-key"] ?? url.searchParams.get("api_key");
        if (this.config.admin.keyRequired && !(typeof key === "string" && this.config.admin.keys.includes(key))) {
            return sendJson(res, 401, { error_msg: "failed to check token" });
        }
        await handleRouteApi(req, res, url.pathname, { store: this.etcd, prefix: this.config.etcd.prefix, log, describeError: describeEtcdError });
    }
}

// ---------------------------------------------------------------- process

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

function serve(kind: string, at: Listen, handler: Handler, tls?: { cert: Buffer; key: Buffer }): Promise<http.Server> {
    const wrapped: Handler = (req, res) => {
        Promise.resolve(handler(req, res)).catch((e) => {
            log(`${kind}: ${req.method} ${req.url} failed: ${errorText(e)}`);
            if (!res.headersSent) sendJson(res, 500, { error_msg: "internal error" });
            else res.destroy();
        });
    };
    const server = tls ? https.createServer(tls, wrapped) : http.createServer(wrapped);
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(at.port, at.ip, () => {
            log(`listening ${kind} ${at.ip}:${at.port}`);
            resolve(server);
        });
    });
}

/**
 * `apisix init_etcd`, which the image's entrypoint runs before OpenResty for every role
 * (apisix/cli/etcd.lua at 2.13.3 and 3.14.1): each host's /version, `startup_retry` attempts each;
 * the process dies unless more than half of the listed hosts answered. So a gateway that
 * (re)starts while etcd has lost its majority does not come back until etcd does.
 */
async function initEtcd(config: StandinConfig, etcd: EtcdClient, timeoutMs: number): Promise<void> {
    let healthy = 0;
    for (const host of config.etcd.hosts) {
        let reason: string | undefined = "not tried";
        for (let attempt = 1; attempt <= config.etcd.startupRetry && reason !== undefined; attempt++) {
            reason = await etcd.probeVersion(host, timeoutMs);
            if (reason !== undefined) log(`init_etcd: Warning! Request etcd endpoint '${host}/version' error, ${reason}, retry time=${attempt}`);
        }
        if (reason === undefined) healthy++;
    }
    if (healthy === 0) throw new StartError("all etcd nodes are unavailable");
    if ((healthy / config.etcd.hosts.length) * 100 <= 50) throw new StartError("the etcd cluster needs at least 50% and above healthy nodes");
    log(`init_etcd: ${healthy} of ${config.etcd.hosts.length} etcd hosts answered`);
}


async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            root: { type: "string", default: "/" },
            config: { type: "string", default: "/usr/local/apisix/conf/config.yaml" },
            "https-cert": { type: "string" },
            "https-key": { type: "string" },
            "etcd-timeout-ms": { type: "string" },
            flavor: { type: "string", default: "apisix" },
        },
    });
    const flavor = values.flavor as Flavor;
    if (!(FLAVORS as readonly string[]).includes(flavor)) throw new ConfigError(`--flavor: expected one of ${FLAVORS.join(", ")}, got ${values.flavor}`);
    const config = loadConfig({ root: values.root!, configPath: values.config!, env: process.env, flavor });
    const timeoutOverride = values["etcd-timeout-ms"] === undefined ? undefined : Number(values["etcd-timeout-ms"]);
    if (timeoutOverride !== undefined && !(timeoutOverride > 0)) throw new ConfigError("--etcd-timeout-ms: expected a positive number");
    const etcd = etcdClient(config, timeoutOverride);
    log(`${config.role}: etcd ${config.etcd.hosts.join(",")} prefix ${config.etcd.prefix} as ${config.etcd.user ?? "(no user)"}, timeout ${timeoutOverride ?? config.etcd.timeoutMs} ms`);
    await initEtcd(config, etcd, timeoutOverride ?? config.etcd.timeoutMs);

    const servers: http.Server[] = [];
    let stop = () => {};
    // Stop accepting, close idle keep-alive connections, let requests in flight finish (each connection
    // closes after its answer); SIGTERM within about a second, SIGQUIT within worker_shutdown_timeout.
    exitOnSignals(() => {
        stop();
        etcd.close();
        const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
        for (const s of servers) s.closeIdleConnections();
        return Promise.all(closed);
    }, config.shutdownTimeoutMs);

    if (config.role === "data_plane") {
        const dp = new DataPlane(config, etcd);
        stop = () => dp.stop();
        const handle: Handler = (req, res) => dp.handle(req, res);
        for (const at of config.http) servers.push(await serve("http", at, handle));
        if (config.https.length > 0) {
            if (values["https-cert"] && values["https-key"]) {
                const tls = { cert: readFileSync(values["https-cert"]), key: readFileSync(values["https-key"]) };
                for (const at of config.https) servers.push(await serve("https", at, handle, tls));
            } else {
                log("https: apisix.ssl.enable is on but no --https-cert/--https-key given: not listening");
            }
        }
        if (config.status) servers.push(await serve("status", config.status, (req, res) => dp.status(req, res)));
        if (config.metrics) servers.push(await serve("metrics", config.metrics, (req, res) => dp.metrics(req, res)));
        void dp.syncForever();
    } else {
        const cp = new ControlPlane(config, etcd);
        // nginx reads the certificate at start: a missing or unreadable file stops it from starting.
        const tls = config.admin.tls && { cert: readFileSync(config.admin.tls.certFile), key: readFileSync(config.admin.tls.keyFile) };
        servers.push(await serve(tls ? "admin (https)" : "admin", config.admin.listen, (req, res) => cp.handle(req, res), tls));
    }
}

// Bad configuration (as APISIX's CLI dies with util.die) or arguments: the message says it all.
runStandin(main, (e) => e instanceof ConfigError);
