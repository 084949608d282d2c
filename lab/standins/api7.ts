// Stand-in for the API7 EE 3.2.16.3 control plane in the HA lab: the dashboard or the DP Manager,
// from its rendered config.yaml, over the control plane's database.
//
//   npx tsx lab/standins/api7.ts --program dashboard|dp-manager --root DIR [--config PATH]
//
// As strict as the real programs where the lab looks: the file must satisfy the api7-v3 contract
// (components/flavors), the database named by `database.dsn` must answer at start or the program
// exits (as a Go service that cannot open its database does; Docker restarts it), the dashboard
// serves HTTPS on `server.tls` with the files it names and plain HTTP only where `server.listen` is
// not disabled (the chart's keys at 3.2.16), and the DP Manager serves only gateways whose client
// certificate the control plane's CA issued. The
// database is PostgreSQL in API7; the lab stands an etcd in for it at the DSN's host and port
// (its keys: api7Dashboard.ts `DB`), so the DP Manager can relay the gateways' etcd reads and
// watches to it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse } from "yaml";
import { FLAVOR_CONTRACTS, checkFile, formatViolations } from "../../components/flavors/contracts";
import { Api7DashboardStandin, readPki } from "./api7Dashboard";
import { DpManagerStandin } from "./dpManager";
import { EtcdClient } from "./etcdClient";
import { exitOnSignals, log, runStandin, StartError } from "./process";


type Program = "dashboard" | "dp-manager";

export interface Api7ServerConfig {
    /** The plain listener; absent when `server.listen.disable` is set. */
    listen?: { host: string; port: number };
    /** The TLS listener (`server.tls`): the dashboard's with its certificate files, the DP Manager's (mTLS) with its CA's. */
    tls?: { host: string; port: number; certFile?: string; keyFile?: string };
    /** The database's address, from `database.dsn`. */
    database: { host: string; port: number };
}

/** Reads and checks the program's config.yaml; throws StartError naming what the program would refuse. */
export function loadApi7Config(program: Program, root: string, configPath = FLAVOR_CONTRACTS["api7-v3"].files[program]!): Api7ServerConfig {
    const doc = parse(readFileSync(join(root, configPath), "utf8")) as Record<string, any>;
    const violations = checkFile("api7-v3", program, configPath, doc);
    if (violations.length) throw new StartError(`refusing to start: the api7-v3 contract rejects ${configPath}:\n${formatViolations(violations)}`);
    const dsn = new URL(String(doc.database.dsn));
    const address = (a: { host?: string; port?: number } | undefined, what: string) => {
        if (!a || typeof a.port !== "number") throw new StartError(`${configPath}: ${what} needs a port`);
        return { host: a.host ?? "0.0.0.0", port: a.port };
    };
    const tls = doc.server?.tls && doc.server.tls.disable !== true ? doc.server.tls : undefined;
    return {
        listen: doc.server?.listen?.disable === true ? undefined : address(doc.server?.listen, "server.listen"),
        tls: tls ? { ...address(tls, "server.tls"), certFile: tls.cert_file || undefined, keyFile: tls.key_file || undefined } : undefined,
        database: { host: dsn.hostname, port: Number(dsn.port || 5432) },
    };
}

async function main(): Promise<void> {
    const { values } = parseArgs({ options: { program: { type: "string" }, root: { type: "string", default: "/" }, config: { type: "string" } } });
    const program = values.program as Program;
    if (program !== "dashboard" && program !== "dp-manager") throw new StartError(`--program: expected dashboard or dp-manager, got ${values.program}`);
    const config = loadApi7Config(program, values.root!, values.config);
    const dbUrl = `http://${config.database.host}:${config.database.port}`;
    const db = new EtcdClient({ hosts: [dbUrl], verify: false, timeoutMs: 2000 });
    try {
        await db.range("api7/", { prefix: true });
    } catch (e) {
        throw new StartError(`failed to connect to the database at ${config.database.host}:${config.database.port}: ${e instanceof Error ? e.message : String(e)}`);
    }
    let close: () => Promise<void>;
    if (program === "dashboard") {
        const dashboard = new Api7DashboardStandin(db, log);
        const { listen, tls } = config;
        if (listen) log(`dashboard: listening on ${await dashboard.listen(listen.host, listen.port)}, database ${dbUrl}`);
        if (tls) {
            if (!tls.certFile || !tls.keyFile) throw new StartError("dashboard: server.tls needs cert_file and key_file");
            const files = { cert: readFileSync(join(values.root!, tls.certFile), "utf8"), key: readFileSync(join(values.root!, tls.keyFile), "utf8") };
            log(`dashboard: listening on ${await dashboard.listen(tls.host, tls.port, files)}, database ${dbUrl}`);
        }
        if (!listen && !tls) throw new StartError("dashboard: both server.listen and server.tls are disabled");
        close = () => dashboard.close();
    } else {
        if (!config.tls) throw new StartError("dp-manager: server.tls is not set: gateways connect with mTLS only");
        const dpm = new DpManagerStandin(await readPki(db), dbUrl);
        await dpm.listen(config.tls.host, config.tls.port);
        log(`dp-manager: mTLS on ${config.tls.host}:${config.tls.port}, relaying gateway reads to the database ${dbUrl}`);
        close = () => dpm.close();
    }
    exitOnSignals(close);
}

if (require.main === module) runStandin(main);
