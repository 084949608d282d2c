// The failover drills of seed 001's verification, each under steady client load: reads of a
// route through the gateway balancer and route writes through the control-plane balancer.
// A drill injects its fault, holds it, recovers the way Docker's restart policy or an operator
// would, and is judged on the client's records and on what etcd holds afterwards.
// Drills of keepalived VIPs follow the VIP's holders from the kernel's address notifications.
import { etcdUsers } from "../components/render/etcd";
import type { PlatformSpec } from "../components/config/types";
import type { TopologyVip } from "../components/topology/types";
import type { LoadResult } from "./agent";
import type { LabService } from "./deployment";
import { SLOWDOWN, sleep, waitFor, type Lab } from "./lab";
import { check, describeLast, lostWrites, resumed, streamFigures, type Check, type DrillReport } from "./report";
import { longestSplitMs, longestVacantMs, soleHolderAt, splitBrainMs, vacantMs, type VipWatch } from "./vips";
import { firstWith, firstWithout } from "./ipvs";

export interface DrillContext {
    lab: Lab;
    /** Marks the moment the fault is injected (figures count from here). */
    fault(): void;
    facts: Record<string, string | number>;
}

export interface Drill {
    id: string;
    title: string;
    /** Why the drill does not fit this deployment; undefined when it does. */
    notApplicable?(lab: Lab): string | undefined;
    run(ctx: DrillContext): Promise<void>;
    /** After the load stops, before the next drill: what the fault set in motion finishes with no request in flight. */
    settle?(ctx: Omit<DrillContext, "fault">): Promise<void>;
    checks(r: DrillOutcome, lab: Lab): Check[];
}

export interface DrillOutcome {
    report: DrillReport;
    load: LoadResult;
    faultAt: number;
}

/** Load bounds: every drill ends by these even if a step hangs. */
const READERS = 4;
const MAX_READS = 200_000;
const WRITE_INTERVAL_MS = 50;
const MAX_WRITES = 2_000;
const MAX_DRILL_MS = 90_000;
/** Load before the fault, so each drill starts from a working platform. */
const BASELINE_MS = 1_000;

/** How long a balancer takes to mark a dead gateway down (fall × interval), plus a margin. */
function detectionMs(lab: Lab): number {
    const hc = lab.spec.loadBalancer.healthCheck;
    return hc.fall * hc.intervalSeconds * 1000 + 1000;
}

/** How long until a balancer sends traffic to a recovered gateway again (rise × interval). */
function riseMs(lab: Lab): number {
    const hc = lab.spec.loadBalancer.healthCheck;
    return hc.rise * hc.intervalSeconds * 1000;
}

/**
 * Time from now until a *new* route write succeeds: a probe every 100 ms, each on its own (a write
 * in flight when the leader died waits for etcd's request timeout; later ones need only the election).
 */
async function newWritesBackAfterMs(lab: Lab): Promise<number> {
    const started = Date.now();
    let backAt: number | undefined;
    for (let i = 0; backAt === undefined && i < 300; i++) {
        void lab.putRoute(`lab-probe-${started}-${i}`, "/lab/probe").then((r) => {
            if ((r.status === 200 || r.status === 201) && backAt === undefined) backAt = Date.now();
        });
        await sleep(100);
    }
    if (backAt === undefined) throw new Error("route writes did not come back within 30 s");
    return backAt - started;
}

const noReadFailures = (o: DrillOutcome) =>
    check("no failed reads", o.report.reads.failed === 0, `${o.report.reads.failed} of ${o.report.reads.sent} GETs failed (the balancer retries idempotent requests on another gateway)`);

/**
 * Reads in a drill that restarts a gateway at `facts[restartKey]` (ms since the epoch). Before it, none
 * may fail. After it, only a balancer with active checks keeps requests away until the gateway is ready:
 * nginx (open source) sends them at once and does not retry the 404 an unsynced gateway answers, so
 * there the failures after the restart are reported (readsFailedAfterRestart), not asserted.
 */
function readFailuresAroundRestart(o: DrillOutcome, restartKey: string): Check[] {
    const at = o.report.facts[restartKey];
    if (typeof at !== "number" || o.report.facts.activeChecks === "yes") return [noReadFailures(o)];
    const before = o.load.reads.filter((r) => r.t0 < at);
    const failedBefore = before.filter((r) => !r.ok).length;
    o.report.facts.readsFailedAfterRestart = o.report.reads.failed - failedBefore;
    return [check("no failed reads before the gateway restarts", failedBefore === 0, `${failedBefore} of ${before.length} GETs started before the restart failed (passive checks only: ${o.report.facts.readsFailedAfterRestart} after it, not asserted)`)];
}
const noLostWrites = (o: DrillOutcome) =>
    check("no lost writes", o.report.writes.lost === 0, `${o.report.writes.acknowledged} acknowledged, ${o.report.writes.lost} missing from the store afterwards${o.report.writes.lost ? `: ${o.report.writes.lostIds.slice(0, 5).join(", ")}` : ""}`);
const writesResumed = (o: DrillOutcome) =>
    check("writes resume", resumed(o.load.writes, 3), `last writes: ${describeLast(o.load.writes, 3)}`);

/** keepalived's expected takeover times for a VIP (docs/vips.md). */
export function vipBounds(lab: Lab, vip: TopologyVip, backup: string): { skewMs: number; masterDownMs: number; serviceFailureMs: number; riseMs: number } {
    const k = lab.spec.loadBalancer.keepalived;
    const advertMs = k.advertInt * 1000;
    const skewMs = Math.round(((256 - vip.priorities[backup]) / 256) * advertMs);
    return {
        skewMs,
        masterDownMs: 3 * advertMs + skewMs,
        serviceFailureMs: k.check.fall * k.check.interval * 1000 + k.check.timeout * 1000 + skewMs,
        riseMs: k.check.rise * k.check.interval * 1000,
    };
}

