// The HA lab inside a QEMU virtual machine, for drills this machine's kernel cannot run: LVS needs
// IPVS (ip_vs), which some kernels (this CI machine's among them) are built without. The VM boots
// Debian's kernel (package linux-image-amd64, which builds ip_vs as a module) with this machine's
// root filesystem shared read-write over virtio-9p, so the lab runs the same programs, repository
// and node_modules; only /run (and TMPDIR in it) is the VM's own. A tiny initramfs (busybox-static) loads
// the 9p modules, mounts the root and hands over to a script that loads the lab's kernel modules,
// runs the lab and records its exit status.
//
//   npm run test:lab:vm -- [--accel tcg|kvm] [--memory-mb N] [--timeout-minutes N] -- LAB ARGS…
//
// Exit: the lab's own status; 2 on bad usage or a missing kernel, QEMU or busybox.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseCli, UsageError } from "../scripts/lib/cli";
import { LOCK, takeLock } from "./run";

const REPO = resolve(__dirname, "..");
/** Shared with the VM (not under /tmp, which is the VM's own): the initramfs, the inner script, the exit status. */
const VM_DIR = "/var/tmp/gateway-ha-lab-vm";
const BUSYBOX = "/bin/busybox";
const QEMU = "/usr/bin/qemu-system-x86_64";
/** Emulated CPUs run the lab about this many times slower (measured: etcd's bootstrap, 5 s here, over 70 s in the VM). */
const TCG_SLOWDOWN = 15;
/** What the initramfs loads to mount the root over virtio-9p. */
const ROOT_MODULES = ["virtio_pci", "9pnet_virtio", "9p"];
/** What the lab needs in the VM: veth pairs, the bridge, IPVS and its schedulers. */
export const LAB_MODULES = ["veth", "bridge", "ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_sh", "ip_vs_dh", "ip_vs_lblc"];

export interface VmArgs {
    accel: "tcg" | "kvm";
    memoryMb: number;
    timeoutMinutes: number;
    labArgs: string[];
}

export function parseVmArgs(argv: string[]): VmArgs {
    const split = argv.indexOf("--");
    const own = split >= 0 ? argv.slice(0, split) : argv;
    const o = parseCli(own, { accel: { type: "string" }, "memory-mb": { type: "string" }, "timeout-minutes": { type: "string" } });
    const accel = o.accel ?? "tcg";
    if (accel !== "tcg" && accel !== "kvm") throw new UsageError(`--accel ${accel}: must be tcg or kvm`);
    const number = (key: "memory-mb" | "timeout-minutes", dflt: number, min: number) => {
        const v = Number(o[key] ?? dflt);
        if (!Number.isInteger(v) || v < min) throw new UsageError(`--${key} ${o[key]}: must be an integer of at least ${min}`);
        return v;
    };
    return { accel, memoryMb: number("memory-mb", 6144, 1024), timeoutMinutes: number("timeout-minutes", 60, 1), labArgs: split >= 0 ? argv.slice(split + 1) : [] };
}

/** Module names in load order: each after the modules it depends on. */
export function moduleLoadOrder(targets: string[], dependsOn: (m: string) => string[]): string[] {
    const order: string[] = [];
    const visiting = new Set<string>();
    const visit = (m: string) => {
        if (order.includes(m)) return;
        if (visiting.has(m)) throw new Error(`module dependency cycle at ${m}`);
        visiting.add(m);
        for (const d of dependsOn(m)) visit(d);
        visiting.delete(m);
        order.push(m);
    };
    targets.forEach(visit);
    return order;
}

