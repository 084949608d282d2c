// The password rotations' guard: a counter that goes down would make a slot active again whose
// password etcd no longer has; the guard fails `pulumi up` before any password changes.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROTATION_ENV, renderRotationGuardScript } from "../../components/render/rotationGuard";
import { T, cfg, dependsOn, runPlatform } from "./helpers";

/** The guard's update, as the command provider runs it: its previous stdout in PULUMI_COMMAND_STDOUT. */
function guard(previous: string | undefined, now: string) {
    const env = { PATH: process.env.PATH, [ROTATION_ENV]: now, ...(previous !== undefined ? { PULUMI_COMMAND_STDOUT: `${previous}\n` } : {}) };
    const r = spawnSync("/bin/sh", ["-c", renderRotationGuardScript()], { env, encoding: "utf8" });
    return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

describe("the password rotations' guard", () => {
    const ROOT = "etcd.rootPasswordRotation";
    const CONSUMER = "etcd.consumerPasswordRotation";

    it("records every rotation that goes up or stays", () => {
        let previous: string | undefined;
        for (const now of [`${ROOT}=0 ${CONSUMER}=0`, `${ROOT}=1 ${CONSUMER}=0`, `${ROOT}=1 ${CONSUMER}=1`, `${ROOT}=1 ${CONSUMER}=1`, `${ROOT}=3 ${CONSUMER}=2`]) {
            const r = guard(previous, now);
            expect(r, now).toMatchObject({ code: 0, stdout: now });
            previous = r.stdout;
        }
    });

    it("refuses a counter that goes down, naming the key, both values and the value to set instead", () => {
        const r = guard(`${ROOT}=2 ${CONSUMER}=1`, `${ROOT}=1 ${CONSUMER}=1`);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(`${ROOT}: 1 is lower than 2, the rotation deployed last; a rotation counter only goes up (etcd holds the passwords of rotation 2; to rotate again, set 3)`);
        expect(guard(`${ROOT}=2 ${CONSUMER}=1`, `${ROOT}=2 ${CONSUMER}=0`).stderr).toMatch(/^etcd\.consumerPasswordRotation: 0 is lower than 1/);
    });

    it("a first deployment (no previous record) takes any counters", () => {
        expect(guard(undefined, `${ROOT}=4 ${CONSUMER}=2`)).toMatchObject({ code: 0, stdout: `${ROOT}=4 ${CONSUMER}=2` });
    });

    it("every etcd password waits for it, and it is bound to the data like them", async () => {
        const run = await runPlatform(cfg({ flavor: "apisix", etcd: { rootPasswordRotation: 1, consumerPasswordRotation: 1 } }), { stack: "guard" });
        const passwords = run.registrations.filter((r) => r.type === "random:index/randomPassword:RandomPassword" && r.name.startsWith("gateway-ha-etcd-"));
        expect(passwords.map((p) => p.name).sort()).toEqual([
            "gateway-ha-etcd-control-plane-password",
            "gateway-ha-etcd-control-plane-password-alt",
            "gateway-ha-etcd-gateway-password",
            "gateway-ha-etcd-gateway-password-alt",
            "gateway-ha-etcd-root-password",
            "gateway-ha-etcd-root-password-alt",
        ]);
        for (const p of passwords) expect(dependsOn(p, T.command, "gateway-ha-etcd-rotation-guard"), p.name).toBe(true);
        const g = run.resources.find((r) => r.name === "gateway-ha-etcd-rotation-guard")!;
        expect(g.inputs.environment).toEqual({ [ROTATION_ENV]: "etcd.rootPasswordRotation=1 etcd.consumerPasswordRotation=1" });
        expect(run.registrations.find((r) => r.name === "gateway-ha-etcd-rotation-guard")!.protect).toBe(true);
    });
});
