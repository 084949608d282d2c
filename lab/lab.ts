// The running lab: a stack's deployment started in network namespaces, with the controls the
// drills need (kill, stop, restart and wait for a service; the etcd leader; the keys in etcd)
// and the client agent. Setup follows `pulumi up`'s order: etcd (API7 v3: the lab's database), its
// bootstrap task, control plane and gateways (each waited for on its own health check), then the
// balancers; API7 v3's gateways reach the DP Manager through the control-plane balancer, so there
// the balancers start before them.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { createInterface } from "node:readline";
import { etcdPrefix } from "../components/render/etcd";
import { formatIpv4, parseCidr, parseIpv4 } from "../components/config/net";
import { controlPlaneUrl } from "../components/topology/ports";
import type { AgentCommand, LoadResult, LoadSpec, ServerTrust } from "./agent";
import { previewPlatform } from "../scripts/preview-offline";
import { databaseArgv, databaseHealthy, databaseRouteIds, planDatabase, seedDatabase, type LabDatabase } from "./database";
import { issueOrgCertificate } from "./standins/orgPki";
import { issueDpIdentity } from "./standins/dpIdentity";
import { isImageFactsStep, labDeployment, labSubnet, type LabDeployment, type LabService } from "./deployment";
import { planChange, planDestroy, type ChangePlan, type PlannedChange } from "./change";
import { statefulRealState } from "./realState";
import type { RecordedResource } from "../scripts/lib/mockEngine";
import { ROLLOUT_CONTAINER_ENV, reloadFileVar } from "../components/targets/docker";
import { attachToLabNetwork, CLIENT_NS, createLabNetwork, destroyLabNetwork, namespacePids, nodeNamespace } from "./netns";
import { crashProcesses, execIn, Supervisor, type RunResult } from "./processes";
import { pinnedHostKey } from "../components/config/knownHosts";
import { dockerShim, healthCheckArgv, SUDO_SHIM, sshShim, HOST_PROGRAMS, LAB_PID_FILE, prepareService, serviceKind, type Launch } from "./programs";
import { holdsNow, VipWatch } from "./vips";
import { IpvsWatch } from "./ipvs";
import type { TopologyVip } from "../components/topology/types";

const REPO = resolve(__dirname, "..");
export const AGENT_SCRIPT = join(REPO, "lab", "agent.ts");
/** Where the routes the drills use send traffic: a server in the client namespace. */
const UPSTREAM_PORT = 18080;

/**
 * How much slower than real hardware the lab's machine runs: its own setup and probe timeouts are
 * multiplied by it (never a drill's bounds, which come from the stack). The VM runner sets it, as
 * its CPUs are emulated.
 */