/** The initramfs's /init: mount the host's root over 9p and hand over to the inner script. */
export function renderInit(modules: string[], inner: string): string {
    return [
        "#!/bin/busybox sh",
        "/bin/busybox --install -s /bin",
        "mkdir -p /proc /sys /dev /newroot",
        "mount -t proc proc /proc",
        "mount -t sysfs sys /sys",
        "mount -t devtmpfs dev /dev",
        ...modules.map((m) => `insmod /lib/modules/${m}.ko`),
        'mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 hostroot /newroot || { echo "gateway-ha-vm: cannot mount the host root"; echo o > /proc/sysrq-trigger; }',
        "mount --move /proc /newroot/proc",
        "mount --move /sys /newroot/sys",
        "mount --move /dev /newroot/dev",
        `exec switch_root /newroot /bin/sh ${inner}`,
        "",
    ].join("\n");
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The script the VM runs on the host's root: its own /run and /tmp, the lab's modules, the lab, the exit status. */
export function renderInner(a: { repo: string; path: string; labArgs: string[]; exitFile: string; slowdown: number }): string {
    return [
        "#!/bin/sh",
        "set -u",
        "mount -t tmpfs -o mode=0755 run /run",
        // Sockets and pipes (tsx's, the lab's) cannot live on 9p: temporary files go to a tmpfs. Not
        // over /tmp, which may hold the repository (a CI clone).
        "mkdir -p -m 1777 /run/tmp",
        "mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs shm /dev/shm",
        `modprobe -a ${LAB_MODULES.join(" ")}`,
        "ip link set lo up",
        `export PATH=${shq(a.path)} HOME=/root LANG=C.UTF-8 TMPDIR=/run/tmp GATEWAY_HA_LAB_SLOWDOWN=${a.slowdown}`,
        `cd ${shq(a.repo)}`,
        `npm run --silent test:lab -- ${a.labArgs.map(shq).join(" ")}`,
        `echo $? > ${shq(a.exitFile)}`,
        "sync",
        "echo o > /proc/sysrq-trigger",
        // The root goes away with the power: keep sh quiet about it.
        "sleep 60 2>/dev/null",
        "",
    ].join("\n");
}

/** The newest installed kernel whose build has IPVS, with its modules. */
function ipvsKernel(): { image: string; version: string } {
    const versions = readdirSync("/boot")
        .filter((f) => f.startsWith("vmlinuz-"))
        .map((f) => f.slice("vmlinuz-".length))
        .filter((v) => existsSync(`/lib/modules/${v}`) && /^CONFIG_IP_VS=[my]$/m.test(readFileSync(`/boot/config-${v}`, "utf8")))
        .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    if (!versions.length) throw new UsageError("no kernel with IPVS in /boot (apt-get install linux-image-amd64)");
    return { image: `/boot/vmlinuz-${versions[0]}`, version: versions[0] };
}

function modinfo(version: string, field: "-n" | "-F depends", m: string): string {
    const r = spawnSync("modinfo", ["-k", version, ...field.split(" "), m], { encoding: "utf8" });
    if (r.status !== 0) throw new UsageError(`modinfo ${m} (kernel ${version}): ${r.stderr.trim()}`);
    return r.stdout.trim();
}

/** Writes the initramfs (busybox, the root modules, /init) as a newc cpio archive. */
function buildInitramfs(version: string, inner: string): string {
    // ldd fails on a static executable: nothing to load in an initramfs without a libc.
    if (!existsSync(BUSYBOX) || spawnSync("ldd", [BUSYBOX]).status === 0) throw new UsageError(`${BUSYBOX} must be busybox-static (apt-get install busybox-static)`);
    const root = join(VM_DIR, "initramfs");
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, "bin"), { recursive: true });
    mkdirSync(join(root, "lib", "modules"), { recursive: true });
    copyFileSync(BUSYBOX, join(root, "bin", "busybox"));
    chmodSync(join(root, "bin", "busybox"), 0o755);
    const builtin = (m: string) => modinfo(version, "-n", m) === "(builtin)";
    const modules = moduleLoadOrder(ROOT_MODULES, (m) => modinfo(version, "-F depends", m).split(",").filter(Boolean)).filter((m) => !builtin(m));
    for (const m of modules) {
        const file = modinfo(version, "-n", m);
        if (file.endsWith(".xz") || file.endsWith(".zst")) throw new UsageError(`${file}: compressed modules are not supported (busybox insmod)`);
        copyFileSync(file, join(root, "lib", "modules", `${m}.ko`));
    }
    writeFileSync(join(root, "init"), renderInit(modules, inner));
    chmodSync(join(root, "init"), 0o755);
    const image = join(VM_DIR, "initramfs.cpio");
    const r = spawnSync("sh", ["-c", `cd ${shq(root)} && find . | cpio -o -H newc --quiet > ${shq(image)}`], { encoding: "utf8" });
    if (r.status !== 0) throw new UsageError(`cpio: ${r.stderr}`);
    return image;
}

async function main(): Promise<number> {
    const args = parseVmArgs(process.argv.slice(2));
    if (process.getuid?.() !== 0) throw new UsageError("the lab needs root (QEMU shares the root filesystem with its owners' ids)");
    if (!existsSync(QEMU)) throw new UsageError(`${QEMU} missing (apt-get install qemu-system-x86)`);
    takeLock();
    try {
        const kernel = ipvsKernel();
        mkdirSync(VM_DIR, { recursive: true, mode: 0o700 });
        const inner = join(VM_DIR, "inner.sh");
        const exitFile = join(VM_DIR, "exit-code");
        rmSync(exitFile, { force: true });
        writeFileSync(inner, renderInner({ repo: REPO, path: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, labArgs: args.labArgs, exitFile, slowdown: args.accel === "tcg" ? TCG_SLOWDOWN : 1 }));
        const initramfs = buildInitramfs(kernel.version, inner);
        process.stderr.write(`lab-vm: kernel ${kernel.version}, accel ${args.accel}, ${args.memoryMb} MiB; the lab runs inside\n`);
        const qemu = spawn(
            QEMU,
            [
                "-accel", args.accel,
                ...(args.accel === "kvm" ? ["-cpu", "host"] : ["-cpu", "max"]),
                "-m", String(args.memoryMb),
                "-smp", String(Math.max(1, cpus().length)),
                "-nographic", "-no-reboot", "-nic", "none",
                "-kernel", kernel.image,
                "-initrd", initramfs,
                "-append", "console=ttyS0 quiet panic=-1",
                "-fsdev", "local,id=hostroot,path=/,security_model=passthrough,multidevs=remap",
                "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
            ],
            { stdio: ["ignore", "inherit", "inherit"] },
        );
        const timer = setTimeout(() => {
            process.stderr.write(`lab-vm: no result after ${args.timeoutMinutes} min, stopping the VM\n`);
            qemu.kill("SIGKILL");
        }, args.timeoutMinutes * 60_000);
        const stop = () => qemu.kill("SIGKILL");
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        await new Promise((r) => qemu.on("close", r));
        clearTimeout(timer);
        if (!existsSync(exitFile)) {
            process.stderr.write("lab-vm: the VM stopped without the lab's exit status\n");
            return 1;
        }
        return Number(readFileSync(exitFile, "utf8").trim());
    } finally {
        rmSync(LOCK, { force: true });
    }
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (e) => {
            process.stderr.write(`test:lab:vm: ${e instanceof Error ? (e instanceof UsageError ? e.message : e.stack) : String(e)}\n`);
            process.exit(e instanceof UsageError ? 2 : 1);
        },
    );
}
