// Benchmark of the offline preview: wall time and peak memory of
//   baseline  scripts/bench-baseline.ts: imports the same SDKs and libraries, then exits;
//   dev       the offline preview of the standard 7-node dev stack (Pulumi.dev.yaml);
//   100 gw    the offline preview of Pulumi.dev.yaml plus `gateway-ha:dataPlane: {replicas: 100}`,
//             written to a temporary config file and passed with --config-file,
// against the goals preview(dev) / baseline <= 1.5x (time and memory) and
// preview(100 gw) / preview(dev) <= 5x (time and memory). It prints PASS/MISS per goal and
// always exits 0: a benchmark reports figures, it never fails a build.
//
//   npm run --silent bench -- [--runs N] [--warmup N] [--gateways N] [--json]
//
// How it measures. Every run is a fresh child process, launched the same way for all three
// cases: `node --require <preload> --import tsx <script> ...` (tsx's documented loader
// registration, the same transpiler the `tsx` command uses, minus its wrapper process, which
// would otherwise be a second node process in the tree). The preload, written to a temporary
// directory, hooks process 'exit' (reached on a normal end and on process.exit) and writes
// process.resourceUsage().maxRSS (getrusage ru_maxrss, KiB) and the user + system CPU time to
// the file named by BENCH_MAXRSS_FILE. This needs no external tool (unlike `/usr/bin/time -f %M`, Debian package
// `time`) and measures exactly the program's process: none of the three spawns children, so it
// is the peak of the whole run. A child killed by a signal writes nothing and counts as failed.
// Wall time is taken in this process from spawn to the child's exit, so it includes node
// start-up, loader registration and module loading, the same for every case.
// Each case gets --warmup unmeasured runs first (they also fill tsx's transpile cache), then the
// measured runs go round-robin over the cases, so a drift in machine load hits all of them alike.
// Every run is checked: exit status 0, and for the previews a JSON document whose `nodes` output
// has the expected number of data-plane nodes (so the 100-gateway config really validated).
// Reported: median and min wall time, max RSS over the runs (also the median RSS in --json), and
// the median CPU time (user + system, from the same record). Goals: time uses median wall time,
// memory uses max RSS; the time goals also show, for information, the ratio of min wall times
// and of CPU times, which a busy machine (load above the core count) distorts much less.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { parseCli, UsageError } from "./lib/cli";

const ROOT = path.resolve(__dirname, "..");
const CHILD_TIMEOUT_MS = 120_000;

interface BenchArgs {
    runs: number;
    warmup: number;
    gateways: number;
    json: boolean;
}

function parseBenchArgs(argv: string[]): BenchArgs {
    const o = parseCli(argv, { runs: { type: "string" }, warmup: { type: "string" }, gateways: { type: "string" }, json: { type: "boolean" } });
    const count = (flag: "runs" | "warmup" | "gateways", dflt: number, min: number) => {
        const n = Number(o[flag] ?? dflt);
        if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} needs an integer >= ${min}`);
        return n;
    };
    return { runs: count("runs", 5, 1), warmup: count("warmup", 1, 0), gateways: count("gateways", 100, 1), json: o.json ?? false };
}

interface Case {
    id: "baseline" | "dev" | "scaled";
    label: string;
    argv: string[];
    /** Checks a finished run's stdout; returns facts for the report (resource and gateway counts). */
    check: (stdout: string) => { resources?: number; gateways?: number };
}

interface RunResult {
    wallMs: number;
    maxRssKiB: number;
    cpuMs: number;
}

interface CaseResult {
    id: Case["id"];
    label: string;
    resources?: number;
    gateways?: number;
    runs: RunResult[];
    error?: string;
}

const PRELOAD = `// written by scripts/bench.ts: records this process's peak RSS (and CPU time) when it exits
"use strict";
const file = process.env.BENCH_MAXRSS_FILE;
if (file) process.on("exit", () => {
    const u = process.resourceUsage();
    require("node:fs").writeFileSync(file, JSON.stringify({ maxRSS: u.maxRSS, cpuMicros: u.userCPUTime + u.systemCPUTime }));
});
`;

function previewCheck(expectedGateways?: number) {
    return (stdout: string) => {
        const doc = JSON.parse(stdout) as { resources: unknown[]; outputs: { nodes?: Record<string, { roles: string[] }> } };
        const gateways = Object.values(doc.outputs.nodes ?? {}).filter((n) => n.roles.includes("data-plane")).length;
        if (expectedGateways !== undefined && gateways !== expectedGateways)
            throw new Error(`expected ${expectedGateways} data-plane nodes in the preview, found ${gateways}`);
        return { resources: doc.resources.length, gateways };
    };
}

/** Pulumi.dev.yaml with dataPlane.replicas set, as a stack config file in the same format. */
function writeScaledConfig(dir: string, gateways: number): string {
    const doc = parseDocument(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8"));
    doc.setIn(["config", "gateway-ha:dataPlane", "replicas"], gateways);
    const file = path.join(dir, `Pulumi.bench-${gateways}gw.yaml`);
    fs.writeFileSync(file, `# generated by scripts/bench.ts: Pulumi.dev.yaml with ${gateways} gateways\n${doc.toString()}`);
    return file;
}

