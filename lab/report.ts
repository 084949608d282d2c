// Figures and checks of the drills, from the client's request records: pure functions, the
// stdout table and lab-report.json.
import type { RequestRecord, WriteRecord } from "./agent";

export interface Check {
    name: string;
    ok: boolean;
    detail: string;
}

export interface StreamFigures {
    sent: number;
    failed: number;
    /** Longest stretch after the fault with no successful response (ms); see unavailabilityWindowMs. */
    windowMs: number;
    /** The failed requests by what they got: `HTTP 502`, or the client's error (`ECONNRESET`, `timeout after 10000 ms`). */
    failures: Record<string, number>;
    /** When the first failed requests started, ms from the fault (negative: before it), at most FAILURE_TIMES of them. */
    failedAtMs: number[];
}

/** How many failure start times a report keeps per stream: enough to tell a burst at the fault from strays later. */
export const FAILURE_TIMES = 20;

/** What a failed request got, as the report counts it. */
export const failureKind = (r: RequestRecord): string => (r.status ? `HTTP ${r.status}` : (r.error ?? "no response"));

export interface DrillReport {
    id: string;
    title: string;
    reads: StreamFigures;
    writes: StreamFigures & { acknowledged: number; lost: number; lostIds: string[] };
    /** Drill-specific figures, e.g. which member was leader, how long recovery took. */
    facts: Record<string, string | number>;
    checks: Check[];
}

export interface LabReport {
    stack: string;
    layout: string;
    balancer: string;
    flavor: string;
    startedAt: string;
    setupMs: number;
    drills: DrillReport[];
    /** Drills that do not fit the stack, and why. */
    skipped: { id: string; reason: string }[];
    passed: boolean;
    /** An update drill's change (`--change`) and its plan, one line per resource. */
    change?: { sets: string[]; plan: string[] };
}

/**
 * The unavailability window: the longest gap between consecutive successful responses (by
 * completion time) from the fault until the end of the drill, counting from the fault itself.
 * Failures and stalls both widen it; under no fault it is about the client's pacing. With no
 * success after the fault, or none after some point, it runs to the end of the drill.
 */
export function unavailabilityWindowMs(records: RequestRecord[], faultAt: number, endAt: number): number {
    const ends = records
        .filter((r) => r.ok && r.t1 >= faultAt)
        .map((r) => r.t1)
        .sort((a, b) => a - b);
    // From the fault, through every success, to the end: a stream that stops for good counts to the end.
    const marks = [faultAt, ...ends, Math.max(endAt, ends[ends.length - 1] ?? endAt)];
    let longest = 0;
    for (let i = 1; i < marks.length; i++) longest = Math.max(longest, marks[i] - marks[i - 1]);
    return Math.round(longest);
}

/** Acknowledged writes whose key is not in the store afterwards. */
export function lostWrites(writes: WriteRecord[], presentIds: Set<string>): string[] {
    return writes.filter((w) => w.ok && !presentIds.has(w.id)).map((w) => w.id);
}

/** The last `n` requests by start time (concurrent readers finish out of order). */
export function lastStarted(records: RequestRecord[], n: number): RequestRecord[] {
    return [...records].sort((a, b) => a.t0 - b.t0).slice(-n);
}

/** Whether the stream was succeeding again at the end: its last `n` requests by start all succeeded. */
export function resumed(records: RequestRecord[], n = 1): boolean {
    const last = lastStarted(records, n);
    return last.length === n && last.every((r) => r.ok);
}

/** What `resumed` judged, for the report: the same requests, oldest first. */
export function describeLast(records: RequestRecord[], n: number): string {
    return lastStarted(records, n).map((r) => (r.ok ? "ok" : `${r.status || r.error}`)).join(", ") || "none";
}

export function streamFigures(records: RequestRecord[], faultAt: number, endAt: number): StreamFigures {
    const failed = records.filter((r) => !r.ok).sort((a, b) => a.t0 - b.t0);
    const failures: Record<string, number> = {};
    for (const r of failed) failures[failureKind(r)] = (failures[failureKind(r)] ?? 0) + 1;
    return {
        sent: records.length,
        failed: failed.length,
        windowMs: unavailabilityWindowMs(records, faultAt, endAt),
        failures,
        failedAtMs: failed.slice(0, FAILURE_TIMES).map((r) => Math.round(r.t0 - faultAt)),
    };
}

export const check = (name: string, ok: boolean, detail: string): Check => ({ name, ok, detail });

export function formatTable(report: LabReport): string {
    const head = ["drill", "reads", "failed", "read gap ms", "writes", "acked", "failed", "write gap ms", "lost", "checks"];
    const rows = report.drills.map((d) => [
        d.id,
        d.reads.sent,
        d.reads.failed,
        d.reads.windowMs,
        d.writes.sent,
        d.writes.acknowledged,
        d.writes.failed,
        d.writes.windowMs,
        d.writes.lost,
        d.checks.every((c) => c.ok) ? "pass" : "FAIL",
    ].map(String));
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
    const out = [
        `HA lab: stack ${report.stack} (${report.flavor}, ${report.layout} layout, ${report.balancer} balancer), setup ${report.setupMs} ms`,
        line(head),
        line(widths.map((w) => "-".repeat(w))),
        ...rows.map(line),
        "",
    ];
    for (const d of report.drills) {
        out.push(`${d.id}: ${d.title}`);
        const facts = Object.entries(d.facts).map(([k, v]) => `${k}=${v}`);
        if (facts.length) out.push(`  ${facts.join("  ")}`);
        for (const [stream, f] of [["reads", d.reads], ["writes", d.writes]] as const)
            if (f.failed)
                out.push(`  ${stream} failed: ${Object.entries(f.failures).map(([kind, n]) => `${kind} ×${n}`).join(", ")}; started at ${f.failedAtMs.map((ms) => `${ms >= 0 ? "+" : ""}${ms}`).join(", ")} ms from the fault`);
        for (const c of d.checks) out.push(`  [${c.ok ? "ok" : "FAIL"}] ${c.name}: ${c.detail}`);
    }
    for (const s of report.skipped) out.push(`${s.id}: skipped: ${s.reason}`);
    out.push("", report.passed ? "All drills passed." : "Some checks FAILED.");
    return out.join("\n");
}