/**
 * Scheduling allowance on a shared 2-core machine over keepalived's own bounds; twice that on
 * emulated CPUs (the lab's VM), where reading the kernel's notifications lags further.
 */
const VIP_SLACK_MS = SLOWDOWN > 1 ? 2000 : 1000;
/**
 * The one legitimate overlap: on a preemptive failback the new master adds the address and
 * advertises; the old master drops it when that advert arrives. Anything longer is split brain.
 */
const HANDOVER_MS = 100;

/** The VIP's holder now and the backup that takes over from it (the highest priority of the others). */
function vipRoles(lab: Lab, vip: TopologyVip): { holder: string; backup: string } {
    const holders = lab.vipHolders(vip);
    if (holders.length !== 1) throw new Error(`VIP ${vip.name} is held by ${holders.join(",") || "nobody"}, not by one node`);
    return { holder: holders[0], backup: vip.nodes.find((n) => n.name !== holders[0])!.name };
}

const ms = (n: number) => Math.round(n * 10) / 10;

/**
 * The longest a VIP may go without a holder when its master's keepalived stops cleanly: the
 * priority-0 advert makes the backup take over after its skew time, under one advert interval.
 */
const vipHandoverBoundMs = (lab: Lab) => lab.spec.loadBalancer.keepalived.advertInt * 1000 + VIP_SLACK_MS;

/**
 * The VIP a drill works on: the gateways' (the client's reads show the move), else the first one.
 * The service-failure drill takes keepalived VIPs only: an LVS director has no check script (its
 * checker tests the real servers, see lvs-real-server-failure).
 */
function drillVip(lab: Lab, lvs: boolean): TopologyVip | undefined {
    const vips = lab.d.vips.filter((v) => lvs || !v.lvs);
    return vips.find((v) => v.protects === "data-plane") ?? vips[0];
}

const noVip = (lvs: boolean) => (lab: Lab) =>
    drillVip(lab, lvs) ? undefined : lvs || !lab.d.vips.length ? "the stack has no keepalived VIP (loadBalancer.keepalived.vips)" : "an LVS director has no check script to fail: see lvs-real-server-failure";

/** The LVS virtual server in front of the gateways, if the stack has one. */
const lvsVip = (lab: Lab) => lab.d.vips.find((v) => v.lvs && v.protects === "data-plane");

/**
 * keepalived's bounds for an LVS real server (docs/vips.md): out after the next check
 * and its retries (delay_loop = interval, connect_timeout = timeout, retry = fall − 1,
 * delay_before_retry = interval); back after the first check that passes once it is healthy.
 */
export function lvsBounds(spec: PlatformSpec): { removalMs: number; readdMs: number } {
    const c = spec.loadBalancer.keepalived.check;
    return { removalMs: (c.interval + c.fall * c.timeout + (c.fall - 1) * c.interval) * 1000, readdMs: (c.interval + c.timeout) * 1000 };
}

/**
 * Waits for the VIP to return to the master as the preempt settings say, or (nopreempt) checks that
 * it stays on the backup for as long as a failback would have taken.
 */
async function awaitFailback(lab: Lab, vip: TopologyVip, facts: DrillContext["facts"], since: number, holders: () => string[]): Promise<void> {
    const k = lab.spec.loadBalancer.keepalived;
    const window = 3 * k.advertInt * 1000 + (k.preemptDelay ?? 0) * 1000 + 2 * VIP_SLACK_MS;
    facts.preempt = k.nopreempt ? "nopreempt" : k.preemptDelay !== undefined ? `after ${k.preemptDelay} s` : "at once";
    if (k.nopreempt) {
        await sleep(window);
        facts.holderAfterRecovery = holders().join(",");
        return;
    }
    await waitFor(`VIP ${vip.name} back on ${vip.master}`, window + 5000, async () => holders().join(",") === vip.master, 50).catch(() => undefined);
    facts.holderAfterRecovery = holders().join(",");
    facts.failbackAfterRecoveryMs = Date.now() - since;
    // Clients whose connections the move back reset reconnect: the drill ends on steady reads.
    await sleep(SETTLE_MS);
}

/** Long enough for a reset client to reconnect; stretched on the VM's emulated CPUs, where a read can take seconds. */
const SETTLE_MS = 1500 * SLOWDOWN;

/**
 * After a node's keepalived restarts: each VIP whose master it is comes back to it once its checks
 * rise (preempt), and that move strands the requests in flight on the backup (it can no longer
 * answer from the address: the client waits out its timeout). Waited for with no load running, so
 * that the failback lands neither in this drill's figures nor among the next drill's writes.
 */
async function awaitVipsBackOn(lab: Lab, node: string, facts: DrillContext["facts"]): Promise<void> {
    const k = lab.spec.loadBalancer.keepalived;
    const vips = lab.d.vips.filter((v) => v.master === node);
    if (k.nopreempt || !vips.length) return;
    const started = Date.now();
    const bound = (k.check.rise * k.check.interval + k.check.timeout + 3 * k.advertInt + (k.preemptDelay ?? 0)) * 1000 + 2 * VIP_SLACK_MS + 5000;
    const back = async () => vips.every((v) => lab.vipHolders(v).join(",") === node);
    await waitFor(`VIPs ${vips.map((v) => v.name).join(", ")} back on ${node}`, bound * SLOWDOWN, back, 50).catch(() => undefined);
    facts.vipsBackOnNodeAfterMs = (await back()) ? Date.now() - started : "not within the failback bound";
    await sleep(SETTLE_MS);
}

/**
 * A VIP drill under a watch of its holders: inject the fault on the holder, wait (bounded) for the
 * backup to hold the VIP alone, recover, wait for the failback the preempt settings promise, and
 * record the move, the overlap and the vacancy.
 */