function runOnce(c: Case, preload: string, rssFile: string): Promise<RunResult & { stdout: string }> {
    fs.rmSync(rssFile, { force: true });
    return new Promise((resolve, reject) => {
        const start = process.hrtime.bigint();
        const child = spawn(process.execPath, ["--require", preload, "--import", "tsx", ...c.argv], {
            cwd: ROOT,
            env: { ...process.env, BENCH_MAXRSS_FILE: rssFile },
            stdio: ["ignore", "pipe", "pipe"],
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        let wallMs = 0;
        const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_TIMEOUT_MS);
        child.on("exit", () => {
            wallMs = Number(process.hrtime.bigint() - start) / 1e6;
        });
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            const stderr = Buffer.concat(err).toString("utf8").trim();
            if (code !== 0)
                return reject(new Error(`exit ${signal ?? code}${stderr ? `\n${stderr.split("\n").slice(-15).join("\n")}` : ""}`));
            let usage: { maxRSS?: unknown; cpuMicros?: unknown } = {};
            try {
                usage = JSON.parse(fs.readFileSync(rssFile, "utf8"));
            } catch {
                // no record: handled below
            }
            if (typeof usage.maxRSS !== "number" || usage.maxRSS <= 0 || typeof usage.cpuMicros !== "number")
                return reject(new Error(`no peak-RSS record from the child`));
            resolve({ wallMs, maxRssKiB: usage.maxRSS, cpuMs: usage.cpuMicros / 1000, stdout: Buffer.concat(out).toString("utf8") });
        });
    });
}

const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function summary(r: CaseResult) {
    if (r.error || r.runs.length === 0) return undefined;
    const wall = r.runs.map((x) => x.wallMs);
    const rss = r.runs.map((x) => x.maxRssKiB);
    return {
        medianWallMs: Math.round(median(wall)),
        minWallMs: Math.round(Math.min(...wall)),
        medianCpuMs: Math.round(median(r.runs.map((x) => x.cpuMs))),
        maxRssKiB: Math.max(...rss),
        medianRssKiB: Math.round(median(rss)),
    };
}

