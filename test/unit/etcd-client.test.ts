// The stand-ins' etcd client under concurrent calls, against fake etcd members on loopback:
// which host each attempt goes to and which token it carries.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EtcdClient } from "../../lab/standins/etcdClient";

interface Seen {
    path: string;
    authorization?: string;
}

/** `key` is the request's decoded `key` field, when it has one. */
type Handler = (path: string, auth: string | undefined, res: http.ServerResponse, nth: number, key?: string) => void;

const servers: http.Server[] = [];
afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A fake member answering with `handler`; records every request. */
async function member(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
    const seen: Seen[] = [];
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const auth = req.headers.authorization;
            seen.push({ path: req.url ?? "", authorization: auth });
            let key: string | undefined;
            try {
                const raw = JSON.parse(Buffer.concat(chunks).toString("utf8")).key;
                key = raw === undefined ? undefined : Buffer.from(raw, "base64").toString("utf8");
            } catch {
                key = undefined;
            }
            handler(req.url ?? "", auth, res, seen.length, key);
        });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A loopback port nothing listens on. */
async function refusedUrl(): Promise<string> {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    return `http://127.0.0.1:${port}`;
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
};
const unavailable = (res: http.ServerResponse) => json(res, 503, { code: 14, message: "etcdserver: request timed out" });
const putOk = (res: http.ServerResponse) => json(res, 200, { header: { revision: "7" } });

describe("EtcdClient failover", () => {
    it("a call tries every host once even when a concurrent call moves the starting host meanwhile", async () => {
        const dead = await refusedUrl();
        // The second member is slow only for its first request, then fails fast; the third answers.
        const flaky = await member((_p, _a, res, nth) => (nth === 1 ? setTimeout(() => unavailable(res), 300) : unavailable(res)));
        const good = await member((_p, _a, res) => putOk(res));
        const client = new EtcdClient({ hosts: [dead, flaky.url, good.url], verify: false, timeoutMs: 2000 });
        // Slow: dead, then flaky (300 ms); meanwhile the fast one goes dead → flaky → good and makes good current.
        const slow = client.put("/apisix/routes/a", "{}");
        await new Promise((r) => setTimeout(r, 50));
        const fast = client.put("/apisix/routes/b", "{}");
        await expect(fast).resolves.toMatchObject({ revision: 7 });
        await expect(slow).resolves.toMatchObject({ revision: 7 });
        // Each call asked the flaky member once: none was tried twice while good went untried.
        expect(flaky.seen).toHaveLength(2);
        expect(good.seen).toHaveLength(2);
    });
});

describe("EtcdClient tokens", () => {
    it("a retry on the next host carries the call's token, not one another call dropped meanwhile", async () => {
        const valid = new Set<string>();
        let issued = 0;
        /** One etcd: both members know the same tokens. */
        const answer = (path: string, auth: string | undefined, res: http.ServerResponse) => {
            if (path === "/v3/auth/authenticate") {
                const token = `token-${++issued}`;
                valid.add(token);
                // Authentication is a Raft write: slow enough for other calls to go on meanwhile.
                return void setTimeout(() => json(res, 200, { token }), 100);
            }
            // Without a token etcd authorises the TLS certificate's CN, here no user at all.
            if (!auth) return json(res, 403, { code: 7, message: "etcdserver: permission denied" });
            if (!valid.has(auth)) return json(res, 401, { code: 16, message: "etcdserver: invalid auth token" });
            putOk(res);
        };
        // The first member takes 50 ms to say it has no leader for key "slow", then the call moves on.
        const first = await member((path, auth, res, _n, key) => (key === "slow" ? void setTimeout(() => unavailable(res), 50) : answer(path, auth, res)));
        const second = await member((path, auth, res) => answer(path, auth, res));
        const client = new EtcdClient({ hosts: [first.url, second.url], user: "control-plane", password: "pw", verify: false, timeoutMs: 2000 });
        await client.put("warm-up", "{}");
        valid.clear(); // etcd forgets the token (a restarted member, an expired simple token)
        const slow = client.put("slow", "{}");
        await new Promise((r) => setTimeout(r, 10));
        // Rejected at once: this call drops the token and authenticates again while "slow" waits on the first member.
        const other = client.put("other", "{}");
        const results = await Promise.allSettled([slow, other]);
        expect(results.map((r) => (r.status === "rejected" ? String(r.reason) : "ok"))).toEqual(["ok", "ok"]);
        const tokenless = [...first.seen, ...second.seen].filter((s) => s.path !== "/v3/auth/authenticate" && !s.authorization);
        expect(tokenless).toEqual([]);
    });
});
