// The API7 v3 DP Manager as its gateways see it (API7 EE 3.2.16.3: the gateway docs and the chart):
// the etcd v3 JSON API that APISIX reads its configuration with, served on a TLS listener with a
// certificate of the control plane's own CA for `api7ee3-dp-manager`, to clients that present a
// certificate that CA issued (a gateway group's, from the dashboard) and to no one else. Gateways
// only read: writes are refused. The real DP Manager reads PostgreSQL; this one relays to an etcd
// that plays the database.
import http from "node:http";
import tls from "node:tls";
import https from "node:https";
import type { DpIdentity } from "./dpIdentity";

/** What a gateway may call: APISIX's start-time /version and its sync (range) and watch. */
const READ_PATHS = new Set(["/version", "/v3/kv/range", "/v3/watch"]);

export class DpManagerStandin {
    /** Each served request: the client certificate's CN and the path. */
    readonly served: { cn: string; path: string }[] = [];
    /** Each refused handshake's reason (an unknown or missing client certificate). */
    readonly refused: string[] = [];
    private server?: https.Server;

    constructor(
        private readonly pki: Pick<DpIdentity, "caCertificate" | "serverCertificate" | "serverKey">,
        /** The etcd that stands in for the control plane's database, e.g. http://127.0.0.71:2379. */
        private readonly backend: string,
    ) {}

    private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
        const path = (req.url ?? "/").split("?")[0];
        const cn = String((req.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? "");
        if (!READ_PATHS.has(path)) {
            res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ error: "the DP Manager serves gateways read-only", code: 7 }));
            return;
        }
        this.served.push({ cn, path });
        const up = http.request(new URL(path, this.backend), { method: req.method, headers: { "content-type": "application/json", ...(req.headers["grpc-metadata-hasleader"] ? { "grpc-metadata-hasleader": "true" } : {}) } }, (r) => {
            res.writeHead(r.statusCode ?? 502, { "content-type": r.headers["content-type"] ?? "application/json" });
            r.pipe(res);
        });
        up.on("error", (e) => (res.headersSent ? res.destroy() : res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: e.message }))));
        // A watch stream ends when the gateway goes away.
        res.on("close", () => up.destroy());
        req.pipe(up);
    }

    async listen(host: string, port: number): Promise<void> {
        const server = https.createServer(
            { cert: this.pki.serverCertificate, key: this.pki.serverKey, ca: this.pki.caCertificate, requestCert: true, rejectUnauthorized: true },
            (req, res) => this.handle(req, res),
        );
        server.on("tlsClientError", (e) => this.refused.push(e.message));
        await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen(port, host, () => resolve());
        });
        this.server = server;
    }

    close(): Promise<void> {
        const s = this.server;
        if (!s) return Promise.resolve();
        s.closeAllConnections();
        return new Promise((r) => s.close(() => r()));
    }
}
