// Long-running lab processes, each started in a namespace in its own process group (nginx's
// workers die with their master), logging to a file, and stopped by signal like a container:
// SIGTERM then SIGKILL after a grace period (`docker stop`), or SIGKILL at once (a crash).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { namespacePids } from "./netns";

/** A process's name, state letter (`Z` a zombie) and parent from /proc/PID/stat; undefined once it has been reaped. */
export function procStat(pid: number): { comm: string; state: string; ppid: number } | undefined {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        // comm is in parentheses and may hold spaces; the fields after it start with state, ppid.
        const end = stat.lastIndexOf(")");
        const [state, ppid] = stat.slice(end + 2).split(" ");
        return { comm: stat.slice(stat.indexOf("(") + 1, end), state, ppid: Number(ppid) };
    } catch {
        return undefined;
    }
}

/** Sends a signal; false when the process is already gone. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
    try {
        process.kill(pid, sig);
        return true;
    } catch {
        return false;
    }
}

/**
 * SIGKILLs every process named `comm` in namespace `ns` so that none of them gets to clean up: a
 * crash. All are stopped (SIGSTOP) before any is killed, parents first: keepalived's parent
 * respawns a child that dies, and a child whose parent dies first exits cleanly (dropping its VIPs).
 * A CI run in the VM killed the children first; the parent respawned the checker, which outlived it
 * and held the pid file ("daemon is already running"), so the restarted keepalived never ran.
 * Repeated until none is left (bounded); returns how many were killed.
 */
export async function crashProcesses(ns: string, comm: string): Promise<number> {
    let killed = 0;
    for (let round = 0; round < 20; round++) {
        const procs = namespacePids(ns)
            .map((pid) => ({ pid, ...procStat(pid) }))
            .filter((p) => p.comm === comm && p.state !== "Z");
        if (!procs.length) return killed;
        const pids = new Set(procs.map((p) => p.pid));
        const ordered = [...procs.filter((p) => !pids.has(p.ppid!)), ...procs.filter((p) => pids.has(p.ppid!))];
        for (const p of ordered) signal(p.pid, "SIGSTOP");
        for (const p of ordered) killed += signal(p.pid, "SIGKILL") ? 1 : 0;
        await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${ns}: ${comm} processes still running after 20 rounds of SIGKILL`);
}

export interface RunResult {
    code: number | null;
    out: string;
    ms: number;
}

/** Runs a command in a namespace to completion (bounded), collecting its output. */
export function execIn(ns: string, argv: string[], opts: { env?: Record<string, string>; timeoutMs: number; input?: string }): Promise<RunResult> {
    const started = Date.now();
    return new Promise((resolve) => {
        const child = spawn("ip", ["netns", "exec", ns, ...argv], { env: { PATH: process.env.PATH ?? "", ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, out, ms: Date.now() - started });
        });
        child.stdin.end(opts.input);
    });
}

export class Supervisor {
    private readonly procs = new Map<string, ChildProcess>();

    constructor(private readonly logDir: string) {}

    /** Starts the service; returns its process-group leader's PID. */
    start(key: string, ns: string, argv: string[], env: Record<string, string>, cwd: string): number {
        if (this.running(key)) throw new Error(`${key} is already running`);
        const fd = openSync(join(this.logDir, `${key}.log`), "a");
        // A file, not a pipe: nginx cannot open a socket as /dev/stdout, and pipes can fill up.
        const child = spawn("ip", ["netns", "exec", ns, ...argv], { detached: true, stdio: ["ignore", fd, fd], env: { PATH: process.env.PATH ?? "", ...env }, cwd });
        closeSync(fd);
        // As Docker ends a container when its PID 1 exits: nothing of the service outlives its leader
        // (an orphaned keepalived child kept its pid file and stopped the next start).
        child.once("exit", () => {
            try {
                process.kill(-child.pid!, "SIGKILL");
            } catch {
                // the group is gone
            }
        });
        this.procs.set(key, child);
        return child.pid!;
    }

    /** What the service has written to its log so far. */
    log(key: string): string {
        const path = join(this.logDir, `${key}.log`);
        return existsSync(path) ? readFileSync(path, "utf8") : "";
    }

    running(key: string): boolean {
        const p = this.procs.get(key);
        return p !== undefined && p.exitCode === null && p.signalCode === null;
    }

    /** Signals the process group; resolves once the leader has exited (SIGKILL after `graceMs`). */
    async stop(key: string, signal: NodeJS.Signals, graceMs = 5000): Promise<void> {
        const p = this.procs.get(key);
        if (!p || !this.running(key)) return;
        const exited = new Promise<void>((resolve) => p.once("exit", () => resolve()));
        const group = (sig: NodeJS.Signals) => {
            try {
                process.kill(-p.pid!, sig);
            } catch {
                // the group is gone
            }
        };
        group(signal);
        const timer = setTimeout(() => group("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
        // Children that outlive their leader (nginx workers) go with the group.
        group("SIGKILL");
    }

    async stopAll(): Promise<void> {
        await Promise.all([...this.procs.keys()].map((k) => this.stop(k, "SIGKILL")));
    }
}
