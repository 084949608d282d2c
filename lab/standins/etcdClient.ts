// An etcd v3 client over etcd's JSON gRPC-gateway, speaking to etcd the way APISIX's
// lua-resty-etcd does: token auth (POST /v3/auth/authenticate, token in `Authorization`),
// base64 keys and values, a chunked JSON stream for /v3/watch. Only node:http(s), so the
// stand-ins start fast and add no dependency.
//
// One etcd-side rule shapes how the client certificate must look: with --client-cert-auth and
// auth enabled, etcd answers HTTP 400 "CommonName of client sending a request against gateway
// will be ignored and not used as expected" to every /v3/ request whose client certificate has a
// CommonName (CVE-2018-16886 fix), whatever token it carries. Client certificates for gateway
// users must therefore have no CN; EtcdError.certHasCommonName flags that case.
//
// TLS is verified the way OpenResty verifies it for lua-resty-etcd (apisix/core/etcd.lua `_new`:
// ssl_verify, sni): the chain against `ca`, then the server name, which is `sni` when set and the
// URL host otherwise, with X509_check_host's rules (opensslHostMismatch). Node's own check would
// accept an IP host against an IP SAN, which APISIX never does.
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import tls, { type PeerCertificate } from "node:tls";

export interface EtcdClientOptions {
    /** Endpoints such as https://172.28.0.11:2379, tried in turn when one fails. */
    hosts: string[];
    user?: string;
    password?: string;
    /** PEM contents for TLS; ca absent means the system trust store. */
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    /** Verify the member certificate against `ca` and its name (APISIX `deployment.etcd.tls.verify`). */
    verify: boolean;
    /** The TLS server name for every host (APISIX `etcd.tls.sni`); default: each URL's host. */
    sni?: string;
    /**
     * How the name is matched: `openssl`, as OpenResty does (X509_check_host: DNS SANs only), the
     * default; `x509`, as Go's crypto/x509 and Node do (an IP literal against IP SANs), for Go clients.
     */
    nameCheck?: "openssl" | "x509";
    /** Bound on each attempt against one host: connect, TLS handshake and answer. */
    timeoutMs: number;
}

export interface KeyValue {
    key: string;
    value: string;
    createRevision: number;
    modRevision: number;
}

export interface WatchEvent {
    type: "PUT" | "DELETE";
    kv: KeyValue;
}

export interface Watch {
    /** Settles when the watch ends: rejects with the reason, resolves only after close(). */
    done: Promise<void>;
    close(): void;
}

/**
 * Why `cert` does not match `name` under OpenSSL's X509_check_host (flags 0, as nginx's
 * ngx_ssl_check_host calls it), or undefined when it does: DNS-type SANs only, case-insensitive,
 * a wildcard only as the whole leftmost label; the subject CN only when there is no DNS SAN. An IP
 * address is compared as a DNS name, so an IP SAN never matches. The message is OpenResty's.
 */
export function opensslHostMismatch(name: string, cert: Pick<PeerCertificate, "subjectaltname" | "subject">): Error | undefined {
    const dns = (cert.subjectaltname ?? "")
        .split(", ")
        .filter((e) => e.startsWith("DNS:"))
        .map((e) => e.slice(4).toLowerCase());
    const cn = cert.subject?.CN;
    const candidates = dns.length > 0 ? dns : (Array.isArray(cn) ? cn : cn ? [cn] : []).map((c) => c.toLowerCase());
    const want = name.toLowerCase();
    const matches = (pattern: string) => {
        if (pattern === want) return true;
        if (!pattern.startsWith("*.") || isIP(want)) return false;
        const dot = want.indexOf(".");
        return dot > 0 && want.slice(dot) === pattern.slice(1) && pattern.split(".").length > 2;
    };
    return candidates.some(matches) ? undefined : new Error(`certificate host mismatch (${name} is not ${dns.length > 0 ? "a DNS SAN" : "the subject CN"} of the member certificate)`);
}

/** An answer from etcd (grpcCode set) or a failure to get one (transport set). */
export class EtcdError extends Error {
    constructor(
        message: string,
        readonly details: { grpcCode?: number; httpStatus?: number; transport?: boolean; compactRevision?: number; idle?: boolean } = {},
    ) {
        super(message);
    }
    /** The token expired or etcd restarted and forgot it: authenticate again. */
    get tokenRejected(): boolean {
        return /invalid auth token|user name is empty/.test(this.message);
    }
    get certHasCommonName(): boolean {
        return this.message.includes("CommonName of client sending a request against gateway");
    }
}

