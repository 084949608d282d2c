// Who holds a keepalived VIP, watched without polling: `ip -ts monitor address` in each of the VIP's
// node namespaces reports, with the time `ip` read it from the kernel (µs), each address keepalived
// adds or deletes. The timeline
// functions are pure: a drill's figures (time to move, time to fail back, moments with the VIP on
// two nodes) come from the recorded events.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface VipEvent {
    /** ms since the epoch (fractional), when `ip` read the kernel's notification. */
    t: number;
    node: string;
    held: boolean;
}

/**
 * Whether an `ip -ts monitor address` / `ip addr show` line is about this IPv4 address ("Deleted"
 * lines remove it), and its timestamp (`[2026-11-22T00:23:12.446135]`, local time) if it has one.
 */
export function parseAddressLine(line: string, address: string): { held: boolean; t?: number } | undefined {
    const m = /^\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d+)\] (.*)$/.exec(line);
    const rest = m ? m[8] : line;
    if (!new RegExp(`\\binet ${address.replace(/\./g, "\\.")}/\\d+\\b`).test(rest)) return undefined;
    const held = !rest.startsWith("Deleted");
    if (!m) return { held };
    const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number);
    return { held, t: new Date(y, mo - 1, d, h, mi, sec).getTime() + Number(`0.${m[7]}`) * 1000 };
}

/** Holders at time `t` (events before or at `t`), starting from `initial`. */
export function holdersAt(events: VipEvent[], initial: string[], t: number): string[] {
    const held = new Set(initial);
    for (const e of events) {
        if (e.t > t) break;
        if (e.held) held.add(e.node);
        else held.delete(e.node);
    }
    return [...held].sort();
}

export interface Timeline {
    /** Stretches of time with the set of holders in each, from `from` to `to`. */
    spans: { from: number; to: number; holders: string[] }[];
}

export function timeline(events: VipEvent[], initial: string[], from: number, to: number): Timeline {
    const spans: Timeline["spans"] = [];
    const held = new Set(initial);
    let start = from;
    const sorted = [...events].sort((a, b) => a.t - b.t);
    for (const e of sorted) {
        if (e.t <= from) {
            e.held ? held.add(e.node) : held.delete(e.node);
            continue;
        }
        if (e.t > to) break;
        const before = [...held].sort().join(",");
        e.held ? held.add(e.node) : held.delete(e.node);
        if ([...held].sort().join(",") === before) continue;
        spans.push({ from: start, to: e.t, holders: before ? before.split(",") : [] });
        start = e.t;
    }
    spans.push({ from: start, to, holders: [...held].sort() });
    return { spans };
}

/** Total ms with the VIP on two nodes or more. */
export function splitBrainMs(t: Timeline): number {
    return t.spans.filter((s) => s.holders.length > 1).reduce((sum, s) => sum + (s.to - s.from), 0);
}

/** The longest single stretch with the VIP on two nodes or more. */
export function longestSplitMs(t: Timeline): number {
    return Math.max(0, ...t.spans.filter((s) => s.holders.length > 1).map((s) => s.to - s.from));
}

/** Total ms with the VIP on no node. */
export function vacantMs(t: Timeline): number {
    return t.spans.filter((s) => s.holders.length === 0).reduce((sum, s) => sum + (s.to - s.from), 0);
}

/** The longest single stretch with the VIP on no node. */
export function longestVacantMs(t: Timeline): number {
    return Math.max(0, ...t.spans.filter((s) => s.holders.length === 0).map((s) => s.to - s.from));
}

/** When `node` alone first holds the VIP at or after `after`; undefined if never. */
export function soleHolderAt(t: Timeline, node: string, after: number): number | undefined {
    const s = t.spans.find((x) => x.to > after && x.holders.length === 1 && x.holders[0] === node);
    return s && Math.max(s.from, after);
}

/** The holders listed by `ip addr show` in a namespace now. */
export function holdsNow(ns: string, address: string): boolean {
    const r = spawnSync("ip", ["-n", ns, "-4", "addr", "show"], { encoding: "utf8", timeout: 5000 });
    return r.stdout.split("\n").some((l) => parseAddressLine(l.trim(), address)?.held === true);
}

/** Watches one VIP on its nodes until stopped. */
export class VipWatch {
    readonly events: VipEvent[] = [];
    readonly initial: string[];
    readonly startedAt = Date.now();
    private readonly monitors: ChildProcess[] = [];

    constructor(
        readonly address: string,
        nodes: { node: string; ns: string }[],
    ) {
        for (const { node, ns } of nodes) {
            const m = spawn("ip", ["-ts", "-n", ns, "monitor", "address"], { stdio: ["ignore", "pipe", "ignore"] });
            createInterface({ input: m.stdout! }).on("line", (line) => {
                const p = parseAddressLine(line, address);
                if (p) this.events.push({ t: p.t ?? Date.now(), node, held: p.held });
            });
            this.monitors.push(m);
        }
        // Read after the monitors started, so no change falls between the two.
        this.initial = nodes.filter((n) => holdsNow(n.ns, address)).map((n) => n.node);
    }

    holders(): string[] {
        return holdersAt(this.events, this.initial, Date.now());
    }

    timeline(from = this.startedAt, to = Date.now()): Timeline {
        return timeline(this.events, this.initial, from, to);
    }

    stop(): void {
        for (const m of this.monitors) m.kill("SIGKILL");
    }
}
