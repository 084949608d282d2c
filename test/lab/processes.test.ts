// The lab's process control in a network namespace of its own: a service's processes die with
// their leader, as a container's do with its PID 1, and a crash leaves nothing of a program that
// respawns its children (keepalived's parent does).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { namespacePids } from "../../lab/netns";
import { crashProcesses, procStat, Supervisor } from "../../lab/processes";

const NS = "gwtest-processes";
const canRun = process.platform === "linux" && process.getuid?.() === 0 && spawnSync("ip", ["-V"]).status === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const alive = (pid: number) => {
    const s = procStat(pid);
    return s !== undefined && s.state !== "Z";
};

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
    }
}

describe.skipIf(!canRun)("lab processes in a namespace", () => {
    let dir = "";
    const supervisor = () => new Supervisor(dir);

    beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), "gwha-proc-"));
        spawnSync("ip", ["netns", "del", NS]);
        expect(spawnSync("ip", ["netns", "add", NS]).status).toBe(0);
    });
    afterAll(() => {
        for (const pid of namespacePids(NS)) process.kill(pid, "SIGKILL");
        spawnSync("ip", ["netns", "del", NS]);
        rmSync(dir, { recursive: true, force: true });
    });

    it("nothing of a service outlives its leader (Docker ends a container with its PID 1)", async () => {
        const pidFile = join(dir, "bg.pid");
        const s = supervisor();
        // The leader leaves a background child behind and exits on its own.
        s.start("leader", NS, ["/bin/sh", "-c", `sleep 60 & echo $! > ${pidFile}; sleep 0.2; exit 3`], {}, dir);
        await until("the leader to exit", () => !s.running("leader"));
        const orphan = Number(readFileSync(pidFile, "utf8"));
        await until(`the leader's child ${orphan} to die with it`, () => !alive(orphan));
    });

    it("a crash kills a program whose parent respawns its children, and none comes back", async () => {
        // `respawner` runs two children and restarts whichever dies, like keepalived's parent: the
        // parent and a fork of it each keep one child running.
        const prog = join(dir, "respawner");
        writeFileSync(prog, `#!/bin/sh\nif [ "$1" = child ]; then while :; do sleep 1; done; fi\nwhile :; do "$0" child; done &\nwhile :; do "$0" child; done\n`);
        chmodSync(prog, 0o755);
        const s = supervisor();
        s.start("respawning", NS, ["/bin/sh", "-c", `${prog}; sleep 60`], {}, dir);
        const named = () => namespacePids(NS).filter((p) => procStat(p)?.comm === "respawner" && alive(p));
        await until("the parent, its fork and their two children", () => named().length === 4);
        const killed = await crashProcesses(NS, "respawner");
        expect(killed).toBeGreaterThanOrEqual(4);
        await sleep(300);
        expect(named()).toEqual([]);
        // Only the program crashed: the container's PID 1 (the shell) still runs.
        expect(s.running("respawning")).toBe(true);
        await s.stop("respawning", "SIGKILL");
    });
});
