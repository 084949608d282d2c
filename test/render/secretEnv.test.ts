// The secrets wrapper (withSecretEnvFiles) run by the real /bin/sh: a program that reads only its
// environment gets each secret from a file, and does not start when one is missing.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SECRET_ENV_DIR, SECRET_ENV_WRAPPER, renderSecretEnvWrapper, secretEnvWrapperOf, withSecretEnvFiles, type ServiceSpec } from "../../components/service";
import type { TopologyNode } from "../../components/topology/types";

const dir = mkdtempSync(join(tmpdir(), "gwha-secret-env-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the wrapper with its directory moved under `dir` (as the lab maps it into a service's root), then `program`. */
function run(names: string[], files: Record<string, string>, program: string[]) {
    for (const [n, v] of Object.entries(files)) writeFileSync(join(dir, n), v, { mode: 0o400 });
    const script = renderSecretEnvWrapper(names).replaceAll(SECRET_ENV_DIR, dir);
    return spawnSync("/bin/sh", ["-c", script, SECRET_ENV_WRAPPER, ...program], { encoding: "utf8", env: { PATH: process.env.PATH } });
}

describe("the secrets wrapper", () => {
    it("exports each variable from its file, byte for byte, and execs the image's start with its arguments", () => {
        const tricky = `p4$$w'o"rd with spaces;$(id)\`x\``;
        const r = run(["GATEWAY_HA_ADMIN_KEY", "GATEWAY_HA_ETCD_PASSWORD"], { GATEWAY_HA_ADMIN_KEY: "k3y", GATEWAY_HA_ETCD_PASSWORD: tricky }, [
            "/bin/sh",
            "-c",
            'printf "%s|%s|%s" "$GATEWAY_HA_ADMIN_KEY" "$GATEWAY_HA_ETCD_PASSWORD" "$1"',
            "start",
            "docker-start",
        ]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toBe(`k3y|${tricky}|docker-start`);
    });

    it("a missing file stops it before the program starts", () => {
        const r = run(["GATEWAY_HA_MISSING"], {}, ["/bin/sh", "-c", "echo started"]);
        expect(r.status).not.toBe(0);
        expect(r.stdout).not.toContain("started");
        expect(r.stderr).toContain("GATEWAY_HA_MISSING");
    });

    it("takes variable names only", () => {
        expect(() => renderSecretEnvWrapper(["GATEWAY_HA_X; rm -rf /"])).toThrow(/not an environment variable name/);
    });
});

describe("withSecretEnvFiles", () => {
    const node = { name: "cp-1" } as TopologyNode;
    const base: ServiceSpec = { name: "cp-1-apisix-cp", node, role: "control-plane", service: "apisix-cp", image: "apache/apisix:3.14.1-debian", files: [], user: { uid: 636, gid: 636 } };
    const start = ["/docker-entrypoint.sh", "docker-start"];

    it("turns secretEnv into secret files and the command into the wrapper before the image's start; a service without it is unchanged", () => {
        const svc = withSecretEnvFiles({ ...base, env: { PLAIN: "1" }, secretEnv: { values: { B_KEY: "b", A_KEY: "a" }, start } });
        expect(svc.secretEnv).toBeUndefined();
        expect(svc.env).toEqual({ PLAIN: "1" });
        expect(svc.files.map((f) => [f.path, f.secret])).toEqual([
            [`${SECRET_ENV_DIR}/A_KEY`, true],
            [`${SECRET_ENV_DIR}/B_KEY`, true],
        ]);
        expect(secretEnvWrapperOf(svc.command as string[])).toEqual({ script: renderSecretEnvWrapper(["A_KEY", "B_KEY"]), start });
        expect(withSecretEnvFiles(base)).toBe(base);
        expect(secretEnvWrapperOf(["/bin/sh", "/etc/keepalived/lvs-realserver.sh"])).toBeUndefined();
    });

    it("refuses what would leave a secret readable or the start unknown", () => {
        const secretEnv = { values: { A_KEY: "a" }, start };
        expect(() => withSecretEnvFiles({ ...base, user: undefined, secretEnv })).toThrow(/needs the image's user/);
        expect(() => withSecretEnvFiles({ ...base, command: ["apisix"], secretEnv })).toThrow(/not a command of its own/);
        expect(() => withSecretEnvFiles({ ...base, env: { A_KEY: "x" }, secretEnv })).toThrow(/in both env and secretEnv/);
    });
});