async function vipDrill(
    { lab, fault, facts }: DrillContext,
    vip: TopologyVip,
    bound: "serviceFailureMs" | "masterDownMs",
    steps: { inject(holder: string): Promise<string>; recover(faultAt: number): Promise<void> },
): Promise<void> {
    const { holder, backup } = vipRoles(lab, vip);
    Object.assign(facts, { vip: `${vip.name} ${vip.address}`, holder, backup }, vipBounds(lab, vip, backup));
    const watch = lab.watchVip(vip);
    try {
        const at = Date.now();
        fault();
        facts.killed = await steps.inject(holder);
        await waitFor(`VIP ${vip.name} on ${backup}`, Number(facts[bound]) + 10_000, async () => watch.holders().join(",") === backup, 50).catch(() => undefined);
        const moved = soleHolderAt(watch.timeline(), backup, at);
        if (moved !== undefined) facts.movedAfterMs = ms(moved - at);
        await steps.recover(at);
        await awaitFailback(lab, vip, facts, Date.now(), () => watch.holders());
        const t = watch.timeline(at);
        facts.splitBrainMs = ms(splitBrainMs(t));
        facts.longestSplitMs = ms(longestSplitMs(t));
        facts.vacantMs = ms(vacantMs(t));
    } finally {
        watch.stop();
    }
}

function vipChecks(o: DrillOutcome, lab: Lab, vip: TopologyVip, boundKey: "masterDownMs" | "serviceFailureMs"): Check[] {
    const f = o.report.facts;
    const k = lab.spec.loadBalancer.keepalived;
    const backup = String(f.backup);
    const bound = Number(f[boundKey]) + VIP_SLACK_MS;
    const expectedHolder = k.nopreempt ? backup : vip.master;
    return [
        check("the VIP moves to the backup", typeof f.movedAfterMs === "number" && f.movedAfterMs <= bound, `${backup} held ${vip.address} alone ${f.movedAfterMs ?? "never"} ms after the fault (bound ${f[boundKey]} ms + ${VIP_SLACK_MS} ms slack)`),
        check(
            "never on two nodes beyond a handover",
            typeof f.longestSplitMs === "number" && f.longestSplitMs <= HANDOVER_MS,
            `${f.splitBrainMs} ms in all with ${vip.address} on two nodes, longest ${f.longestSplitMs} ms (a preemptive failback's advert trip; limit ${HANDOVER_MS} ms)`,
        ),
        check("failback as the preempt settings say", f.holderAfterRecovery === expectedHolder, `preempt ${f.preempt}: held by ${f.holderAfterRecovery || "nobody"} after recovery, expected ${expectedHolder}`),
        noLostWrites(o),
        check("reads resume", resumed(o.load.reads, 3), `last reads started: ${describeLast(o.load.reads, 3)}`),
    ];
}

/**
 * Writes a route and waits until every gateway serves it, asked directly: each one's configuration
 * watch is live again (API7 v3's through a DP Manager, behind the control-plane balancer).
 */
async function newRouteOnEveryGatewayMs(lab: Lab, tag: string): Promise<number> {
    const id = `lab-${tag}-${Date.now()}`;
    const path = `/lab/${tag}/${id}`;
    const put = await lab.putRoute(id, path);
    if (put.status !== 200 && put.status !== 201) throw new Error(`PUT ${id}: ${put.status} ${put.body}`);
    const started = Date.now();
    await Promise.all(lab.byService("gateway").map((gw) => waitFor(`${gw.container} to serve ${path}`, 20_000 * SLOWDOWN, async () => (await lab.getFrom(gw, path)).status === 200)));
    return Date.now() - started;
}

/**
 * The first control-plane node; with API7 v3, the one whose DP Manager carries the most gateway
 * connections (through the balancer), so the gateways must reconnect to another.
 */
async function controlPlaneNodeToKill(lab: Lab, facts: Record<string, string | number>): Promise<string> {
    const nodes = lab.d.nodes.filter((n) => n.roles.includes("control-plane")).map((n) => n.name);
    if (!lab.byService("dp-manager").length) return nodes[0];
    const counts = await Promise.all(nodes.map((n) => lab.connectionsTo(n, lab.spec.controlPlane.dpManagerPort)));
    const i = counts.indexOf(Math.max(...counts));
    facts.dpManagerConnectionsOnNode = counts[i];
    return nodes[i];
}

/**
 * An update drill (`--change KEY=VALUE`): the planned change applied to the running lab as `pulumi
 * up` would apply it (Lab.applyChange), under the same load and checks as the other drills.
 */