export const SLOWDOWN = Math.max(1, Number(process.env.GATEWAY_HA_LAB_SLOWDOWN ?? 1) || 1);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true or `timeoutMs` passes; returns the time it took. */
export async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>, everyMs = 200): Promise<number> {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
        if (await probe()) return Date.now() - start;
        await sleep(everyMs);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The highest host address of the subnet no node uses: the client's. */
export function clientAddress(subnet: string, used: string[]): string {
    const c = parseCidr(subnet);
    if (!c) throw new Error(`bad subnet ${subnet}`);
    const taken = new Set(used);
    const size = 2 ** (32 - c.prefix);
    for (let i = size - 2; i > 0; i--) {
        const a = formatIpv4(c.network + i);
        if (!taken.has(a)) return a;
    }
    throw new Error(`no free address in ${subnet} for the lab client`);
}

interface Running {
    svc: LabService;
    ns: string;
    root: string;
    launch: Launch;
}

/** The changed program previewed again once a step printed `stdout` (the engine resolves that output). */
export type Refresh = (step: string, stdout: string) => Promise<LabDeployment>;

/** One `pulumi up` an update drill applies: the config changes so far, the changed stack's deployment and the plan to it. */
export interface LabChange {
    sets: string[];
    after: LabDeployment;
    plan: ChangePlan;
    refresh?: Refresh;
    wipe?: string;
    /** `pulumi destroy --exclude-protected`: the one further step (then) is `pulumi up` with the same config. */
    destroy?: true;
}

export class Lab {
    readonly services = new Map<string, Running>();
    readonly supervisor: Supervisor;
    readonly client: string;
    private agent?: ChildProcessWithoutNullStreams;
    private readonly pending = new Map<number, (v: Record<string, unknown>) => void>();
    private seq = 0;

    /** API7 v3: the gateway group's admin key, from the dashboard once it runs. */
    private api7AdminKey = "";
    /** API7 v2: the console's login token. */
    private consoleToken = "";

    private constructor(
        /** What runs now: an update drill moves it to the changed stack's deployment. */
        public d: LabDeployment,
        readonly workDir: string,
        readonly database?: LabDatabase,
    ) {
        this.client = clientAddress(d.subnet, d.nodes.map((n) => n.address));
        mkdirSync(join(workDir, "logs"), { recursive: true, mode: 0o700 });
        this.supervisor = new Supervisor(join(workDir, "logs"));
    }

    /** With `changes`, the change an update drill applies: the changed stack's deployment and the plan to it. */
    change?: LabChange;
    /** What runs after `change`, in order: each further `pulumi up` (--then), or a destroy and the `up` after it (--destroy). */
    then: string[] = [];
    private thenPlans: ((from: LabDeployment) => Promise<LabChange>)[] = [];

    /** The `k`th step after the change, planned from what runs now. */
    async planThen(k: number): Promise<LabChange> {
        return this.thenPlans[k](this.d);
    }

    static async create(args: {
        stack: string;
        configFile?: string;
        sets: string[];
        workDir: string;
        changes?: string[];
        replace?: string[];
        wipe?: string;
        then?: string[];
        destroy?: boolean;
        orgCertificate?: string;
    }): Promise<Lab> {
        // An operator's certificate from an organisation's CA (root, intermediate, certificate), as `--set` would give it.
        let sets = args.orgCertificate ? [...args.sets, `controlPlane.certificate=${JSON.stringify(issueOrgCertificate(args.orgCertificate))}`] : args.sets;
        let database: LabDatabase | undefined;
        const { spec, topology } = previewPlatform(args).platform;
        if (spec.flavor === "api7-v3") {
            // The database takes the free address below the client's.
            const subnet = labSubnet(spec, topology);
            const used = topology.nodes.map((n) => n.address);
            database = planDatabase(clientAddress(subnet, [...used, clientAddress(subnet, used)]), issueDpIdentity());
            sets = [...sets, ...database.sets];
        }
        // One state for every preview: what a change leaves alone keeps its passwords, keys and certificates.
        // Steps' stdout as the lab's runs printed it, where it differs from the preview's assumption.
        const observed = new Map<string, string>();
        const state = statefulRealState(observed);
        const d = await labDeployment({ ...args, sets }, state);
        for (const s of d.services) serviceKind(d, s); // refuse an unsupported stack before touching the network
        const replace = args.replace ?? [];
        const planTo = async (changes: string[], from: LabDeployment, replaced: string[] = []): Promise<LabChange> => {
            const changed = { ...args, sets: [...sets, ...changes] };
            const after = await labDeployment(changed, state, { again: true });
            for (const s of after.services) serviceKind(after, s);
            const refresh: Refresh = (step, stdout) => {
                observed.set(step, stdout);
                return labDeployment(changed, state, { again: true });
            };
            return { sets: [...changes, ...replaced.map((r) => `--replace ${r}`)], after, plan: planChange(from.record!, after.record!, { replace: replaced }), refresh };
        };
        const changes = args.changes ?? [];
        // Each --then adds its change to the ones before it.
        const thenPlans = (args.then ?? []).map((_, k) => (from: LabDeployment) => planTo([...changes, ...args.then!.slice(0, k + 1)], from));
        const then = [...(args.then ?? [])];
        let change: LabChange | undefined = changes.length || replace.length ? { ...(await planTo(changes, d, replace)), ...(args.wipe ? { wipe: args.wipe } : {}) } : undefined;
        if (args.destroy) {
            let destroyed: ChangePlan | undefined;
            const destroy = async (from: LabDeployment): Promise<LabChange> => {
                // What stays in the state runs nothing: the protected resources are volumes, passwords and records.
                const { plan, kept } = planDestroy(from.record!);
                destroyed = plan;
                return { sets: ["destroy --exclude-protected"], after: { ...from, services: [], tasks: [], record: kept }, plan, destroy: true };
            };
            const reup = (from: LabDeployment) => {
                // The state forgets what the destroy deleted: created again, it gets new values (the CA, keys, unprotected passwords).
                state.forget(destroyed!.changes.map((c) => c.key));
                for (const c of destroyed!.changes) observed.delete(c.name);
                return planTo(changes, from);
            };
            // With --change: that change first, then the destroy, then the up.
            if (change) thenPlans.push(destroy, reup), then.push("destroy --exclude-protected", "up");
            else (change = await destroy(d)), thenPlans.push(reup), then.push("up");
        }
        if (d.spec.loadBalancer.kind === "lvs" && !existsSync("/proc/net/ip_vs")) throw new Error("kind lvs needs IPVS in the kernel (/proc/net/ip_vs; modprobe ip_vs), which this machine lacks");
        rmSync(args.workDir, { recursive: true, force: true });
        mkdirSync(args.workDir, { recursive: true, mode: 0o700 });
        const lab = new Lab(d, args.workDir, database);
        lab.change = change;
        lab.then = then;
        lab.thenPlans = thenPlans;
        return lab;
    }

    get spec() {
        return this.d.spec;
    }
    /** Where clients reach a side: the VIP that carries it, else the balancer node. */
    entryHost(side: "data-plane" | "control-plane"): string {
        const vip = this.d.vips.find((v) => v.protects === side) ?? this.d.vips.find((v) => v.protects === "load-balancer");
        if (vip) return vip.address;
        const lb = this.d.nodes.find((n) => n.roles.includes("load-balancer"));
        if (!lb) throw new Error(`no VIP and no balancer node carries the ${side}`);
        return lb.address;
    }
    /** Whether a balancer (HAProxy or nginx) spreads requests over the gateways and retries on another. */
    get gatewaysBalanced(): boolean {
        return !this.d.vips.some((v) => v.protects === "data-plane") && this.d.nodes.some((n) => n.roles.includes("load-balancer"));
    }
    get gatewayUrl(): string {
        return `http://${this.entryHost("data-plane")}:${this.spec.dataPlane.httpPort}`;
    }
    /** The control plane's entry point: https:// where it serves TLS (verify as managementTls says). */
    get controlPlaneUrl(): string {
        return controlPlaneUrl(this.spec, this.entryHost("control-plane"));
    }
    get adminUrl(): string {
        return `${this.controlPlaneUrl}/apisix/admin/routes`;
    }
    /**
     * How the control plane's entry point is verified: against managementCaCert, by the name an
     * operator's certificate carries (controlPlane.certificate.host; the lab connects to the entry
     * address, as a client whose DNS points the name there), else by the address.
     */
    get managementTls(): ServerTrust {
        const ca = (this.d.outputs.managementCaCert as string | undefined) || undefined;
        const host = this.spec.controlPlane.certificate?.host;
        return { ca, ...(host && parseIpv4(host) === undefined ? { servername: host } : {}) };
    }
    /** The headers a route write authenticates with: APISIX's admin key, API7 v3's group admin key, the API7 v2 console's token. */
    get adminAuth(): Record<string, string> {
        if (this.spec.flavor === "api7-v2") return { authorization: this.consoleToken };
        return { "x-api-key": this.database ? this.api7AdminKey : (this.d.outputs.adminKey as string) };
    }
    get upstream(): string {
        return `${this.client}:${UPSTREAM_PORT}`;
    }

    byService(service: string): LabService[] {
        return this.d.services.filter((s) => s.service === service);
    }
    onNode(node: string): LabService[] {
        return this.d.services.filter((s) => s.node === node);
    }

    /** Network, files, processes, bootstrap; then the client and the route the drills read. */
    async setUp(log: (s: string) => void): Promise<void> {
        const { d, workDir } = this;
        const database = this.database ? [{ ns: this.database.ns, address: this.database.address }] : [];
        const attachments = [...d.nodes.map((n) => ({ ns: nodeNamespace(n.name), address: n.address })), { ns: CLIENT_NS, address: this.client }, ...database];
        createLabNetwork(attachments, Number(d.subnet.split("/")[1]));
        this.switchPorts = attachments.length;
        for (const n of d.nodes) this.attached.set(n.name, n.address);
        const https = this.httpsCertificate();
        for (const svc of d.services) {
            const root = join(workDir, "nodes", svc.node, svc.service);
            this.services.set(svc.container, { svc, ns: nodeNamespace(svc.node), root, launch: prepareService(d, svc, { root, ...https }) });
        }
        this.writeShim();

        const phase = async (what: string, svcs: LabService[]) => {
            if (svcs.length === 0) return;
            for (const s of svcs) this.start(s);
            const ms = await Promise.all(svcs.map((s) => this.waitHealthyRestarting(s, log)));
            log(`${what}: ${svcs.length} started and healthy in ${Math.max(0, ...ms)} ms`);
        };
        if (this.database) await this.startDatabase(log);
        await phase("etcd", this.byRole("etcd"));
        for (const t of d.tasks) {
            const r = await this.runTask(t.name);
            if (r.code !== 0) throw new Error(`task ${t.name} failed (exit ${r.code}):\n${r.out}`);
            log(`task ${t.name}: exit 0 in ${r.ms} ms`);
        }
        if (this.database) {
            await phase("control plane", this.byRole("control-plane"));
            await phase("balancers", this.byRole("load-balancer"));
            await phase("gateways", this.byRole("data-plane"));
        } else {
            await phase("control plane and gateways", [...this.byRole("control-plane"), ...this.byRole("data-plane")]);
            await phase("balancers", this.byRole("load-balancer"));
        }
        // With preempt, a lower-priority node whose check passed first holds the VIP until its
        // master's master-down timer runs out, then the master takes it and resets every
        // connection the first holder carried: a drill must not start before that move.
        const preempt = !this.spec.loadBalancer.keepalived.nopreempt;
        for (const vip of d.vips) {
            const settled = () => (preempt ? this.vipHolders(vip).join(",") === vip.master : this.vipHolders(vip).length === 1);
            const ms = await waitFor(`VIP ${vip.name} (${vip.address}) to be held by ${preempt ? `its master ${vip.master}` : "one node"}`, 30_000 * SLOWDOWN, async () => settled());
            log(`VIP ${vip.name} ${vip.address}: held by ${this.vipHolders(vip).join(",")} after ${ms} ms more`);
        }

        await this.startAgent();
        await this.agentCall({ op: "upstream", host: this.client, port: UPSTREAM_PORT });
        if (this.database) await this.fetchApi7AdminKey(log);
        if (this.spec.flavor === "api7-v2") await this.consoleLogin(log);
        const put = await this.putRoute("lab-echo", "/lab/echo");
        if (put.status !== 200 && put.status !== 201) throw new Error(`writing the lab route through the control-plane balancer failed: ${put.status} ${put.error ?? put.body}`);
        const ms = await waitFor("the lab route to be served through the gateway balancer", 20_000 * SLOWDOWN, async () => (await this.get("/lab/echo")).status === 200);
        log(`route written through the control-plane balancer, served through the gateway balancer after ${ms} ms`);
    }

    private async startDatabase(log: (s: string) => void): Promise<void> {
        const db = this.database!;
        this.supervisor.start("lab-database", db.ns, databaseArgv(db, join(this.workDir, "database")), {}, REPO);
        const ms = await waitFor("the lab database", 30_000 * SLOWDOWN, () => databaseHealthy(db, 5000 * SLOWDOWN), 150);
        await seedDatabase(db, 10_000 * SLOWDOWN);
        log(`database (an etcd standing in for PostgreSQL) at ${db.address}:${db.port}: healthy in ${ms} ms, seeded with the control plane's CA`);
    }

    /**
     * As an operator would: the stack's admin password over the vendor's login (as `api7:identity`
     * does), then the gateway group's admin key for the Admin API, through the control-plane balancer.
     */
    private async fetchApi7AdminKey(log: (s: string) => void): Promise<void> {
        const base = this.controlPlaneUrl;
        const admin = this.d.outputs.dashboardAdmin as { user: string; password: string };
        const call = async (method: string, path: string, password: string, body?: unknown) => {
            const r = (await this.agentCall({
                op: "request",
                method,
                url: `${base}${path}`,
                headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(`${admin.user}:${password}`).toString("base64")}` },
                body: body === undefined ? undefined : JSON.stringify(body),
                timeoutMs: 10_000 * SLOWDOWN,
                ...this.managementTls,
            })) as unknown as { status: number; body: string };
            if (r.status !== 200) throw new Error(`dashboard ${method} ${path}: ${r.status} ${r.body}`);
            return JSON.parse(r.body) as { value?: { key?: string }; list?: { id: string; short_id: string }[] };
        };
        // The dashboards have no health check: the balancer finds them up after `rise` checks.
        const answers = async () => {
            try {
                return Boolean(await call("GET", "/api/gateway_groups", "admin"));
            } catch (e) {
                if (e instanceof Error && / 503 /.test(e.message)) return false;
                throw e;
            }
        };
        await waitFor("a dashboard behind the control-plane balancer", 30_000 * SLOWDOWN, answers, 250);
        await call("PUT", "/api/password", "admin", { old_password: "admin", new_password: admin.password });
        const group = (await call("GET", "/api/gateway_groups", admin.password)).list?.find((g) => g.short_id === this.spec.dataPlane.gatewayGroup);
        if (!group) throw new Error(`the dashboard has no gateway group ${this.spec.dataPlane.gatewayGroup}`);
        this.api7AdminKey = (await call("PUT", `/api/gateway_groups/${group.id}/admin_key`, admin.password)).value?.key ?? "";
        log(`dashboard: admin password set, admin key of gateway group ${this.spec.dataPlane.gatewayGroup} issued`);
    }

    /** The API7 v2 console's login (the stack's dashboardAdmin), through the control-plane balancer. */
    private async consoleLogin(log: (s: string) => void): Promise<void> {
        const admin = this.d.outputs.dashboardAdmin as { user: string; password: string };
        const url = `${this.controlPlaneUrl}/apisix/admin/user/login`;
        await waitFor("the console to log the stack's admin in through the control-plane balancer", 30_000 * SLOWDOWN, async () => {
            const r = (await this.agentCall({ op: "request", method: "POST", url, headers: { "content-type": "application/json" }, body: JSON.stringify({ username: admin.user, password: admin.password }), timeoutMs: 10_000 * SLOWDOWN, ...this.managementTls })) as unknown as { status: number; body: string };
            // The console has no health check: the balancer finds it up after `rise` checks.
            if (r.status === 503) return false;
            if (r.status !== 200) throw new Error(`console login: ${r.status} ${r.body}`);
            this.consoleToken = (JSON.parse(r.body) as { data: { token: string } }).data.token;
            return true;
        }, 250);
        log(`console: logged in as ${admin.user}`);
    }

    /** The lab's `docker` for steps and tasks, for the services it runs now. */
    private writeShim(): void {
        const bin = join(this.workDir, "bin");
        mkdirSync(bin, { recursive: true });
        // etcdctl's 2 s dial and 5 s command timeouts are client defaults, not the stack's: they stretch with the machine.
        const etcdctlFlags: Record<string, string[]> = SLOWDOWN > 1 ? { etcdctl: [`--dial-timeout=${2 * SLOWDOWN}s`, `--command-timeout=${5 * SLOWDOWN}s`] } : {};
        const containers = [...this.services.values()].map((r) => ({ container: r.svc.container, ns: r.ns, root: r.root, healthCheck: healthCheckArgv(r.svc, r.root) }));
        // Replaced, not rewritten: a step may be running the shim right now (writing it would fail with ETXTBSY).
        const put = (name: string, content: string) => {
            const next = join(bin, `${name}.${process.pid}.new`);
            writeFileSync(next, content, { mode: 0o755 });
            chmodSync(next, 0o755);
            renameSync(next, join(bin, name));
        };
        put("docker", dockerShim(containers, etcdctlFlags));
        // The ssh target's steps reach the hosts with ssh and sudo: here the lab's hosts are this machine.
        if (this.spec.target === "ssh") {
            const hosts = this.d.nodes.flatMap((n) => {
                const c = this.spec.nodes.find((x) => x.name === n.name);
                const port = c?.sshPort ?? 22;
                const hostKey = pinnedHostKey(this.spec.ssh.knownHosts ?? [], n.address, port);
                return c?.sshUser && hostKey ? [{ address: n.address, port, user: c.sshUser, hostKey }] : [];
            });
            put("ssh", sshShim(hosts));
            put("sudo", SUDO_SHIM);
        }
    }

    /** Nodes on the lab's network, with their addresses; switch ports used so far. */
    private readonly attached = new Map<string, string>();
    private switchPorts = 0;

    /**
     * A service's container as `pulumi up` would create it now: its files, its command line. A node
     * the change adds joins the lab's network first, as its Docker container joins the stack's network.
     */
    private install(d: LabDeployment, svc: LabService): void {
        const node = d.nodes.find((n) => n.name === svc.node)!;
        const at = this.attached.get(node.name);
        if (at === undefined) {
            attachToLabNetwork({ ns: nodeNamespace(node.name), address: node.address }, this.switchPorts++, Number(d.subnet.split("/")[1]));
            this.attached.set(node.name, node.address);
        } else if (at !== node.address) {
            throw new Error(`${svc.container}: its node ${svc.node} moved from ${at} to ${node.address}; addresses are stable, so the lab does not move nodes`);
        }
        const root = join(this.workDir, "nodes", svc.node, svc.service);
        this.services.set(svc.container, { svc, ns: nodeNamespace(svc.node), root, launch: prepareService(d, svc, { root, ...this.httpsCertificate() }) });
        this.writeShim();
    }

    /**
     * Applies a planned change to the running lab as `pulumi up` would (change.ts): every resource
     * once its dependencies are done, independent ones at the same time; a delete-first replacement
     * deletes its replaced dependents, then itself, then creates itself; other replaced and removed
     * resources are deleted at the end. Effects: containers start and stop (a new one waited for
     * when the container waits for health), commands run their create, update or delete script with
     * their environment, a balancer's reload step rewrites its files and signals it. Returns the
     * effects in the order they ran.
     */
    async applyChange(after: LabDeployment, plan: ChangePlan, log: (s: string) => void, refresh?: Refresh): Promise<string[]> {
        const before = this.d;
        // The program as the engine sees it now: resolved again when a step prints what others read.
        let current = after;
        const now = (c: PlannedChange) => current.record!.resources.find((r) => r.type === c.type && r.name === c.name) ?? c.after!;
        const printed = async (c: PlannedChange, stdout: string | void) => {
            const assumed = now(c).state.stdout;
            if (!refresh || typeof stdout !== "string" || typeof assumed !== "string" || !assumed.trim() || assumed.trim() === stdout.trim()) return;
            current = await refresh(c.name, stdout);
            // The engine diffs each resource when it gets to it: what has not started yet follows the program as resolved now.
            live = planChange(before.record!, current.record!, { replace: plan.replace });
            const relive = new Map(live.changes.map((x) => [x.key, x]));
            for (const k of [...byKey.keys(), ...relive.keys()]) {
                if (decided.has(k)) continue;
                const x = relive.get(k);
                if (x) byKey.set(k, x);
                else byKey.delete(k);
            }
            note(`${c.name}: printed ${JSON.stringify(stdout.trim())}; the program resolved again with it`);
        };
        let live = plan;
        // Out already (a fault before the change): counted with what the change takes out.
        this.mostOut.clear();
        for (const [role, set] of this.outNow) this.mostOut.set(role, set.size);
        const done = new Map<string, Promise<void>>();
        /** Resources whose change has been decided (their dependencies done). */
        const decided = new Set<string>();
        const deleted = new Set<string>();
        const late: PlannedChange[] = [];
        const effects: string[] = [];
        const byKey = new Map(plan.changes.map((c) => [c.key, c]));
        const note = (s: string) => {
            effects.push(s);
            log(`  ${s}`);
        };
        const del = async (c: PlannedChange) => {
            if (deleted.has(c.key)) return;
            deleted.add(c.key);
            await this.effect("delete", c.before!, before, note, undefined, c.op === "delete");
        };
        const step = (key: string): Promise<void> => {
            let p = done.get(key);
            if (!p) {
                p = (async () => {
                    await Promise.all((plan.dependencies.get(key) ?? []).map(step));
                    decided.add(key);
                    const c = byKey.get(key);
                    if (!c || c.op === "delete") return;
                    if (c.op === "create") return printed(c, await this.effect("create", now(c), current, note));
                    if (c.op === "update") return printed(c, await this.effect("update", now(c), current, note, c.before));
                    if (c.deleteFirst) {
                        for (const k of live.dependents.get(key) ?? []) await del(byKey.get(k)!);
                        await del(c);
                    } else if (!deleted.has(key)) late.push(c);
                    await printed(c, await this.effect("create", now(c), current, note));
                })();
                done.set(key, p);
            }
            return p;
        };
        await Promise.all(after.record!.resources.map((r) => step(`${r.type}::${r.name}`)));
        for (const c of [...late, ...live.changes.filter((x) => x.op === "delete")]) await del(c);
        await Promise.all(this.healthyAgain.splice(0));
        this.d = current;
        return effects;
    }

    /**
     * An ssh-target remote command's effect: a service's run step starts it from the files its files
     * step installed (the lab's service, from the changed stack) and waits as its script does (health,
     * or running for a member whose steps establish its health); its deletion stops it gracefully with
     * the signal and grace of its remove script. An update re-runs a run script whose trigger is
     * unchanged: it finds the service running this configuration and restarts nothing. Host, files,
     * copy and verification steps change nothing the lab runs; a balancer's return steps are not applied.
     */
    private async remoteEffect(op: "create" | "update" | "delete", r: RecordedResource, d: LabDeployment, note: (s: string) => void, removedForGood: boolean): Promise<void> {
        const started = Date.now();
        const svc = d.services.find((s) => s.container === r.name);
        if (!svc) return /-reload$/.test(r.name) ? this.hostReloadEffect(op, r, d, note) : this.balancerReturnEffect(op, r, d, note);
        if (op === "update") return note(`${svc.container}: run step updated (trigger unchanged: nothing restarts)`);
        if (op === "delete") {
            await this.goOut(svc);
            const script = String(r.inputs.delete ?? "");
            const signal = /docker kill --signal (\w+)/.exec(script)?.[1] ?? "TERM";
            const grace = Number(/(?:-lt|--time) (\d+)/.exec(script)?.[1] ?? 10);
            await this.supervisor.stop(svc.container, `SIG${signal}` as NodeJS.Signals, grace * 1000);
            this.services.delete(svc.container);
            this.writeShim();
            if (removedForGood) this.markOut(svc, false);
            return note(`${svc.container}: stopped with SIG${signal} and removed${removedForGood ? " for good" : ""} (${Date.now() - started} ms)`);
        }
        this.install(d, svc);
        this.start(svc);
        if (/^want=healthy$/m.test(String(r.inputs.stdin))) {
            await this.waitHealthyRestarting(svc, note);
            this.markOut(svc, false);
            return note(`${svc.container}: started, healthy (${Date.now() - started} ms)`);
        }
        const back = this.waitHealthyRestarting(svc, () => {}, 600_000 * SLOWDOWN).then(() => this.markOut(svc, false));
        back.catch(() => {});
        this.healthyAgain.push(back);
        return note(`${svc.container}: started (${Date.now() - started} ms)`);
    }

    /**
     * An ssh stack's balancer return step (`<replica>-in-<balancer>`, on the balancer's host): its
     * creation puts the replica back in that haproxy once healthy, its deletion drains it there
     * first. Its scripts run as the host would run them, the lab's \`sudo\` and \`docker\` (the
     * balancer's runtime API through socat) standing in; an update changes nothing that runs.
     */
    private async balancerReturnEffect(op: "create" | "update" | "delete", r: RecordedResource, d: LabDeployment, note: (s: string) => void): Promise<void> {
        const m = /^(.+)-in-(.+)$/.exec(r.name);
        if (!m || op === "update") return;
        const replica = d.services.find((s) => s.container === m[1]);
        if (op === "delete" && replica) await this.goOut(replica);
        const res = op === "create" ? await this.runScript(String(r.inputs.create), {}, String(r.inputs.stdin ?? "")) : await this.runScript(String(r.inputs.delete ?? "true"));
        if (res.code !== 0) throw new Error(`${r.name}: its ${op} failed (exit ${res.code}), as \`pulumi up\` would:\n${res.out}`);
        note(`${r.name}: ${op === "create" ? `${m[1]} back in rotation on ${m[2]}` : `${m[1]} drained on ${m[2]}`} (${res.ms} ms)`);
    }

    /**
     * An ssh stack's balancer reload step (render/ssh.ts, renderReloadOnHost; run for real against
     * haproxy in test/render/ssh.test.ts): the new file checked, written in place, PID 1 signalled.
     * The lab puts the after-deployment's file in place and signals, as for a docker stack's reload.
     */
    private async hostReloadEffect(op: "create" | "update" | "delete", r: RecordedResource, d: LabDeployment, note: (s: string) => void): Promise<void> {
        const svc = d.services.find((s) => s.container === r.name.replace(/-reload$/, ""));
        if (!svc || op === "delete" || !this.services.has(svc.container)) return;
        const started = Date.now();
        await this.reload(d, svc);
        note(`${r.name}: ${svc.container} reloaded (${Date.now() - started} ms)`);
    }

    /** Containers created without waiting for health, until they pass it. */
    private readonly healthyAgain: Promise<void>[] = [];
    /** Replicas out of service now (drained, stopped or removed, and not yet healthy again), by role. */
    private readonly outNow = new Map<string, Set<string>>();
    /**
     * An etcd member's data lost (a disk replaced): the member is killed, its volumes emptied, and it
     * is started again as Docker's restart policy would. etcd refuses to start it; returns its words.
     */
    async wipeEtcdData(node: string): Promise<string> {
        const svc = this.d.services.find((s) => s.service === "etcd" && s.node === node);
        if (!svc) throw new Error(`--wipe: no etcd member on node ${node} (members: ${this.byService("etcd").map((s) => s.node).join(", ")})`);
        this.markOut(svc, true);
        await this.supervisor.stop(svc.container, "SIGKILL");
        const root = this.services.get(svc.container)!.root;
        for (const v of svc.volumes) {
            rmSync(join(root, v), { recursive: true, force: true });
            mkdirSync(join(root, v), { recursive: true, mode: 0o700 });
        }
        this.start(svc);
        await waitFor(`${svc.container} to exit on its empty data dir`, 30_000 * SLOWDOWN, async () => !this.supervisor.running(svc.container));
        const said = this.supervisor.log(svc.container).split("\n").filter((l) => l.includes("has already been bootstrapped")).pop();
        return said ? /"error":"([^"]*)"/.exec(said)?.[1] ?? said : "exited";
    }

    /** The most replicas of each role out at once during the last applied change. */
    readonly mostOut = new Map<string, number>();

    /**
     * A replica leaves service. Those of its role marked out but healthy at this instant are counted
     * back first: their watchers poll, and the step that let this one go may have seen them back a
     * poll earlier (a CI run counted two etcd members out when the rollout step had just seen one healthy).
     */
    private async goOut(svc: LabService): Promise<void> {
        for (const container of [...(this.outNow.get(svc.role) ?? [])]) {
            const other = this.d.services.find((s) => s.container === container);
            if (other && container !== svc.container && this.services.has(container) && (await this.healthy(other))) this.markOut(other, false);
        }
        this.markOut(svc, true);
    }

    private markOut(svc: LabService, out: boolean): void {
        const set = this.outNow.get(svc.role) ?? new Set<string>();
        if (out) set.add(svc.container);
        else set.delete(svc.container);
        this.outNow.set(svc.role, set);
        this.mostOut.set(svc.role, Math.max(this.mostOut.get(svc.role) ?? 0, set.size));
    }

    /** One resource's effect on the lab; resources the lab has no part of (images, keys, passwords) have none. A command's stdout is returned. */
    private async effect(op: "create" | "update" | "delete", r: RecordedResource, d: LabDeployment, note: (s: string) => void, previous?: RecordedResource, removedForGood = false): Promise<string | void> {
        const started = Date.now();
        if (r.type === "docker:index/container:Container") {
            const svc = d.services.find((s) => s.container === r.inputs.name);
            if (!svc) return; // a node's pause container: the lab's namespace stays
            if (op === "delete") {
                await this.goOut(svc);
                // The provider removes a container by force (SIGKILL) unless something stopped it first, or
                // after `docker stop` (SIGTERM, then SIGKILL after destroyGraceSeconds) when that is set.
                const grace = r.inputs.destroyGraceSeconds;
                if (typeof grace === "number" && grace > 0) await this.supervisor.stop(svc.container, "SIGTERM", grace * 1000);
                else await this.supervisor.stop(svc.container, "SIGKILL");
                this.services.delete(svc.container);
                this.writeShim();
                // Scaled down: no longer a replica of its role, so not one out of service either.
                if (removedForGood) this.markOut(svc, false);
                return note(`${svc.container}: removed${removedForGood ? " for good" : ""} (${Date.now() - started} ms)`);
            }
            // The inputs the provider changes in place (change.ts) do nothing to a running container here.
            if (op === "update") return note(`${svc.container}: updated in place (${Object.keys(r.inputs).filter((k) => previous && !isDeepStrictEqual(previous.inputs[k], r.inputs[k])).join(", ")})`);
            this.install(d, svc);
            this.start(svc);
            if (r.inputs.wait === true) {
                await this.waitHealthyRestarting(svc, note);
                this.markOut(svc, false);
            } else {
                // Not waited for by `pulumi up`: out of service until its own health check passes (a later step waits for that).
                // As long as the change may take (a learner turns healthy once its gate has promoted it).
                const back = this.waitHealthyRestarting(svc, () => {}, 600_000 * SLOWDOWN).then(() => this.markOut(svc, false));
                back.catch(() => {}); // reported where the change ends, not as an unhandled rejection
                this.healthyAgain.push(back);
            }
            return note(`${svc.container}: created${r.inputs.wait === true ? ", healthy" : ""} (${Date.now() - started} ms)`);
        }
        // The mock engine's answer stands in for an image's facts: the lab has no images (deployment.ts).
        if (isImageFactsStep(r)) return;
        if (r.type === "command:remote:Command") return this.remoteEffect(op, r, d, note, removedForGood);
        if (r.type !== "command:local:Command") return;
        const env = (r.inputs.environment as Record<string, string> | undefined) ?? {};
        if (reloadFileVar(0) in env) {
            if (op === "delete") return;
            const container = `${d.spec.stack}-${r.name.replace(/-reload$/, "")}`;
            const svc = d.services.find((s) => s.container === container)!;
            await this.reload(d, svc);
            return note(`${r.name}: ${svc.container} reloaded (${Date.now() - started} ms)`);
        }
        const script = r.inputs[op] as string | undefined;
        if (!script) return;
        // A rollout step's deletion drains and stops its replica: out from here.
        const rolled = op === "delete" ? this.d.services.find((s) => s.container === env[ROLLOUT_CONTAINER_ENV]) : undefined;
        if (rolled) await this.goOut(rolled);
        const stdout = (previous ?? r).state.stdout;
        const res = await this.runScript(script, { ...env, ...(op !== "create" && typeof stdout === "string" ? { PULUMI_COMMAND_STDOUT: stdout } : {}) });
        if (res.code !== 0) throw new Error(`${r.name}: its ${op} failed (exit ${res.code}), as \`pulumi up\` would:\n${res.out}`);
        // What a membership step said it did (removed, handed the leadership over, repaired).
        const said = res.out.split("\n").filter((l) => /^etcd-membership: .*(removed|handed|could not hand|adding|promoting)/.test(l)).map((l) => l.replace(/^etcd-membership: [^:]*: /, ""));
        note(`${r.name}: ${op} (${res.ms} ms)${said.length ? `: ${said.join(", ")}` : ""}`);
        return res.stdout;
    }

    /**
     * What a balancer's reload step does (docker target, renderReloadScript; run for real against
     * haproxy and nginx in test/render/balancers.test.ts): the program checks the new file, it is
     * put in place, and PID 1 is signalled (haproxy's master SIGUSR2, nginx's SIGHUP).
     */
    private async reload(d: LabDeployment, svc: LabService): Promise<void> {
        const r = this.services.get(svc.container)!;
        const launch = prepareService(d, svc, { root: r.root, ...this.httpsCertificate() });
        this.services.set(svc.container, { ...r, svc, launch });
        const kind = serviceKind(d, svc);
        const pid = Number(readFileSync(join(r.root, LAB_PID_FILE), "utf8"));
        process.kill(pid, kind === "haproxy" ? "SIGUSR2" : "SIGHUP");
        await sleep(500);
    }

    private byRole(role: string): LabService[] {
        return this.d.services.filter((s) => s.role === role);
    }

    private httpsCertificate(): { httpsCert: string; httpsKey: string } {
        const dir = join(this.workDir, "https");
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const httpsCert = join(dir, "gateway.crt");
        const httpsKey = join(dir, "gateway.key");
        if (existsSync(httpsCert) && existsSync(httpsKey)) return { httpsCert, httpsKey };
        const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", httpsKey, "-out", httpsCert, "-days", "1", "-subj", "/CN=gateway-ha-lab"], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
        return { httpsCert, httpsKey };
    }

    start(svc: LabService): void {
        const r = this.services.get(svc.container)!;
        // As Docker sets a container's before its program starts (or the host step the host's).
        const params = Object.entries(svc.sysctls);
        if (params.length) {
            const set = spawnSync("ip", ["netns", "exec", r.ns, "sh", "-c", params.map(([k, v]) => `printf '%s\\n' ${v} > /proc/sys/${k.replace(/\./g, "/")}`).join(" && ")], { encoding: "utf8" });
            if (set.status !== 0) throw new Error(`${svc.container}: setting its kernel parameters: ${set.stderr}`);
        }
        const pid = this.supervisor.start(svc.container, r.ns, r.launch.argv, r.launch.env, REPO);
        writeFileSync(join(r.root, LAB_PID_FILE), `${pid}\n`);
    }

    /** SIGKILL (a crash) or SIGTERM with a grace period (`docker stop`). */
    async stop(svc: LabService, signal: "SIGKILL" | "SIGTERM"): Promise<void> {
        await this.supervisor.stop(svc.container, signal, 10_000);
    }

    /** A crash of the service's program `comm` (its main program, not its container's PID 1): see crashProcesses. */
    crash(svc: LabService, comm: string): Promise<number> {
        return crashProcesses(this.services.get(svc.container)!.ns, comm);
    }

    /** The service's own health check, as Docker runs it; without one, its process running. */
    async healthy(svc: LabService): Promise<boolean> {
        if (!this.supervisor.running(svc.container)) return false;
        const r = this.services.get(svc.container)!;
        const argv = healthCheckArgv(svc, r.root);
        if (!argv) return true;
        return (await execIn(r.ns, argv, { timeoutMs: 5000 * SLOWDOWN })).code === 0;
    }

    /**
     * At start-up, as `pulumi up` meets it: Docker's restart policy (unless-stopped) starts a
     * service that exits again, after 100 ms doubling, while `up` waits for its health check. An
     * API7 v3 gateway whose DP Manager the balancer has not yet found up dies at start (init_etcd)
     * and comes back this way (a CI run saw both gateways exit 0.4 s after the DP Managers listened).
     */
    private async waitHealthyRestarting(svc: LabService, log: (s: string) => void, timeoutMs = 60_000 * SLOWDOWN): Promise<number> {
        let delayMs = 100;
        let restartAt = 0;
        return waitFor(`${svc.container} to pass its health check`, timeoutMs, async () => {
            if (this.supervisor.running(svc.container)) return this.healthy(svc);
            if (!restartAt) restartAt = Date.now() + delayMs;
            if (Date.now() < restartAt) return false;
            log(`${svc.container} exited; restarted after ${delayMs} ms (Docker's restart policy)`);
            this.start(svc);
            delayMs = Math.min(2 * delayMs, 5000);
            restartAt = 0;
            return false;
        }, 150);
    }

    waitHealthy(svc: LabService, timeoutMs = 60_000 * SLOWDOWN): Promise<number> {
        return waitFor(`${svc.container} to pass its health check`, timeoutMs, () => this.healthy(svc), 150);
    }

    async runTask(name: string): Promise<RunResult> {
        const t = this.d.tasks.find((x) => x.name === name)!;
        return this.runScript(t.script, t.env);
    }

    /**
     * A step's script as `pulumi up` runs it where it runs: its own environment; only `docker` (and
     * on ssh stacks `sudo`) is the lab's. With `stdin`, `script` is a command that reads it (a remote
     * command's `sudo -n sh -s`).
     */
    runScript(script: string, stepEnv: Record<string, string> = {}, stdin?: string): Promise<RunResult & { stdout: string }> {
        const env = { ...stepEnv, PATH: `${join(this.workDir, "bin")}:${process.env.PATH}` };
        return new Promise((resolve) => {
            const started = Date.now();
            // On stdin, as the targets send it: its secrets stay off command lines.
            const child = spawn("/bin/sh", stdin === undefined ? ["-s"] : ["-c", script], { env, stdio: ["pipe", "pipe", "pipe"] });
            child.stdin.end(stdin ?? script);
            let out = "";
            let stdout = "";
            child.stdout.on("data", (x) => {
                out += x;
                stdout += x;
            });
            child.stderr.on("data", (x) => (out += x));
            const timer = setTimeout(() => child.kill("SIGKILL"), 120_000 * SLOWDOWN);
            child.on("close", (code) => {
                clearTimeout(timer);
                resolve({ code, out, stdout, ms: Date.now() - started });
            });
        });
    }

    /** The VIP's nodes that have its address on their interface now. */
    vipHolders(vip: TopologyVip): string[] {
        return vip.nodes.filter((n) => holdsNow(nodeNamespace(n.name), vip.address)).map((n) => n.name);
    }

    /** Starts recording who holds the VIP, event by event. */
    watchVip(vip: TopologyVip): VipWatch {
        return new VipWatch(vip.address, vip.nodes.map((n) => ({ node: n.name, ns: nodeNamespace(n.name) })));
    }

    /** Starts recording the real servers of the virtual server `address:port` in `node`'s IPVS table. */
    watchIpvs(node: string, address: string, port: number): IpvsWatch {
        return new IpvsWatch(() => namespacePids(nodeNamespace(node))[0], address, port);
    }

    /** etcd's root password as the stack now has it (undefined without auth). */
    get etcdRootPassword(): string | undefined {
        return this.d.tasks.map((t) => t.env.ETCD_ROOT_PASSWORD).find(Boolean);
    }

    /** The issuer of the certificate each etcd member serves on its client port, by member (TLS stacks). */
    async etcdServerIssuers(): Promise<Record<string, string>> {
        const out: Record<string, string> = {};
        for (const [i, url] of (this.d.outputs.etcdEndpoints as string[]).entries()) {
            const member = this.byService("etcd")[i];
            const { hostname, port } = new URL(url);
            const r = await execIn(this.services.get(member.container)!.ns, ["/usr/bin/openssl", "s_client", "-connect", `${hostname}:${port}`, "-showcerts"], { timeoutMs: 10_000 * SLOWDOWN, input: "" });
            out[member.container.replace(`${this.spec.stack}-`, "")] = /^\s*0 s:.*\n\s*i:(.*)$/m.exec(r.out)?.[1]?.trim() ?? `none (${r.out.split("\n")[0]})`;
        }
        return out;
    }

    /** etcdctl as root against every member, run in a running member's namespace with its files. */
    async etcdctl(args: string[], timeoutMs = 10_000 * SLOWDOWN, root = this.etcdRootPassword): Promise<RunResult> {
        const member = this.byService("etcd").find((s) => this.supervisor.running(s.container));
        if (!member) throw new Error("no etcd member is running");
        const r = this.services.get(member.container)!;
        const hc = healthCheckArgv(member, r.root)!;
        const tls = hc.filter((a) => /^--(cacert|cert|key)=/.test(a));
        const endpoints = `--endpoints=${(this.d.outputs.etcdEndpoints as string[]).join(",")}`;
        return execIn(r.ns, [HOST_PROGRAMS.etcdctl, endpoints, ...tls, `--dial-timeout=${2 * SLOWDOWN}s`, `--command-timeout=${5 * SLOWDOWN}s`, ...args], {
            timeoutMs,
            env: root ? { ETCDCTL_USER: `root:${root}` } : {},
        });
    }

    /** The etcd service whose member is the leader, from `endpoint status`. */
    async etcdLeader(): Promise<LabService> {
        const r = await this.etcdctl(["endpoint", "status", "-w", "json"]);
        const json = r.out.slice(r.out.indexOf("["), r.out.lastIndexOf("]") + 1);
        const statuses = JSON.parse(json || "[]") as { Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }[];
        const leader = statuses.find((s) => String(s.Status.header.member_id) === String(s.Status.leader));
        if (!leader) throw new Error(`no etcd leader in: ${r.out}`);
        const host = new URL(leader.Endpoint).hostname;
        const node = this.d.nodes.find((n) => n.address === host)!;
        return this.byService("etcd").find((s) => s.node === node.name)!;
    }

    /** Route ids stored where the gateways read them, `<prefix>/routes/<idPrefix>`: in etcd, or for API7 v3 in the lab database. */
    async routeIds(idPrefix: string): Promise<Set<string>> {
        if (this.database) return databaseRouteIds(this.database, idPrefix, 20_000 * SLOWDOWN);
        const prefix = `${etcdPrefix(this.spec, "gateway")}/routes/`;
        const r = await this.etcdctl(["get", `${prefix}${idPrefix}`, "--prefix", "--keys-only"], 20_000 * SLOWDOWN);
        if (r.code !== 0) throw new Error(`etcdctl get failed: ${r.out}`);
        return new Set(r.out.split("\n").filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length)));
    }

    private async startAgent(): Promise<void> {
        this.agent = spawn("ip", ["netns", "exec", CLIENT_NS, process.execPath, "--import", "tsx", AGENT_SCRIPT], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
        createInterface({ input: this.agent.stdout }).on("line", (line) => {
            const msg = JSON.parse(line) as { id: number } & Record<string, unknown>;
            this.pending.get(msg.id)?.(msg);
            this.pending.delete(msg.id);
        });
        this.agent.stderr.pipe(process.stderr);
    }

    async agentCall(cmd: AgentCommand): Promise<Record<string, unknown>> {
        const id = ++this.seq;
        const reply = new Promise<Record<string, unknown>>((res) => this.pending.set(id, res));
        this.agent!.stdin.write(JSON.stringify({ id, ...cmd }) + "\n");
        const msg = await reply;
        if (!msg.ok) throw new Error(`lab client: ${String(msg.error)}`);
        return msg;
    }

    async get(path: string): Promise<{ status: number; body: string }> {
        return (await this.agentCall({ op: "request", method: "GET", url: `${this.gatewayUrl}${path}`, timeoutMs: 5000 * SLOWDOWN })) as unknown as { status: number; body: string };
    }

    /** Established TCP connections to `port` on a node (`ss`, in its namespace). */
    async connectionsTo(node: string, port: number): Promise<number> {
        const r = await execIn(nodeNamespace(node), ["ss", "-Htn", "state", "established", `( sport = :${port} )`], { timeoutMs: 5000 * SLOWDOWN });
        if (r.code !== 0) throw new Error(`ss on ${node}: ${r.out}`);
        return r.out.split("\n").filter((l) => l.trim()).length;
    }

    /** GET straight from one gateway, past the balancer. */
    async getFrom(gateway: LabService, path: string): Promise<{ status: number; body: string }> {
        const address = this.d.nodes.find((n) => n.name === gateway.node)!.address;
        return (await this.agentCall({ op: "request", method: "GET", url: `http://${address}:${this.spec.dataPlane.httpPort}${path}`, timeoutMs: 5000 * SLOWDOWN })) as unknown as { status: number; body: string };
    }

    async putRoute(id: string, uri: string): Promise<{ status: number; body: string; error?: string }> {
        const body = JSON.stringify({ uri, upstream: { type: "roundrobin", nodes: { [this.upstream]: 1 } } });
        return (await this.agentCall({
            op: "request",
            method: "PUT",
            url: `${this.adminUrl}/${id}`,
            headers: { "content-type": "application/json", ...this.adminAuth },
            body,
            ...this.managementTls,
            timeoutMs: 10_000,
        })) as unknown as { status: number; body: string };
    }

    async startLoad(spec: LoadSpec): Promise<void> {
        await this.agentCall({ op: "load-start", spec });
    }

    async stopLoad(): Promise<LoadResult> {
        return (await this.agentCall({ op: "load-stop" })).result as LoadResult;
    }

    /** Stops everything and removes the namespaces (and with them the bridge). */
    async tearDown(): Promise<void> {
        this.agent?.kill("SIGKILL");
        await this.supervisor.stopAll();
        destroyLabNetwork();
    }
}
