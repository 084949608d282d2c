// The HA lab's cleanup on interruption: Ctrl-C in the middle of setup leaves no namespace, no
// process and no lock behind, and the next run starts cleanly. (The drills themselves run in CI
// through `npm run test:lab`, once per balancer kind and layout: see .ci/run.)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NS_PREFIX } from "../../lab/netns";
import { HOST_PROGRAMS } from "../../lab/programs";
import { ROOT } from "../unit/helpers";

const canRun = process.platform === "linux" && process.getuid?.() === 0 && ["etcd", "etcdctl", "haproxy", "curl"].every((p) => existsSync(HOST_PROGRAMS[p]));

const labNamespaces = () =>
    spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
        .stdout.split("\n")
        .map((l) => l.split(" ")[0])
        .filter((n) => n.startsWith(NS_PREFIX));

/** Processes whose command line mentions the lab's work directory (its daemons all do). */
function labProcesses(): string[] {
    const work = join(tmpdir(), "gateway-ha-lab");
    const found: string[] = [];
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
            const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
            if (cmd.includes(work)) found.push(`${pid}: ${cmd.slice(0, 120)}`);
        } catch {
            // exited meanwhile
        }
    }
    return found;
}

/** Starts the lab, waits for `marker` on stderr (namespaces and daemons exist), sends SIGINT. */
function interruptAt(marker: RegExp): Promise<{ code: number | null; stderr: string; namespacesBefore: string[]; processesBefore: number }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "lab", "run.ts"), "--stack", "dev", "--report", join(tmpdir(), "lab-interrupted.json")], {
            cwd: ROOT,
            stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        let namespacesBefore: string[] = [];
        let processesBefore = 0;
        const timer = setTimeout(() => {
            child.kill("SIGKILL");
            reject(new Error(`no ${marker} within 60 s:\n${stderr}`));
        }, 60_000);
        child.stderr.on("data", (d) => {
            const before = stderr;
            stderr += d;
            if (!marker.test(before) && marker.test(stderr)) {
                namespacesBefore = labNamespaces();
                processesBefore = labProcesses().length;
                child.kill("SIGINT");
            }
        });
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stderr, namespacesBefore, processesBefore });
        });
    });
}

describe.skipIf(!canRun)("HA lab cleanup", () => {
    it("an interrupted run removes its namespaces, processes and lock; the next run starts cleanly and can be interrupted again", async () => {
        for (const marker of [/lab: etcd: 3 started/, /lab: task gateway-ha-etcd-bootstrap: exit 0/]) {
            const r = await interruptAt(marker);
            expect(r.namespacesBefore.length, r.stderr).toBeGreaterThan(8);
            expect(r.processesBefore, r.stderr).toBeGreaterThanOrEqual(3);
            expect(r.code, r.stderr).toBe(130);
            expect(r.stderr).toContain("SIGINT, cleaning up");
            expect(labNamespaces()).toEqual([]);
            expect(labProcesses()).toEqual([]);
            expect(existsSync(join(tmpdir(), "gateway-ha-lab.lock"))).toBe(false);
        }
    }, 150_000);
});