const GRPC_UNAVAILABLE = 14;

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

/** The smallest key greater than every key starting with `prefix`: etcd's range_end for a prefix. */
function prefixEnd(prefix: string): string {
    const bytes = Buffer.from(prefix, "utf8");
    for (let i = bytes.length - 1; i >= 0; i--) {
        if (bytes[i] < 0xff) {
            const end = bytes.subarray(0, i + 1);
            end[i]++;
            return end.toString("base64");
        }
    }
    return Buffer.from([0]).toString("base64"); // all 0xff: to the end of the keyspace
}

interface RawKv {
    key?: string;
    value?: string;
    create_revision?: string;
    mod_revision?: string;
}

function toKeyValue(raw: RawKv): KeyValue {
    return { key: unb64(raw.key), value: unb64(raw.value), createRevision: Number(raw.create_revision ?? 0), modRevision: Number(raw.mod_revision ?? 0) };
}

/** Unary errors carry `code`, errors inside a watch stream `grpc_code`. */
function errorFromBody(body: { error?: string; message?: string; code?: number; grpc_code?: number }, httpStatus: number): EtcdError {
    return new EtcdError(`etcd: ${body.message ?? body.error ?? `HTTP ${httpStatus}`}`, { grpcCode: body.code ?? body.grpc_code, httpStatus });
}

export class EtcdClient {
    private token: string | undefined;
    private authenticating: Promise<string> | undefined;
    /** Index of the host that answered last: start there, as it is probably still up. */
    private current = 0;
    private readonly agents: { http: http.Agent; https: https.Agent };
    private readonly watches = new Set<Watch>();

    constructor(private readonly opts: EtcdClientOptions) {
        if (opts.hosts.length === 0) throw new Error("etcd: no hosts configured");
        // No keep-alive: a pooled socket to a member that has since restarted fails its next
        // request, which would count as that member being down.
        this.agents = {
            http: new http.Agent({ keepAlive: false }),
            https: new https.Agent({ keepAlive: false, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.verify }),
        };
    }

    async range(key: string, opts: { prefix?: boolean } = {}): Promise<{ revision: number; kvs: KeyValue[] }> {
        const body = await this.call("/v3/kv/range", { key: b64(key), ...(opts.prefix ? { range_end: prefixEnd(key) } : {}) });
        return { revision: Number(body.header?.revision ?? 0), kvs: ((body.kvs ?? []) as RawKv[]).map(toKeyValue) };
    }

    /** Resolves only once etcd acknowledged the write; `created` is false when the key existed. */
    async put(key: string, value: string): Promise<{ revision: number; created: boolean }> {
        const body = await this.call("/v3/kv/put", { key: b64(key), value: b64(value), prev_kv: true });
        return { revision: Number(body.header?.revision ?? 0), created: !body.prev_kv };
    }

    async deleteRange(key: string, opts: { prefix?: boolean } = {}): Promise<{ revision: number; deleted: number }> {
        const body = await this.call("/v3/kv/deleterange", { key: b64(key), ...(opts.prefix ? { range_end: prefixEnd(key) } : {}) });
        return { revision: Number(body.header?.revision ?? 0), deleted: Number(body.deleted ?? 0) };
    }

