// The lab's client, run inside the client namespace: it plays the API consumer (steady reads
// through the gateway balancer), the operator (route writes through the control-plane balancer)
// and the upstream service the routes point at. The driver talks to it with one JSON object per
// line on stdin/stdout. Every loop is bounded by a request count and a duration.
import http from "node:http";
import https from "node:https";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

export interface RequestRecord {
    /** Start and end, ms since the epoch (fractional). */
    t0: number;
    t1: number;
    ok: boolean;
    status: number;
    error?: string;
}

export interface WriteRecord extends RequestRecord {
    id: string;
    seq: number;
}

export interface LoadSpec {
    reads: { url: string; concurrency: number; maxRequests: number };
    /** `auth`: the headers that authenticate a write (an admin key, or a console's token). */
    writes?: { url: string; auth: Record<string, string>; idPrefix: string; upstream: string; intervalMs: number; maxRequests: number } & ServerTrust;
    maxDurationMs: number;
}

export interface LoadResult {
    reads: RequestRecord[];
    writes: WriteRecord[];
}

export type AgentCommand =
    | { op: "upstream"; host: string; port: number }
    | ({ op: "request"; method: string; url: string; headers?: Record<string, string>; body?: string; timeoutMs: number } & ServerTrust)
    | { op: "load-start"; spec: LoadSpec }
    | { op: "load-stop" };

const now = () => performance.timeOrigin + performance.now();

/** How an https:// server is verified: against `ca` (PEM), by `servername` if given, else the URL's host. */
export interface ServerTrust {
    ca?: string;
    servername?: string;
}

/** One request; an https:// URL's certificate is verified as `ServerTrust` says. */
export function request(
    method: string,
    url: string,
    opts: { headers?: Record<string, string>; body?: string; timeoutMs: number; agent?: http.Agent } & ServerTrust,
): Promise<{ status: number; body: string; error?: string }> {
    return new Promise((resolve) => {
        const secure = url.startsWith("https:");
        const trust = secure ? { ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.servername ? { servername: opts.servername } : {}) } : {};
        const options = { method, headers: opts.headers, agent: opts.agent, timeout: opts.timeoutMs, ...trust };
        const req = (secure ? https : http).request(url, options, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            res.on("error", (e) => resolve({ status: 0, body, error: e.message }));
        });
        req.on("timeout", () => req.destroy(new Error(`timeout after ${opts.timeoutMs} ms`)));
        req.on("error", (e) => resolve({ status: 0, body: "", error: e.message }));
        req.end(opts.body);
    });
}

const REQUEST_TIMEOUT_MS = 10_000;

class Load {
    private stopped = false;
    private readonly result: LoadResult = { reads: [], writes: [] };
    private readonly done: Promise<unknown>;

    constructor(spec: LoadSpec) {
        const deadline = now() + spec.maxDurationMs;
        const going = () => !this.stopped && now() < deadline;
        const agent = new http.Agent({ keepAlive: true, maxSockets: spec.reads.concurrency });
        let reads = 0;
        const reader = async () => {
            while (going() && reads < spec.reads.maxRequests) {
                reads++;
                const t0 = now();
                const r = await request("GET", spec.reads.url, { timeoutMs: REQUEST_TIMEOUT_MS, agent });
                this.result.reads.push({ t0, t1: now(), ok: r.status === 200, status: r.status, ...(r.error ? { error: r.error } : {}) });
            }
        };
        const writes = spec.writes;
        const writer = async () => {
            if (!writes) return;
            for (let seq = 1; going() && seq <= writes.maxRequests; seq++) {
                const id = `${writes.idPrefix}${seq}`;
                const body = JSON.stringify({ uri: `/lab/w/${id}`, desc: `seq ${seq}`, upstream: { type: "roundrobin", nodes: { [writes.upstream]: 1 } } });
                const t0 = now();
                const r = await request("PUT", `${writes.url}/${id}`, {
                    headers: { "content-type": "application/json", ...writes.auth },
                    body,
                    timeoutMs: REQUEST_TIMEOUT_MS,
                    ca: writes.ca,
                    servername: writes.servername,
                });
                const ok = r.status === 200 || r.status === 201;
                this.result.writes.push({ id, seq, t0, t1: now(), ok, status: r.status, ...(r.error ? { error: r.error } : {}) });
                await new Promise((res) => setTimeout(res, writes.intervalMs));
            }
        };
        this.done = Promise.all([...Array.from({ length: spec.reads.concurrency }, reader), writer()]).finally(() => agent.destroy());
    }

    async stop(): Promise<LoadResult> {
        this.stopped = true;
        await this.done;
        return this.result;
    }
}

async function main() {
    let load: Load | undefined;
    const reply = (id: unknown, body: unknown) => process.stdout.write(JSON.stringify({ id, ...(body as object) }) + "\n");
    const handle = async (cmd: AgentCommand): Promise<object> => {
        switch (cmd.op) {
            case "upstream":
                await new Promise<void>((resolve, reject) => {
                    const srv = http.createServer((req, res) => {
                        req.resume();
                        res.setHeader("content-type", "application/json");
                        res.end(JSON.stringify({ upstream: "lab", method: req.method, path: req.url }));
                    });
                    srv.once("error", reject);
                    srv.listen(cmd.port, cmd.host, () => resolve());
                });
                return {};
            case "request":
                return request(cmd.method, cmd.url, cmd);
            case "load-start":
                if (load) throw new Error("load already running");
                load = new Load(cmd.spec);
                return {};
            case "load-stop": {
                if (!load) throw new Error("no load running");
                const result = await load.stop();
                load = undefined;
                return { result };
            }
        }
    };
    for await (const line of createInterface({ input: process.stdin })) {
        if (!line.trim()) continue;
        const { id, ...cmd } = JSON.parse(line) as AgentCommand & { id: number };
        // Commands run concurrently: a request stuck on a fault must not hold up the next one.
        handle(cmd).then(
            (body) => reply(id, { ok: true, ...body }),
            (e: unknown) => reply(id, { ok: false, error: e instanceof Error ? e.message : String(e) }),
        );
    }
    process.exit(0);
}

if (require.main === module) void main();
