// The route part of APISIX's Admin API (`/apisix/admin/routes[/{id}]`), over any store with etcd's
// range/put/delete: the APISIX control-plane stand-in serves it from etcd, the API7 v3 dashboard
// stand-in from its database (API7 EE's dashboard answers the same paths, API7 docs "Admin API").
// A write is answered 2xx only once the store acknowledged it.
import type http from "node:http";
import type { KeyValue } from "./etcdClient";

/** What the route API needs of a store; EtcdClient is one. */
export interface KvStore {
    range(key: string, opts?: { prefix?: boolean }): Promise<{ kvs: KeyValue[] }>;
    put(key: string, value: string): Promise<{ revision: number; created: boolean }>;
    deleteRange(key: string): Promise<{ deleted: number }>;
}

/** An in-memory store, for stand-ins under test. */
export class MemoryKv implements KvStore {
    private readonly data = new Map<string, KeyValue>();
    private revision = 0;

    async range(key: string, opts: { prefix?: boolean } = {}): Promise<{ kvs: KeyValue[] }> {
        const kvs = [...this.data.values()].filter((kv) => (opts.prefix ? kv.key.startsWith(key) : kv.key === key));
        return { kvs: kvs.sort((a, b) => a.key.localeCompare(b.key)) };
    }

    async put(key: string, value: string): Promise<{ revision: number; created: boolean }> {
        const prev = this.data.get(key);
        this.revision++;
        this.data.set(key, { key, value, createRevision: prev?.createRevision ?? this.revision, modRevision: this.revision });
        return { revision: this.revision, created: !prev };
    }

    async deleteRange(key: string): Promise<{ deleted: number }> {
        return { deleted: this.data.delete(key) ? 1 : 0 };
    }
}

export const ROUTE_ID = /^[a-zA-Z0-9_.-]{1,64}$/;

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
}

export async function readBody(req: http.IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
}

function item(kv: KeyValue) {
    let value: unknown = kv.value;
    try {
        value = JSON.parse(kv.value);
    } catch {
        // Not JSON: returned as stored.
    }
    return { key: kv.key, value, createdIndex: kv.createRevision, modifiedIndex: kv.modRevision };
}

/** The refusals APISIX's route schema makes that the lab can meet; undefined for a route it accepts. */
export function routeBodyError(route: unknown): string | undefined {
    if (!route || typeof route !== "object" || Array.isArray(route)) return "invalid request body: not a JSON object";
    const r = route as Record<string, unknown>;
    if (!r.upstream && !r.upstream_id && !r.service_id) return "invalid configuration: missing upstream";
    if (!r.uri && !r.uris) return 'invalid configuration: value should match only one schema, but matches none (need "uri" or "uris")';
    return undefined;
}

export interface RouteApiOptions {
    store: KvStore;
    /** Where routes live in the store: `<prefix>/routes/<id>`. */
    prefix: string;
    log: (line: string) => void;
    /** How a store failure reads in the 503 and the log. */
    describeError: (e: unknown) => string;
}

/** Serves `/apisix/admin/routes[/{id}]`; answers 404 for any other path. */
export async function handleRouteApi(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, o: RouteApiOptions): Promise<void> {
    const m = /^\/apisix\/admin\/routes(?:\/([^/]+))?\/?$/.exec(pathname);
    if (!m) return sendJson(res, 404, { error_msg: "404 Route Not Found" });
    const id = m[1];
    const prefix = `${o.prefix}/routes/`;
    try {
        if (req.method === "GET" && id === undefined) {
            const { kvs } = await o.store.range(prefix, { prefix: true });
            return sendJson(res, 200, { total: kvs.length, list: kvs.map(item) });
        }
        if (id === undefined || !ROUTE_ID.test(id)) return sendJson(res, 400, { error_msg: "invalid route id" });
        const key = prefix + id;
        if (req.method === "GET") {
            const { kvs } = await o.store.range(key);
            return kvs.length ? sendJson(res, 200, item(kvs[0])) : sendJson(res, 404, { message: "Key not found" });
        }
        if (req.method === "DELETE") {
            const { deleted } = await o.store.deleteRange(key);
            o.log(`admin: DELETE route ${id} (${deleted ? "deleted" : "absent"})`);
            return deleted ? sendJson(res, 200, { key, deleted: "1" }) : sendJson(res, 404, { message: "Key not found" });
        }
        if (req.method !== "PUT") return sendJson(res, 405, { error_msg: `${req.method} is not supported by the stand-in's Admin API` });
        let route: Record<string, unknown>;
        try {
            route = JSON.parse(await readBody(req));
        } catch (e) {
            return sendJson(res, 400, { error_msg: `invalid request body: ${e instanceof Error ? e.message : String(e)}` });
        }
        const refused = routeBodyError(route);
        if (refused) return sendJson(res, 400, { error_msg: refused });
        const now = Math.floor(Date.now() / 1000);
        const value = { ...route, id, create_time: route.create_time ?? now, update_time: now };
        const { created, revision } = await o.store.put(key, JSON.stringify(value));
        o.log(`admin: PUT route ${id} acknowledged at revision ${revision}`);
        sendJson(res, created ? 201 : 200, { key, value });
    } catch (e) {
        o.log(`admin: ${req.method} ${pathname} failed: ${o.describeError(e)}`);
        sendJson(res, 503, { error_msg: o.describeError(e) });
    }
}
