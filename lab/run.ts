// The HA lab: runs a stack's rendered topology with real daemons in network namespaces and
// drills its failover under load (see docs/lab.md). Linux, root.
//
//   npm run test:lab -- [--stack NAME] [--config-file FILE] [--set KEY=VALUE]... [--org-certificate HOST] [--drills ID,…] [--report PATH]
//   npm run test:lab -- [--stack NAME] [--set KEY=VALUE]... --change KEY=VALUE [--change …] [--then KEY=VALUE …] [--report PATH]
//   npm run test:lab -- [--stack NAME] [--set KEY=VALUE]... [--wipe NODE] --replace NAME [--replace …] [--report PATH]
//   npm run test:lab -- [--stack NAME] [--set KEY=VALUE]... [--change KEY=VALUE]... --destroy [--report PATH]
//
// With --change or --replace, the one drill is the update: the stack as --set says is brought up,
// then the change is applied to it as `pulumi up [--replace URN]` would, under load. --wipe first
// empties the data of the etcd member on NODE (a lost disk). Each --then is one more `pulumi up`
// after the previous one, with one more change (a rotation's phases), under the same load.
// --destroy: `pulumi destroy --exclude-protected`, then `pulumi up` again (after the change, with
// --change), under load; every write acknowledged before must be there after, in the same etcd cluster.
//
// Exit 0 when every drill's checks pass, 1 when one fails, 2 on bad usage or configuration.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { procStat } from "./processes";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigValidationError } from "../components/config";
import { parseCli, UsageError } from "../scripts/lib/cli";
import { describePlan } from "./change";
import { DRILLS, runDrill, updateDrill } from "./drills";
import { Lab } from "./lab";
import { destroyLabNetwork } from "./netns";
import { HOST_PROGRAMS } from "./programs";
import { formatTable, type LabReport } from "./report";

export interface LabArgs {
    stack: string;
    configFile?: string;
    sets: string[];
    report: string;
    /** Drill ids to run; all of them when empty. */
    drills: string[];
    /** Config changes an update drill applies to the running stack (`--change`, as `--set`). */
    changes: string[];
    /** Resources the update drill replaces whatever their inputs (`pulumi up --replace`), by name. */
    replace: string[];
    /** The node of an etcd member whose data the update drill wipes before it applies the change. */
    wipe?: string;
    /** Further `pulumi up`s after the change, one more KEY=VALUE each, in order (`--then`). */
    then: string[];
    /** The update drill ends with `pulumi destroy --exclude-protected`, then `pulumi up` with the same config (`--destroy`). */
    destroy: boolean;
    /** `--org-certificate HOST`: the stack serves controlPlane.certificate, one an organisation's CA issued for HOST. */
    orgCertificate?: string;
}

export function parseLabArgs(argv: string[]): LabArgs {
    const text = { type: "string" } as const;
    const repeated = { type: "string", multiple: true } as const;
    const o = parseCli(argv, {
        stack: text,
        "config-file": text,
        report: text,
        drills: text,
        wipe: text,
        "org-certificate": text,
        set: repeated,
        change: repeated,
        replace: repeated,
        then: repeated,
        destroy: { type: "boolean" },
    });
    const destroy = o.destroy ?? false;
    const drills = (o.drills ?? "").split(",").filter(Boolean);
    const changes = o.change ?? [];
    const replace = o.replace ?? [];
    const wipe = o.wipe;
    const then = o.then ?? [];
    if (destroy && (replace.length || then.length || wipe !== undefined || drills.length))
        throw new UsageError("--destroy is destroy --exclude-protected, then up, after any --change: leave out --replace, --then, --wipe and --drills");
    if (then.length && !changes.length && !replace.length) throw new UsageError("--then is a further `pulumi up` after the change: give --change or --replace too");
    if ((changes.length || replace.length) && drills.length) throw new UsageError("--change and --replace run the update drill alone: leave out --drills");
    if (wipe !== undefined && !changes.length && !replace.length) throw new UsageError("--wipe is a fault before an update: give --change or --replace too");
    const unknown = drills.filter((id) => !DRILLS.some((d) => d.id === id));
    if (unknown.length) throw new UsageError(`--drills: no drill ${unknown.join(", ")} (drills: ${DRILLS.map((d) => d.id).join(", ")})`);
    return {
        drills,
        stack: o.stack ?? "dev",
        ...(o["config-file"] !== undefined ? { configFile: o["config-file"] } : {}),
        sets: o.set ?? [],
        changes,
        replace,
        then,
        destroy,
        ...(wipe !== undefined ? { wipe } : {}),
        ...(o["org-certificate"] !== undefined ? { orgCertificate: o["org-certificate"] } : {}),
        report: o.report ?? "lab-report.json",
    };
}