export function updateDrill(lab: Lab): Drill {
    const change = lab.change!;
    return {
        id: "update",
        title: `${
            change.destroy
                ? `pulumi destroy --exclude-protected (${change.plan.changes.length} resources deleted, the protected ones kept)`
                : `pulumi up with ${change.sets.join(" ")}: ${change.plan.changes.length} resource changes applied in the engine's order`
        }${lab.then.map((t) => (t === DESTROY ? `; then pulumi ${t}` : t === "up" ? "; then pulumi up with the same config" : `; then pulumi up with ${t}`)).join("")}`,
        async run({ lab, fault, facts }) {
            fault();
            // A destroy is an outage by design: what must hold is that the next `up` comes back on the kept data.
            const beforeDestroy = async () => {
                facts.destroyed = "yes";
                if (!noEtcd(lab)) facts.etcdClusterBefore = await etcdClusterId(lab);
            };
            if (change.destroy) await beforeDestroy();
            // A lost disk first: the next `up` (its --replace) is what repairs the member.
            if (change.wipe) facts.wipedMember = await lab.wipeEtcdData(change.wipe);
            const rootBefore = lab.etcdRootPassword;
            // Who holds each VIP while the change runs: a keepalived replaced hands its VIPs over, never leaves them vacant.
            const watches: [TopologyVip, VipWatch][] = change.destroy ? [] : lab.d.vips.map((v) => [v, lab.watchVip(v)]);
            const t0 = Date.now();
            let changes = change.plan.changes.length;
            const effects: string[] = [];
            const most = new Map<string, number>();
            try {
                effects.push(...(await lab.applyChange(change.after, change.plan, () => undefined, change.refresh)));
                for (const [role, n] of lab.mostOut) most.set(role, n);
                // Each further `up` (a rotation's next phase) is planned from what runs once the previous one is done.
                for (const [k, t] of lab.then.entries()) {
                    const next = await lab.planThen(k);
                    if (next.destroy) await beforeDestroy();
                    changes += next.plan.changes.length;
                    effects.push(`then ${t}: ${next.plan.changes.length} changes`, ...(await lab.applyChange(next.after, next.plan, () => undefined, next.refresh)));
                    for (const [role, n] of lab.mostOut) most.set(role, Math.max(most.get(role) ?? 0, n));
                }
            } finally {
                for (const [vip, watch] of watches) {
                    watch.stop();
                    const t = watch.timeline(t0);
                    facts[`vip ${vip.name} longest vacant ms`] = ms(longestVacantMs(t));
                    facts[`vip ${vip.name} longest split ms`] = ms(longestSplitMs(t));
                }
            }
            if (watches.length) facts.vipHandoverBoundMs = vipHandoverBoundMs(lab);
            facts.changes = changes;
            facts.effects = effects.join("; ");
            facts.appliedMs = Date.now() - t0;
            facts.mostOutAtOnce = [...most].map(([role, n]) => `${role} ${n}`).join(", ") || "none";
            // Back on the changed stack: a route written now reaches every gateway.
            facts.newRouteOnEveryGatewayMs = await newRouteOnEveryGatewayMs(lab, "after-update");
            if (!noEtcd(lab)) {
                if (facts.destroyed === "yes") facts.etcdClusterAfter = await etcdClusterId(lab);
                // etcd's own view: exactly the planned members, each started and voting.
                const listed = await lab.etcdctl(["member", "list"]);
                if (listed.code !== 0) throw new Error(`etcdctl member list failed after the change:\n${listed.out}`);
                const rows = listed.out.split("\n").filter((l) => /^[0-9a-f]+, /.test(l)).map((l) => l.split(", "));
                facts.etcdVoters = rows.filter(([, status, , , , learner]) => status === "started" && learner === "false").map(([, , name]) => name).sort().join(",");
                facts.etcdPlanned = lab.byService("etcd").map((s) => s.container.replace(`${lab.spec.stack}-`, "")).sort().join(",");
                // Every member serves a certificate of the CA the stack signs with now (a CA rotation's last phase: the only one trusted).
                if (lab.spec.etcd.tls) {
                    const g = lab.spec.etcd.caGeneration;
                    facts.etcdSigningCa = `${lab.spec.project}-${lab.spec.stack} etcd CA${g > 0 ? ` ${g}` : ""}`;
                    facts.etcdServerIssuers = Object.entries(await lab.etcdServerIssuers()).map(([m, issuer]) => `${m}: ${issuer}`).join("; ");
                }
                // etcd's users: root and the consumers' active users, no other (a consumer password rotation's previous ones revoked).
                if (lab.spec.etcd.auth) {
                    const users = await lab.etcdctl(["user", "list"]);
                    if (users.code !== 0) throw new Error(`etcdctl user list failed after the change:\n${users.out}`);
                    facts.etcdUsers = users.out.split("\n").filter(Boolean).sort().join(",");
                    facts.etcdUsersPlanned = etcdUsers(lab.spec).map((u) => u.name).sort().join(",");
                }
                // A rotated root password: the member list above came with the new one; the old one is refused.
                if (rootBefore && rootBefore !== lab.etcdRootPassword) facts.previousRootPassword = /authentication failed/.test((await lab.etcdctl(["member", "list"], undefined, rootBefore)).out) ? "refused" : "still accepted";
            }
        },
        checks: (o) => {
            const most = String(o.report.facts.mostOutAtOnce ?? "");
            const destroyed = o.report.facts.destroyed === "yes";
            const checks = [
                // `pulumi up` never takes two replicas of a role out together: etcd keeps its quorum, gateways and control plane one serving.
                ...(destroyed ? [] : [check("one replica of a role out at a time", most === "none" || most.split(", ").every((x) => Number(x.split(" ").pop()) <= 1), `most replicas out at once, by role: ${most}`)]),
                // After a destroy: every write acknowledged before it is in the store the next `up` brought back.
                noLostWrites(o),
                // The load's writer keeps the Admin API key it started with, which a destroy does not keep (the
                // next `up` generates a new one); a route written after it with the new key, to every gateway, is the test then.
                destroyed ? check("a route written after the up reaches every gateway", typeof o.report.facts.newRouteOnEveryGatewayMs === "number", `in ${o.report.facts.newRouteOnEveryGatewayMs} ms`) : writesResumed(o),
            ];
            const { etcdClusterBefore, etcdClusterAfter } = o.report.facts;
            if (etcdClusterBefore !== undefined)
                checks.push(check("the next up reuses etcd's data: the same cluster, not a new one", etcdClusterAfter === etcdClusterBefore, `cluster ID before the destroy ${etcdClusterBefore}; after the up ${etcdClusterAfter}`));
            const { etcdVoters, etcdPlanned } = o.report.facts;
            if (etcdPlanned !== undefined) checks.push(check("etcd's members are the planned ones, all voting", etcdVoters === etcdPlanned, `voters ${etcdVoters}; planned ${etcdPlanned}`));
            const { etcdSigningCa, etcdServerIssuers } = o.report.facts;
            if (etcdSigningCa !== undefined) {
                const issuers = String(etcdServerIssuers).split("; ").map((x) => x.slice(x.indexOf(": ") + 2));
                checks.push(check("every etcd member serves a certificate of the signing CA", issuers.every((x) => x.endsWith(`CN = ${etcdSigningCa}`)), `signing CA ${etcdSigningCa}; served: ${etcdServerIssuers}`));
            }
            const { etcdUsers: users, etcdUsersPlanned } = o.report.facts;
            if (etcdUsersPlanned !== undefined) checks.push(check("etcd's users are root and the consumers' active users (previous ones revoked)", users === etcdUsersPlanned, `users ${users}; planned ${etcdUsersPlanned}`));
            // A VIP moves only by a handover: the stopping keepalived's priority-0 advert, taken after the skew time.
            for (const [k, v] of Object.entries(o.report.facts).filter(([k]) => /^vip .* longest vacant ms$/.test(k))) {
                const bound = Number(o.report.facts.vipHandoverBoundMs);
                checks.push(check(`${k.replace(/ longest vacant ms$/, "")} never vacant beyond a handover`, typeof v === "number" && v <= bound, `longest with no holder ${v} ms (bound ${bound} ms: advertInt + slack)`));
                const split = o.report.facts[k.replace("vacant", "split")];
                checks.push(check(`${k.replace(/ longest vacant ms$/, "")} never on two nodes beyond a handover`, typeof split === "number" && split <= HANDOVER_MS, `longest on two nodes ${split} ms (limit ${HANDOVER_MS} ms)`));
            }
            const previous = o.report.facts.previousRootPassword;
            if (previous !== undefined) checks.push(check("etcd takes the rotated root password and refuses the previous one", previous === "refused", `the previous root password is ${previous}`));
            // haproxy drains and holds out a replaced replica until it is healthy and UP; nginx reports, as in rolling-replace.
            if (o.report.facts.activeChecks === "yes" && !destroyed) checks.unshift(noReadFailures(o), check("no failed writes", o.report.writes.failed === 0, `${o.report.writes.failed} of ${o.report.writes.sent} route PUTs failed`));
            return checks;
        },
    };
}

const DESTROY = "destroy --exclude-protected";

/** The etcd cluster's ID (decimal, from `endpoint status`): a cluster formed anew has another. */
async function etcdClusterId(lab: Lab): Promise<string> {
    const r = await lab.etcdctl(["endpoint", "status", "-w", "json"]);
    const id = /"cluster_id":(\d+)/.exec(r.out)?.[1];
    if (!id) throw new Error(`etcdctl endpoint status gave no cluster ID:\n${r.out}`);
    return id;
}

/** Services with a rollout step, in the order `pulumi up` replaces them: gateways, then the control plane. */
const rolledServices = (lab: Lab) => ["data-plane", "control-plane"].flatMap((role) => lab.d.services.filter((s) => s.role === role && s.rollout));

/** API7 v3 keeps its configuration in the control plane's database, not in an etcd of the stack's. */
const noEtcd = (lab: Lab) => (lab.byService("etcd").length ? undefined : `the stack runs no etcd (flavor ${lab.spec.flavor} keeps its configuration in the control plane's database)`);

export const DRILLS: Drill[] = [
    {
        id: "kill-gateway",
        title: "SIGKILL one gateway; the balancer routes around it; it restarts and rejoins",
        notApplicable: (lab) => (lab.gatewaysBalanced ? undefined : "no balancer spreads requests over the gateways (a VIP carries them: see vip-service-failure)"),
        async run({ lab, fault, facts }) {
            const gw = lab.byService("gateway")[0];
            facts.killed = gw.container;
            fault();
            await lab.stop(gw, "SIGKILL");
            await sleep(detectionMs(lab));
            facts.restartedAt = Date.now();
            lab.start(gw);
            facts.restartHealthyMs = await lab.waitHealthy(gw);
            await sleep(riseMs(lab));
        },
        checks: (o) => [...readFailuresAroundRestart(o, "restartedAt"), noLostWrites(o)],
    },
    {
        id: "kill-control-plane-node",
        title: "SIGKILL every service of one control-plane node; the control-plane balancer keeps answering and writes keep working",
        async run({ lab, fault, facts }) {
            const node = await controlPlaneNodeToKill(lab, facts);
            const services = lab.onNode(node);
            facts.node = node;
            facts.killed = services.map((s) => s.service).join("+");
            fault();
            await Promise.all(services.map((s) => lab.stop(s, "SIGKILL")));
            await sleep(detectionMs(lab));
            for (const s of services) lab.start(s);
            facts.restartHealthyMs = Math.max(...(await Promise.all(services.map((s) => lab.waitHealthy(s)))));
            await sleep(riseMs(lab));
            facts.newRouteOnEveryGatewayMs = await newRouteOnEveryGatewayMs(lab, "after-cp-kill").catch((e: Error) => `never: ${e.message}`);
        },
        settle: ({ lab, facts }) => awaitVipsBackOn(lab, String(facts.node), facts),
        checks: (o) => {
            const f = o.report.facts;
            const checks = [
                noReadFailures(o),
                noLostWrites(o),
                writesResumed(o),
                ...(f.dpManagerConnectionsOnNode === undefined
                    ? []
                    : [check("the node carried gateway connections", Number(f.dpManagerConnectionsOnNode) > 0, `${f.dpManagerConnectionsOnNode} connection(s) to its DP Manager when it was killed`)]),
                check("a new route reaches every gateway", typeof f.newRouteOnEveryGatewayMs === "number", `a route written after the recovery was served by each gateway directly after ${f.newRouteOnEveryGatewayMs}${typeof f.newRouteOnEveryGatewayMs === "number" ? " ms" : ""}`),
            ];
            // Without an etcd member on the node, etcd never notices: every PUT must succeed (it is retried).
            if (!String(o.report.facts.killed).includes("etcd"))
                checks.push(check("no failed writes", o.report.writes.failed === 0, `${o.report.writes.failed} of ${o.report.writes.sent} PUTs failed`));
            return checks;
        },
    },
    {
        id: "kill-etcd-leader",
        title: "SIGKILL the etcd leader; writes resume after re-election; every acknowledged write survives",
        notApplicable: noEtcd,
        async run({ lab, fault, facts }) {
            const leader = await lab.etcdLeader();
            facts.leader = leader.node;
            fault();
            await lab.stop(leader, "SIGKILL");
            facts.newWritesBackAfterMs = await newWritesBackAfterMs(lab);
            // Bound for a write in flight at the kill: etcd's request timeout, 5 s + 2 × election timeout.
            facts.inFlightWriteBoundMs = 5000 + 2 * lab.spec.etcd.electionMs;
            facts.newLeader = (await lab.etcdLeader()).node;
            await sleep(1000);
            lab.start(leader);
            facts.rejoinHealthyMs = await lab.waitHealthy(leader);
        },
        checks: (o) => [
            noReadFailures(o),
            noLostWrites(o),
            writesResumed(o),
            check("a new leader", o.report.facts.newLeader !== o.report.facts.leader, `leader ${o.report.facts.leader} → ${o.report.facts.newLeader}`),
        ],
    },
    {
        id: "etcd-quorum-loss",
        title: "Stop two of three etcd members; gateways serve cached routes; a gateway restarted meanwhile stays down (init_etcd); restart them; the cluster heals, writes resume, the gateway comes back",
        notApplicable: noEtcd,
        async run({ lab, fault, facts }) {
            const members = lab.byService("etcd");
            const stopped = members.slice(1);
            facts.stopped = stopped.map((s) => s.node).join("+");
            fault();
            await Promise.all(stopped.map((s) => lab.stop(s, "SIGTERM")));
            await sleep(4000);
            const cached = await lab.get("/lab/echo");
            facts.cachedRouteStatus = cached.status;
            // APISIX runs init_etcd at every start and dies unless more than half of the etcd hosts
            // answer: a gateway restarted now does not come back. Only where a balancer routes around it.
            const restarted = lab.gatewaysBalanced ? lab.byService("gateway")[0] : undefined;
            if (restarted) {
                facts.restartedGateway = restarted.container;
                await lab.stop(restarted, "SIGTERM");
                lab.start(restarted);
                const exitedAfterMs = await waitFor(`${restarted.container} to give up without quorum`, 30_000, async () => !lab.supervisor.running(restarted.container)).catch(() => undefined);
                facts.restartedGatewayExitedAfterMs = exitedAfterMs ?? "never";
                facts.othersServedMeanwhile = (await lab.get("/lab/echo")).status;
                // Out of rotation before it can start again: one that comes back within the balancer's
                // detection time still counts as up and answers 404 until its first sync (APISIX too).
                await sleep(detectionMs(lab));
            }
            for (const s of stopped) lab.start(s);
            facts.healedAfterMs = Math.max(...(await Promise.all(stopped.map((s) => lab.waitHealthy(s)))));
            if (restarted) {
                facts.restartedAt = Date.now();
                lab.start(restarted);
                facts.restartedGatewayHealthyAfterHealMs = await lab.waitHealthy(restarted);
                await sleep(riseMs(lab));
            }
            facts.newWritesBackAfterMs = await newWritesBackAfterMs(lab);
            // A route written after the heal reaches the gateways: their watches reconnected.
            const id = `lab-healed-${Date.now()}`;
            await lab.putRoute(id, `/lab/healed/${id}`);
            facts.newRouteServedAfterMs = await waitFor("a route written after the heal to be served", 20_000, async () => (await lab.get(`/lab/healed/${id}`)).status === 200);
            await sleep(1000);
        },
        checks: (o) => [
            ...readFailuresAroundRestart(o, "restartedAt"),
            check("cached routes served without quorum", o.report.facts.cachedRouteStatus === 200, `GET /lab/echo with quorum lost: ${o.report.facts.cachedRouteStatus}`),
            ...(o.report.facts.restartedGateway
                ? [
                      check(
                          "a gateway restarted without quorum stays down, the others serve",
                          typeof o.report.facts.restartedGatewayExitedAfterMs === "number" && o.report.facts.othersServedMeanwhile === 200,
                          `${o.report.facts.restartedGateway} exited ${o.report.facts.restartedGatewayExitedAfterMs} ms after its start (init_etcd: no etcd majority); GET /lab/echo meanwhile: ${o.report.facts.othersServedMeanwhile}`,
                      ),
                      check(
                          "it comes back once etcd has its majority",
                          typeof o.report.facts.restartedGatewayHealthyAfterHealMs === "number",
                          `healthy ${o.report.facts.restartedGatewayHealthyAfterHealMs} ms after its start with etcd healed`,
                      ),
                  ]
                : []),
            noLostWrites(o),
            writesResumed(o),
        ],
    },
    {
        id: "rolling-restart",
        title: "Restart every gateway one at a time: stop, out of the balancer, start, ready, back in the balancer, next",
        notApplicable: (lab) => (lab.gatewaysBalanced ? undefined : "no balancer spreads requests over the gateways"),
        async run({ lab, fault, facts }) {
            fault();
            for (const gw of lab.byService("gateway")) {
                await lab.stop(gw, "SIGTERM");
                // A gateway that comes back before the balancer marked it down gets traffic before it is ready.
                await sleep(detectionMs(lab));
                lab.start(gw);
                facts[`${gw.node}ReadyMs`] = await lab.waitHealthy(gw);
                await sleep(riseMs(lab));
            }
        },
        checks: (o) => {
            const checks = [noLostWrites(o)];
            // nginx (open source) has no active checks: it sends requests to a restarted gateway at once,
            // ready or not, and does not retry the 404 an unsynced gateway answers. Reported, not asserted.
            if (o.report.facts.activeChecks === "yes") checks.unshift(noReadFailures(o));
            return checks;
        },
    },
    {
        id: "rolling-replace",
        title: "Replace every gateway, then every control-plane service, as `pulumi up` replaces them: drain and graceful stop (the rollout step's deletion), a new process, healthy and back in rotation (its creation), next",
        notApplicable: (lab) => (rolledServices(lab).length ? undefined : `the ${lab.spec.target} target runs no rollout steps (docker target)`),
        async run({ lab, fault, facts }) {
            fault();
            const t0 = Date.now();
            for (const svc of rolledServices(lab)) {
                const drained = await lab.runScript(svc.rollout!.drain);
                if (drained.code !== 0) throw new Error(`${svc.container}: the rollout step's deletion failed (exit ${drained.code}):\n${drained.out}`);
                if (lab.supervisor.running(svc.container)) throw new Error(`${svc.container}: still running after the rollout step's deletion stopped it`);
                facts[`${svc.node}-${svc.service} drained+stopped ms`] = drained.ms;
                facts[`${svc.node}-${svc.service} started after ms`] = Date.now() - t0;
                lab.start(svc);
                const ready = await lab.runScript(svc.rollout!.ready);
                if (ready.code !== 0) throw new Error(`${svc.container}: the rollout step's creation failed (exit ${ready.code}):\n${ready.out}`);
                facts[`${svc.node}-${svc.service} healthy+in rotation ms`] = ready.ms;
            }
            facts.replaced = rolledServices(lab).length;
        },
        checks: (o) => {
            const firstAt = o.faultAt + Math.min(...Object.entries(o.report.facts).filter(([k]) => k.endsWith("started after ms")).map(([, v]) => Number(v)));
            // haproxy holds a replacement out (drained) until its health check passes: no read or write may fail.
            // nginx (open source) sends requests to a replacement as soon as it listens; failures after the first
            // replacement starts are reported, as in rolling-restart.
            if (o.report.facts.activeChecks === "yes")
                return [noReadFailures(o), check("no failed writes", o.report.writes.failed === 0, `${o.report.writes.failed} of ${o.report.writes.sent} route PUTs failed`), noLostWrites(o), writesResumed(o)];
            const before = o.load.reads.filter((r) => r.t0 < firstAt);
            o.report.facts.readsFailedAfterFirstReplacement = o.report.reads.failed - before.filter((r) => !r.ok).length;
            return [check("no failed reads before a replacement starts", before.every((r) => r.ok), `drain and graceful stop: ${before.filter((r) => !r.ok).length} of ${before.length} GETs failed`), noLostWrites(o), writesResumed(o)];
        },
    },
    {
        id: "vip-service-failure",
        title: "SIGKILL the protected service on the VIP's master; its check fails, the VIP moves; restart it; the VIP fails back as preempt says",
        notApplicable: noVip(false),
        run: (ctx) => {
            const vip = drillVip(ctx.lab, false)!;
            const role = vip.protects === "load-balancer" ? "load-balancer" : vip.protects;
            let victims: LabService[] = [];
            return vipDrill(ctx, vip, "serviceFailureMs", {
                async inject(holder) {
                    victims = ctx.lab.onNode(holder).filter((s) => s.role === role && s.service !== "keepalived");
                    await Promise.all(victims.map((s) => ctx.lab.stop(s, "SIGKILL")));
                    return victims.map((s) => s.container).join("+");
                },
                // Docker's restart policy brings the service back; it turns healthy, then its check rises.
                async recover() {
                    for (const s of victims) ctx.lab.start(s);
                    ctx.facts.restartHealthyMs = Math.max(...(await Promise.all(victims.map((s) => ctx.lab.waitHealthy(s)))));
                    await sleep(Number(ctx.facts.riseMs));
                },
            });
        },
        checks: (o, lab) => vipChecks(o, lab, drillVip(lab, false)!, "serviceFailureMs"),
    },
    {
        id: "vip-keepalived-kill",
        title: "SIGKILL keepalived on the VIP's master and keep it down; its supervisor clears the address; the backup takes the VIP; restart it; failback as preempt says",
        notApplicable: noVip(true),
        run: (ctx) => {
            const vip = drillVip(ctx.lab, true)!;
            let keepalived: LabService;
            return vipDrill(ctx, vip, "masterDownMs", {
                async inject(holder) {
                    keepalived = ctx.lab.onNode(holder).find((s) => s.service === "keepalived")!;
                    return `${await ctx.lab.crash(keepalived, "keepalived")} keepalived processes on ${holder}`;
                },
                // Docker would restart it at once, and the master (initial state MASTER) would take the VIP
                // straight back: held down until the backup took over, the drill sees the takeover.
                async recover(at) {
                    await waitFor(`${keepalived.container} to exit`, 5000, async () => !ctx.lab.supervisor.running(keepalived.container));
                    ctx.facts.heldDownMs = Date.now() - at;
                    ctx.lab.start(keepalived);
                },
            });
        },
        checks: (o, lab) => vipChecks(o, lab, drillVip(lab, true)!, "masterDownMs"),
    },
    {
        id: "lvs-real-server-failure",
        title: "SIGKILL the gateway on one LVS real server; the director's checker takes it out of the virtual server and reads go to the others; restart it; the checker puts it back",
        notApplicable: (lab) => (lvsVip(lab) ? undefined : "no LVS virtual server in front of the gateways (loadBalancer.kind lvs)"),
        async run({ lab, fault, facts }) {
            const vip = lvsVip(lab)!;
            const { holder } = vipRoles(lab, vip);
            const port = lab.spec.dataPlane.httpPort;
            const real = vip.lvs!.realServers[0].node;
            const gateway = lab.onNode(real.name).find((s) => s.service === "gateway");
            if (!gateway) throw new Error(`real server ${real.name} runs no gateway`);
            const bounds = lvsBounds(lab.spec);
            Object.assign(facts, { virtualServer: `${vip.address}:${port}`, director: holder, realServer: `${real.name} ${real.address}` }, bounds);
            const watch = lab.watchIpvs(holder, vip.address, port);
            try {
                facts.realServersBefore = watch.current().join(",");
                const at = Date.now();
                fault();
                await lab.stop(gateway, "SIGKILL");
                facts.killed = gateway.container;
                await waitFor(`${real.address} out of ${vip.address}:${port} on ${holder}`, bounds.removalMs + 10_000, async () => !watch.current().includes(real.address), 50).catch(() => undefined);
                const removedAt = firstWithout(watch.history(), real.address, at);
                if (removedAt !== undefined) {
                    facts.removedAfterMs = removedAt - at;
                    facts.removedAt = removedAt;
                }
                facts.realServersWhileDown = watch.current().join(",");
                // Reads go on against the remaining real servers for a while.
                await sleep(SETTLE_MS);
                lab.start(gateway);
                const restartAt = Date.now();
                facts.restartHealthyMs = await lab.waitHealthy(gateway);
                const healthyAt = Date.now();
                await waitFor(`${real.address} back in ${vip.address}:${port}`, bounds.readdMs + 10_000, async () => watch.current().includes(real.address), 50).catch(() => undefined);
                const back = firstWith(watch.history(), real.address, restartAt);
                if (back !== undefined) facts.readdedAfterHealthyMs = Math.max(0, back - healthyAt);
                facts.realServersAfter = watch.current().join(",");
                await sleep(SETTLE_MS);
            } finally {
                watch.stop();
            }
        },
        checks: (o) => {
            const f = o.report.facts;
            const real = String(f.realServer).split(" ")[1];
            const bound = Number(f.removalMs) + VIP_SLACK_MS;
            // Reads that started once the real server was out: none of them may fail.
            const after = typeof f.removedAt === "number" ? o.load.reads.filter((r) => r.t0 >= Number(f.removedAt)) : [];
            const failedAfter = after.filter((r) => !r.ok).length;
            return [
                check("both real servers in the virtual server before", String(f.realServersBefore).split(",").length >= 2 && String(f.realServersBefore).includes(real), `before the fault: ${f.realServersBefore}`),
                check("the real server is taken out within the checker's bound", typeof f.removedAfterMs === "number" && f.removedAfterMs <= bound, `${real} out of ${f.virtualServer} ${f.removedAfterMs ?? "never"} ms after the kill (bound ${f.removalMs} ms + ${VIP_SLACK_MS} ms slack)`),
                check("no failed reads once it is out", after.length > 0 && failedAfter === 0, `${failedAfter} of ${after.length} GETs started after the removal failed`),
                check("put back once it is healthy", String(f.realServersAfter).split(",").includes(real), `after recovery: ${f.realServersAfter}, ${f.readdedAfterHealthyMs ?? "never"} ms after its health check passed (bound ${f.readdMs} ms)`),
                noLostWrites(o),
            ];
        },
    },
];

/** Runs one drill under load and judges it. */
export async function runDrill(lab: Lab, drill: Drill, index: number): Promise<DrillOutcome> {
    const idPrefix = `lab-d${index + 1}-`;
    await lab.startLoad({
        reads: { url: `${lab.gatewayUrl}/lab/echo`, concurrency: READERS, maxRequests: MAX_READS },
        writes: { url: lab.adminUrl, auth: lab.adminAuth, idPrefix, upstream: lab.upstream, intervalMs: WRITE_INTERVAL_MS, maxRequests: MAX_WRITES, ...lab.managementTls },
        maxDurationMs: MAX_DRILL_MS,
    });
    let faultAt = 0;
    const facts: Record<string, string | number> = {};
    let error: unknown;
    try {
        await sleep(BASELINE_MS);
        await drill.run({ lab, fault: () => (faultAt = Date.now()), facts });
    } catch (e) {
        error = e;
    }
    const load = await lab.stopLoad();
    const endAt = Date.now();
    if (!error && drill.settle) await drill.settle({ lab, facts }).catch((e: unknown) => (error = e));
    // A drill that failed may leave no store to ask: then its own error is the one to report.
    const present = await lab.routeIds(idPrefix).catch((e: unknown) => {
        throw error ? new Error(`drill ${drill.id} failed: ${error instanceof Error ? error.message : String(error)}\n(and the store could not be read afterwards: ${e instanceof Error ? e.message.split("\n")[0] : String(e)})`) : e;
    });
    const lost = lostWrites(load.writes, present);
    const writes = streamFigures(load.writes, faultAt || endAt, endAt);
    facts.activeChecks = lab.spec.loadBalancer.kind === "haproxy" ? "yes" : "no";
    const report: DrillReport = {
        id: drill.id,
        title: drill.title,
        reads: streamFigures(load.reads, faultAt || endAt, endAt),
        writes: { ...writes, acknowledged: load.writes.filter((w) => w.ok).length, lost: lost.length, lostIds: lost },
        facts,
        checks: [],
    };
    const outcome = { report, load, faultAt };
    report.checks = error ? [check("drill completed", false, error instanceof Error ? error.message : String(error))] : drill.checks(outcome, lab);
    return outcome;
}