    /**
     * Streams changes from `startRevision` on. `onEvents` runs for each batch; `onCreated` once
     * etcd confirmed the watch. `done` rejects with compactRevision set when the start revision
     * was compacted, and with `idle` set after idleMs without a message (APISIX's watch_timeout):
     * a quiet prefix and a member that stopped answering look the same from here.
     */
    async watch(
        key: string,
        opts: { prefix?: boolean; startRevision: number; idleMs: number },
        handlers: { onEvents: (events: WatchEvent[]) => void; onCreated?: () => void },
    ): Promise<Watch> {
        const token = await this.tokenForRequest();
        const create = { create_request: { key: b64(key), ...(opts.prefix ? { range_end: prefixEnd(key) } : {}), start_revision: opts.startRevision } };
        // hasleader (clientv3's WithRequireLeader): a member cut off from the leader ends the
        // stream instead of going quiet, so the caller moves on to a member with quorum.
        const { res, settled } = await this.failover((host) => this.open(host, "/v3/watch", create, token, { "grpc-metadata-hasleader": "true" }));
        // From here on the stream's own idle timeout applies.
        settled();
        if (res.statusCode !== 200) {
            const body = await readJson(res);
            const err = errorFromBody(body, res.statusCode ?? 0);
            if (err.tokenRejected) this.forgetToken(token);
            throw err;
        }
        let closedByUs = false;
        let watch!: Watch;
        const done = new Promise<void>((resolve, reject) => {
            let over = false;
            const fail = (err: EtcdError) => {
                if (over) return;
                over = true;
                if (err.tokenRejected) this.forgetToken(token);
                res.destroy();
                reject(err);
            };
            /** One message of the stream: a batch, the creation, or why the watch is over. */
            const handle = (text: string): EtcdError | undefined => {
                let msg;
                try {
                    msg = JSON.parse(text);
                } catch {
                    return new EtcdError(`etcd: unreadable watch message: ${text.slice(0, 200)}`, { transport: true });
                }
                // e.g. {"error":{"grpc_code":14,"message":"etcdserver: no leader",...}}
                if (msg.error) return errorFromBody(msg.error, 200);
                const r = msg.result ?? {};
                if (r.canceled) {
                    const compactRevision = Number(r.compact_revision ?? 0);
                    return compactRevision > 0
                        ? new EtcdError(`etcd: revision ${opts.startRevision} compacted (oldest now ${compactRevision})`, { compactRevision })
                        : new EtcdError(`etcd: watch canceled: ${r.cancel_reason ?? "no reason given"}`);
                }
                if (r.created) handlers.onCreated?.();
                const events = ((r.events ?? []) as { type?: string; kv: RawKv }[]).map((e) => ({ type: e.type === "DELETE" ? ("DELETE" as const) : ("PUT" as const), kv: toKeyValue(e.kv) }));
                if (events.length > 0) handlers.onEvents(events);
                return undefined;
            };
            // A member that stops answering (partition, SIGSTOP) sends nothing and never closes.
            res.setTimeout(opts.idleMs, () => fail(new EtcdError(`etcd: watch idle for ${opts.idleMs} ms`, { transport: true, idle: true })));
            let buffered = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => {
                buffered += chunk;
                // One JSON object per message, each followed by a newline; the last one before
                // the stream ends (an error) may lack it.
                let nl: number;
                while (!over && (nl = buffered.indexOf("\n")) >= 0) {
                    const line = buffered.slice(0, nl).trim();
                    buffered = buffered.slice(nl + 1);
                    const err = line ? handle(line) : undefined;
                    if (err) fail(err);
                }
            });
            const ended = (why: string) => {
                if (closedByUs) return resolve();
                const rest = buffered.trim();
                fail((rest && handle(rest)) || new EtcdError(`etcd: watch ${why}`, { transport: true }));
            };
            res.on("end", () => ended("stream ended"));
            res.on("error", (e) => ended(`stream: ${e.message}`));
            res.on("close", () => ended("connection closed"));
        }).finally(() => this.watches.delete(watch));
        watch = {
            done,
            close: () => {
                closedByUs = true;
                res.destroy();
            },
        };
        this.watches.add(watch);
        return watch;
    }

    /** Server name and its check for one request: `sni` or the URL host, matched as OpenResty does. */
    private tlsName(url: URL): Pick<https.RequestOptions, "servername" | "checkServerIdentity"> {
        const name = this.opts.sni || url.hostname.replace(/^\[|\]$/g, "");
        return {
            // TLS carries no IP address as SNI (RFC 6066).
            ...(isIP(name) ? {} : { servername: name }),
            checkServerIdentity: (_host, cert) => (!this.opts.verify ? undefined : this.opts.nameCheck === "x509" ? tls.checkServerIdentity(name, cert) : opensslHostMismatch(name, cert)),
        };
    }

    /**
     * What `apisix init_etcd` asks each host at start (apisix/cli/etcd.lua): GET /version over
     * luasec, which verifies the chain (verify "peer") but not the name. Undefined when the host
     * answered with an etcd version, the reason otherwise.
     */
    probeVersion(host: string, timeoutMs: number): Promise<string | undefined> {
        const url = new URL("/version", host);
        const secure = url.protocol === "https:";
        return new Promise((resolve) => {
            const req = (secure ? https : http).get(url, {
                agent: secure ? this.agents.https : this.agents.http,
                ...(secure ? { checkServerIdentity: () => undefined } : {}),
            });
            const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
            req.on("response", (res) => {
                readJson(res)
                    .then((body) => resolve(body?.etcdcluster ? undefined : `got malformed version message from etcd ${url.href}`))
                    .catch((e) => resolve(String(e?.message ?? e)))
                    .finally(() => clearTimeout(timer));
            });
            req.on("error", (e) => {
                clearTimeout(timer);
                resolve(e.message);
            });
        });
    }

    /** Ends open watches; requests in flight still finish or time out. */
    close(): void {
        for (const w of this.watches) w.close();
    }

    /**
     * A unary call with the token; one fresh authentication if etcd no longer accepts the token.
     * Each attempt carries the token read once for the call: a request sent without one (another
     * call just dropped it) is authorised by etcd as the TLS certificate's CN instead.
     */
    private async call(path: string, body: object): Promise<any> {
        const token = await this.tokenForRequest();
        try {
            return await this.failover((host) => this.request(host, path, body, token));
        } catch (e) {
            if (!(e instanceof EtcdError && e.tokenRejected && this.opts.user)) throw e;
            this.forgetToken(token);
            const fresh = await this.tokenForRequest();
            return this.failover((host) => this.request(host, path, body, fresh));
        }
    }

    /** Drops `rejected` unless another call already replaced it. */
    private forgetToken(rejected: string | undefined): void {
        if (this.token === rejected) this.token = undefined;
    }

    /** The token to send (undefined without a user); concurrent callers share one authentication, each a write through Raft. */
    private async tokenForRequest(): Promise<string | undefined> {
        if (!this.opts.user) return undefined;
        if (this.token) return this.token;
        this.authenticating ??= this.failover((host) => this.request(host, "/v3/auth/authenticate", { name: this.opts.user, password: String(this.opts.password ?? "") }))
            .then((body) => {
                this.token = body.token;
                return body.token as string;
            })
            .finally(() => {
                this.authenticating = undefined;
            });
        return this.authenticating;
    }

    /**
     * Tries each host once, starting with the last one that answered. A host that cannot be
     * reached, times out or says it is unavailable (no leader) passes the attempt on; an answer
     * from etcd, even an error, ends it.
     */
    private async failover<T>(attempt: (host: string) => Promise<T>): Promise<T> {
        const { hosts } = this.opts;
        const failures: string[] = [];
        // Concurrent calls move `current` while this one waits: read it once, or a host is tried twice and another never.
        const start = this.current;
        for (let i = 0; i < hosts.length; i++) {
            const index = (start + i) % hosts.length;
            try {
                const result = await attempt(hosts[index]);
                this.current = index;
                return result;
            } catch (e) {
                const retryable = e instanceof EtcdError && (e.details.transport || e.details.grpcCode === GRPC_UNAVAILABLE);
                if (!retryable) throw e;
                failures.push(`${hosts[index]}: ${e.message}`);
            }
        }
        throw new EtcdError(`etcd: no host answered (${failures.join("; ")})`, { transport: true });
    }

    private async request(host: string, path: string, body: object, token?: string): Promise<any> {
        const { res, settled } = await this.open(host, path, body, token);
        try {
            const parsed = await readJson(res);
            if (res.statusCode !== 200) throw errorFromBody(parsed, res.statusCode ?? 0);
            return parsed;
        } finally {
            settled();
        }
    }

    /**
     * Sends the POST and resolves with the response head. The attempt is aborted unless the
     * caller calls `settled` within timeoutMs of the start (unary calls: after the body arrived).
     */
    private open(host: string, path: string, body: object, token?: string, extraHeaders: Record<string, string> = {}): Promise<{ res: http.IncomingMessage; settled: () => void }> {
        const url = new URL(path, host);
        const secure = url.protocol === "https:";
        const payload = JSON.stringify(body);
        return new Promise((resolve, reject) => {
            const req = (secure ? https : http).request(url, {
                method: "POST",
                agent: secure ? this.agents.https : this.agents.http,
                ...(secure ? this.tlsName(url) : {}),
                headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...(token ? { authorization: token } : {}), ...extraHeaders },
            });
            const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
            req.on("response", (res) => resolve({ res, settled: () => clearTimeout(timer) }));
            req.on("error", (e) => {
                clearTimeout(timer);
                reject(new EtcdError(e.message, { transport: true }));
            });
            req.end(payload);
        });
    }
}

/** The whole body as JSON; etcd's plain-text refusals (like the CommonName one) become {message}. */
function readJson(res: http.IncomingMessage): Promise<any> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) => reject(new EtcdError(e.message, { transport: true })));
        res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            try {
                resolve(JSON.parse(text));
            } catch {
                resolve({ message: text.trim() || `HTTP ${res.statusCode}` });
            }
        });
    });
}