async function main() {
    let args: BenchArgs;
    try {
        args = parseBenchArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`bench: ${(e as Error).message}\nusage: npm run --silent bench -- [--runs N] [--warmup N] [--gateways N] [--json]\n`);
        return;
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-ha-bench-"));
    const started = Date.now();
    // The machine's load when we start: other work on the cores shows up as spread between median and min.
    const loadAtStart = Math.round(os.loadavg()[0] * 100) / 100;
    try {
        const preload = path.join(tmp, "maxrss-preload.cjs");
        fs.writeFileSync(preload, PRELOAD);
        const rssFile = path.join(tmp, "maxrss");
        const scaledConfig = writeScaledConfig(tmp, args.gateways);
        const cases: Case[] = [
            {
                id: "baseline",
                label: "baseline (SDK imports only)",
                argv: ["scripts/bench-baseline.ts"],
                check: (stdout) => {
                    if (!stdout.startsWith("loaded pulumi docker tls random command yaml zod")) throw new Error(`baseline: unexpected output ${stdout}`);
                    return {};
                },
            },
            { id: "dev", label: "preview dev (7 nodes)", argv: ["scripts/preview-offline.ts", "--stack", "dev", "--json"], check: previewCheck() },
            {
                id: "scaled",
                label: `preview ${args.gateways} gateways`,
                argv: ["scripts/preview-offline.ts", "--stack", "dev", "--config-file", scaledConfig, "--json"],
                check: previewCheck(args.gateways),
            },
        ];
        const results = new Map<Case["id"], CaseResult>(cases.map((c) => [c.id, { id: c.id, label: c.label, runs: [] }]));
        const log = (s: string) => {
            if (!args.json) process.stderr.write(s);
        };
        const step = async (c: Case, measured: boolean) => {
            const r = results.get(c.id)!;
            if (r.error) return;
            try {
                const { stdout, ...run } = await runOnce(c, preload, rssFile);
                Object.assign(r, c.check(stdout));
                if (measured) r.runs.push(run);
                log(".");
            } catch (e) {
                r.error = (e as Error).message;
                log("x");
            }
        };
        log(`bench: ${args.warmup} warm-up + ${args.runs} measured runs per case `);
        for (let i = 0; i < args.warmup; i++) for (const c of cases) await step(c, false);
        for (let i = 0; i < args.runs; i++) for (const c of cases) await step(c, true);
        log(` ${((Date.now() - started) / 1000).toFixed(0)} s\n\n`);

        const s = Object.fromEntries(cases.map((c) => [c.id, summary(results.get(c.id)!)])) as Record<Case["id"], ReturnType<typeof summary>>;
        const round2 = (x: number | undefined) => (x === undefined ? undefined : Math.round(x * 100) / 100);
        const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || !b ? undefined : a / b);
        const goals = [
            { goal: "preview(dev) / baseline, wall time (median)", limit: 1.5, ratio: ratio(s.dev?.medianWallMs, s.baseline?.medianWallMs), minRatio: ratio(s.dev?.minWallMs, s.baseline?.minWallMs), cpuRatio: ratio(s.dev?.medianCpuMs, s.baseline?.medianCpuMs) },
            { goal: "preview(dev) / baseline, peak memory (max RSS)", limit: 1.5, ratio: ratio(s.dev?.maxRssKiB, s.baseline?.maxRssKiB) },
            { goal: `preview(${args.gateways} gw) / preview(dev), wall time (median)`, limit: 5, ratio: ratio(s.scaled?.medianWallMs, s.dev?.medianWallMs), minRatio: ratio(s.scaled?.minWallMs, s.dev?.minWallMs), cpuRatio: ratio(s.scaled?.medianCpuMs, s.dev?.medianCpuMs) },
            { goal: `preview(${args.gateways} gw) / preview(dev), peak memory (max RSS)`, limit: 5, ratio: ratio(s.scaled?.maxRssKiB, s.dev?.maxRssKiB) },
        ].map((g: { goal: string; limit: number; ratio?: number; minRatio?: number; cpuRatio?: number }) => ({
            ...g,
            ratio: round2(g.ratio),
            // Informational, less sensitive to a busy machine: the ratio over the fastest runs and over CPU time.
            minRatio: round2(g.minRatio),
            cpuRatio: round2(g.cpuRatio),
            status: g.ratio === undefined ? "N/A" : g.ratio <= g.limit ? "PASS" : "MISS",
        }));

        const env = { node: process.version, platform: `${process.platform} ${process.arch}`, cpus: os.cpus().length, loadAverage1m: loadAtStart, runs: args.runs, warmup: args.warmup };
        if (args.json) {
            const doc = {
                ...env,
                durationSeconds: Math.round((Date.now() - started) / 1000),
                cases: cases.map((c) => {
                    const r = results.get(c.id)!;
                    return { id: c.id, label: c.label, resources: r.resources, gateways: r.gateways, ...s[c.id], wallMs: r.runs.map((x) => Math.round(x.wallMs)), maxRssKiBPerRun: r.runs.map((x) => x.maxRssKiB), cpuMs: r.runs.map((x) => Math.round(x.cpuMs)), error: r.error };
                }),
                goals,
            };
            process.stdout.write(JSON.stringify(doc, null, 2) + "\n");
            return;
        }
        const secs = (ms: number | undefined) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`);
        const mib = (kib: number | undefined) => (kib === undefined ? "-" : `${(kib / 1024).toFixed(1)} MiB`);
        const rows = [
            ["case", "resources", "median wall", "min wall", "max RSS", "median CPU"],
            ...cases.map((c) => {
                const r = results.get(c.id)!;
                return [c.label, r.resources === undefined ? "-" : String(r.resources), secs(s[c.id]?.medianWallMs), secs(s[c.id]?.minWallMs), mib(s[c.id]?.maxRssKiB), secs(s[c.id]?.medianCpuMs)];
            }),
        ];
        const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
        const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
        const out = [
            `gateway-ha offline-preview benchmark: node ${env.node}, ${env.platform}, ${env.cpus} CPUs (load ${env.loadAverage1m} at start), ${args.runs} measured runs per case (+${args.warmup} warm-up), each a fresh \`node --import tsx\` process`,
            "",
            line(rows[0]),
            ...rows.slice(1).map(line),
            "",
            "Goals (time: medians; memory: max RSS):",
            ...goals.map((g) => `  ${g.status.padEnd(4)}  ${g.goal}: ${g.ratio === undefined ? "-" : `${g.ratio.toFixed(2)}x`} (goal <= ${g.limit}x)${g.minRatio === undefined ? "" : `; min wall: ${g.minRatio.toFixed(2)}x`}${g.cpuRatio === undefined ? "" : `, median CPU: ${g.cpuRatio.toFixed(2)}x`}`),
            ...cases.flatMap((c) => (results.get(c.id)!.error ? ["", `${c.label} failed: ${results.get(c.id)!.error}`] : [])),
        ];
        process.stdout.write(out.join("\n") + "\n");
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

// Figures only: whatever happens, the exit status is 0.
main()
    .catch((e) => process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`))
    .finally(() => {
        process.exitCode = 0;
    });