/** One lab at a time on a machine: the namespaces have fixed names. */
export const LOCK = join(tmpdir(), "gateway-ha-lab.lock");
const WORK_DIR = join(tmpdir(), "gateway-ha-lab");

function processExists(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

export function takeLock(): void {
    if (existsSync(LOCK)) {
        const pid = Number(readFileSync(LOCK, "utf8"));
        const alive = pid > 0 && processExists(pid);
        if (alive) throw new UsageError(`another lab run (pid ${pid}) is in progress`);
    }
    writeFileSync(LOCK, String(process.pid));
}

/** SIGKILLs this process's direct children (synchronous: safe in a signal handler). */
function killChildren(): void {
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number)) {
        if (procStat(pid)?.ppid !== process.pid) continue;
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // exited meanwhile
        }
    }
}

function preflight(): void {
    if (process.platform !== "linux" || process.getuid?.() !== 0) throw new UsageError("the lab needs Linux and root (it creates network namespaces)");
    const needed = ["etcd", "etcdctl", "haproxy", "nginx", "keepalived", "curl"].map((p) => HOST_PROGRAMS[p]);
    const missing = [...needed, "/usr/bin/openssl"].filter((p) => !existsSync(p));
    if (missing.length) throw new UsageError(`missing programs: ${missing.join(", ")} (.ci/run installs them with apt-get)`);
}

async function main(): Promise<number> {
    const args = parseLabArgs(process.argv.slice(2));
    preflight();
    takeLock();
    destroyLabNetwork(); // leftovers of an interrupted run
    let lab: Lab | undefined;
    let interrupted = false;
    const onSignal = (sig: NodeJS.Signals) => {
        interrupted = true;
        process.stderr.write(`\nlab: ${sig}, cleaning up\n`);
        // A probe spawned a moment ago may not have entered its namespace yet, so the namespace sweep would miss it.
        killChildren();
        destroyLabNetwork();
        rmSync(LOCK, { force: true });
        process.exit(130);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const started = Date.now();
    const log = (s: string) => process.stderr.write(`lab: ${s}\n`);
    try {
        lab = await Lab.create({ ...args, workDir: WORK_DIR });
        log(`stack ${args.stack}: ${lab.d.nodes.length} nodes, ${lab.d.services.length} services; work dir ${WORK_DIR}`);
        await lab.setUp(log);
        const report: LabReport = {
            stack: args.stack,
            layout: lab.spec.layout,
            balancer: lab.spec.loadBalancer.kind,
            flavor: lab.spec.flavor,
            startedAt: new Date(started).toISOString(),
            setupMs: Date.now() - started,
            drills: [],
            skipped: [],
            passed: false,
            ...(lab.change ? { change: { sets: lab.change.sets, plan: describePlan(lab.change.plan) } } : {}),
        };
        if (lab.change) {
            log(`the change ${lab.change.sets.join(" ")}, as \`pulumi up\` would apply it:`);
            for (const line of describePlan(lab.change.plan)) log(`  ${line}`);
            for (const t of lab.then)
                log(t === "destroy --exclude-protected" ? `then \`pulumi ${t}\`` : t === "up" ? "then `pulumi up` with the same config (planned from what runs then)" : `then \`pulumi up\` with ${t} as well (planned from what runs then)`);
        }
        const drills = lab.change ? [updateDrill(lab)] : DRILLS;
        for (const [i, drill] of drills.entries()) {
            const skip = args.drills.length && !args.drills.includes(drill.id) ? "not chosen (--drills)" : drill.notApplicable?.(lab);
            if (skip) {
                report.skipped.push({ id: drill.id, reason: skip });
                log(`drill ${i + 1}/${drills.length}: ${drill.id}: skipped, ${skip}`);
                continue;
            }
            log(`drill ${i + 1}/${drills.length}: ${drill.id}`);
            const { report: r } = await runDrill(lab, drill, i);
            report.drills.push(r);
            for (const c of r.checks.filter((c) => !c.ok)) log(`  FAIL ${c.name}: ${c.detail}`);
        }
        report.passed = report.drills.every((d) => d.checks.every((c) => c.ok));
        writeFileSync(resolve(args.report), JSON.stringify(report, null, 2) + "\n");
        process.stdout.write(formatTable(report) + `\nReport: ${resolve(args.report)}\n`);
        return report.passed ? 0 : 1;
    } finally {
        if (!interrupted) {
            await lab?.tearDown();
            destroyLabNetwork();
            rmSync(LOCK, { force: true });
            log(`cleaned up (logs kept in ${join(WORK_DIR, "logs")})`);
        }
    }
}

if (require.main === module) {
    process.setSourceMapsEnabled(false);
    main().then(
        (code) => process.exit(code),
        (e) => {
            if (e instanceof UsageError || e instanceof ConfigValidationError) {
                process.stderr.write(`test:lab: ${e.message}\n`);
                process.exit(2);
            }
            process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
            process.exit(1);
        },
    );
}
