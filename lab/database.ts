// API7 v3's control-plane database in the lab. API7 keeps its configuration in PostgreSQL; the
// lab runs Debian's etcd in a namespace of its own at the address the stack's `databaseDsn`
// names, and the dashboard and DP Manager stand-ins keep their state in it (api7Dashboard.ts `DB`).
// The lab also plays the two steps around the first `pulumi up`: the control plane creating its
// CA, and `npm run api7:identity` fetching the gateway group's certificate from it (tested on its
// own in test/unit/api7-identity.test.ts), so one deployment already has its gateways.
import { randomBytes } from "node:crypto";
import { type ControlPlanePki, DB, initDatabase } from "./standins/api7Dashboard";
import { identitySets, type DpIdentity } from "./standins/dpIdentity";
import { HOST_PROGRAMS } from "./programs";
import { execIn, type RunResult } from "./processes";
import { NS_PREFIX } from "./netns";

export const DATABASE_NS = `${NS_PREFIX}database`;
/** PostgreSQL's port, where the DSN points. */
export const DATABASE_PORT = 5432;

export interface LabDatabase {
    address: string;
    port: number;
    ns: string;
    pki: ControlPlanePki;
    /** `--set` arguments: the DSN and the gateway group's identity. */
    sets: string[];
}

/** A database at `address` holding `identity`'s CA, whose client certificate the gateways get. */
export function planDatabase(address: string, identity: DpIdentity): LabDatabase {
    const dsn = `postgres://api7:${randomBytes(12).toString("hex")}@${address}:${DATABASE_PORT}/api7?sslmode=verify-full`;
    return { address, port: DATABASE_PORT, ns: DATABASE_NS, pki: identity, sets: [`controlPlane.databaseDsn=${dsn}`, ...identitySets(identity)] };
}

const endpoint = (db: LabDatabase) => `--endpoints=http://${db.address}:${db.port}`;

/** A one-member etcd on the DSN's address; its peer port stays on loopback. */
export function databaseArgv(db: LabDatabase, dataDir: string): string[] {
    const client = `http://${db.address}:${db.port}`;
    return [HOST_PROGRAMS.etcd, "--name=lab-database", `--data-dir=${dataDir}`, `--listen-client-urls=${client}`, `--advertise-client-urls=${client}`,
        "--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380", "--initial-cluster=lab-database=http://127.0.0.1:2380"];
}

function etcdctl(db: LabDatabase, args: string[], timeoutMs: number, input?: string): Promise<RunResult> {
    return execIn(db.ns, [HOST_PROGRAMS.etcdctl, endpoint(db), ...args], { timeoutMs, input });
}

export async function databaseHealthy(db: LabDatabase, timeoutMs: number): Promise<boolean> {
    return (await etcdctl(db, ["endpoint", "health"], timeoutMs)).code === 0;
}

/** What the control plane holds before anyone logs in. Values go on stdin: the CA key stays off command lines. */
export async function seedDatabase(db: LabDatabase, timeoutMs: number): Promise<void> {
    await initDatabase(
        {
            async put(key, value) {
                const r = await etcdctl(db, ["put", key], timeoutMs, value);
                if (r.code !== 0) throw new Error(`seeding the lab database (${key}) failed: ${r.out}`);
                return { revision: 0, created: true };
            },
        },
        db.pki,
    );
}

/** Route ids the database holds under `<gateway prefix>/routes/<idPrefix>`. */
export async function databaseRouteIds(db: LabDatabase, idPrefix: string, timeoutMs: number): Promise<Set<string>> {
    const prefix = `${DB.gatewayPrefix}/routes/`;
    const r = await etcdctl(db, ["get", `${prefix}${idPrefix}`, "--prefix", "--keys-only"], timeoutMs);
    if (r.code !== 0) throw new Error(`etcdctl get on the lab database failed: ${r.out}`);
    return new Set(r.out.split("\n").filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length)));
}
