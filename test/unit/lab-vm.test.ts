// The lab's VM runner, pure parts: its arguments, the order it loads kernel modules in, and the
// scripts it boots (both must parse as shell scripts).
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { LAB_MODULES, moduleLoadOrder, parseVmArgs, renderInit, renderInner } from "../../lab/vm";

const shOk = (script: string) => spawnSync("sh", ["-n"], { input: script, encoding: "utf8" }).status === 0;

describe("lab VM runner", () => {
    it("takes its own options before `--` and passes the rest to the lab", () => {
        expect(parseVmArgs(["--", "--stack", "onprem-lvs", "--set", "a=b"])).toEqual({ accel: "tcg", memoryMb: 6144, timeoutMinutes: 60, labArgs: ["--stack", "onprem-lvs", "--set", "a=b"] });
        expect(parseVmArgs(["--accel", "kvm", "--memory-mb", "4096", "--timeout-minutes", "30"])).toMatchObject({ accel: "kvm", memoryMb: 4096, timeoutMinutes: 30, labArgs: [] });
        expect(() => parseVmArgs(["--accel", "hvf"])).toThrow(/--accel hvf: must be tcg or kvm/);
        expect(() => parseVmArgs(["--memory-mb", "512"])).toThrow(/--memory-mb 512: must be an integer of at least 1024/);
        expect(() => parseVmArgs(["--stack", "x"])).toThrow(/Unknown option '--stack'/);
    });

    it("loads each module after the ones it depends on, once", () => {
        const deps: Record<string, string[]> = { "9p": ["9pnet", "fscache", "netfs"], fscache: ["netfs"], "9pnet_virtio": ["virtio", "9pnet", "virtio_ring"], virtio: ["virtio_ring"], virtio_pci: ["virtio_ring", "virtio"] };
        const order = moduleLoadOrder(["virtio_pci", "9pnet_virtio", "9p"], (m) => deps[m] ?? []);
        expect(new Set(order).size).toBe(order.length);
        for (const [m, ds] of Object.entries(deps)) for (const d of ds) expect(order.indexOf(d), `${d} before ${m}`).toBeLessThan(order.indexOf(m));
        expect(() => moduleLoadOrder(["a"], (m) => (m === "a" ? ["b"] : ["a"]))).toThrow(/cycle/);
    });

    it("boot scripts: /init mounts the host root over 9p and hands over; the inner script runs the lab with its args quoted and records the status", () => {
        const init = renderInit(["virtio_ring", "9p"], "/var/tmp/x/inner.sh");
        expect(shOk(init)).toBe(true);
        expect(init).toContain("insmod /lib/modules/virtio_ring.ko\ninsmod /lib/modules/9p.ko");
        expect(init).toMatch(/mount -t 9p -o trans=virtio,.* hostroot \/newroot/);
        expect(init.trimEnd().split("\n").pop()).toBe("exec switch_root /newroot /bin/sh /var/tmp/x/inner.sh");
        const inner = renderInner({ repo: "/work/main", path: "/usr/bin:/bin", labArgs: ["--stack", "onprem-lvs", "--set", "dataPlane.adminAllow=[1.2.3.4/32]", "--set", "x=it's"], exitFile: "/var/tmp/x/exit-code", slowdown: 15 });
        expect(shOk(inner)).toBe(true);
        expect(inner).toContain(`modprobe -a ${LAB_MODULES.join(" ")}`);
        expect(inner).toContain("GATEWAY_HA_LAB_SLOWDOWN=15");
        // The repository may sit under /tmp (a CI clone): the VM's temporary files go elsewhere.
        expect(inner).not.toMatch(/mount .* \/tmp$/m);
        expect(inner).toContain("TMPDIR=/run/tmp");
        expect(inner).toContain("npm run --silent test:lab -- '--stack' 'onprem-lvs' '--set' 'dataPlane.adminAllow=[1.2.3.4/32]' '--set' 'x=it'\\''s'");
        expect(inner.indexOf("echo $? > '/var/tmp/x/exit-code'")).toBeGreaterThan(inner.indexOf("npm run"));
        expect(LAB_MODULES).toContain("ip_vs");
    });
});
