// The lab's network: one namespace per node holding the node's rendered address on `eth0`, a
// client namespace, and a bridge that lives in its own "switch" namespace, so the host's
// namespace gets no interface, address or route. Everything is named with one prefix and is
// removed by name, so a crashed run is cleaned up by the next one.
import { spawnSync } from "node:child_process";

/** Prefix of every namespace the lab creates. */
export const NS_PREFIX = "gwlab-";
export const SWITCH_NS = `${NS_PREFIX}switch`;
export const CLIENT_NS = `${NS_PREFIX}client`;
const BRIDGE = "br0";

export const nodeNamespace = (node: string) => `${NS_PREFIX}n-${node}`;

function ip(args: string[]): string {
    const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
    if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${(r.stderr || String(r.error)).trim()}`);
    return r.stdout;
}

export function listLabNamespaces(): string[] {
    return ip(["netns", "list"])
        .split("\n")
        .map((l) => l.split(" ")[0])
        .filter((n) => n.startsWith(NS_PREFIX));
}

/** PIDs of every process in a namespace (`ip netns pids`). */
export function namespacePids(ns: string): number[] {
    const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8", timeout: 10_000 });
    return (r.stdout ?? "")
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
}

/** Kills every process in the lab's namespaces and deletes them (the bridge goes with the switch). Synchronous: safe in exit handlers. */
export function destroyLabNetwork(): void {
    for (const ns of listLabNamespaces()) {
        for (const pid of namespacePids(ns)) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                // already gone
            }
        }
        spawnSync("ip", ["netns", "del", ns], { timeout: 10_000 });
    }
}

export interface Attachment {
    ns: string;
    address: string;
}

/** Creates the switch, then one namespace per attachment with `eth0` on the bridge (switch ports p0, p1, ...). */
export function createLabNetwork(attachments: Attachment[], prefixLength: number): void {
    ip(["netns", "add", SWITCH_NS]);
    ip(["-n", SWITCH_NS, "link", "add", BRIDGE, "type", "bridge"]);
    ip(["-n", SWITCH_NS, "link", "set", BRIDGE, "up"]);
    attachments.forEach((a, i) => attachToLabNetwork(a, i, prefixLength));
}

/** One more namespace with `eth0` on the running lab's bridge, through switch port `p<port>` (a node added by a change). */
export function attachToLabNetwork(a: Attachment, port: number, prefixLength: number): void {
    ip(["netns", "add", a.ns]);
    ip(["-n", a.ns, "link", "set", "lo", "up"]);
    ip(["-n", SWITCH_NS, "link", "add", `p${port}`, "type", "veth", "peer", "name", "eth0", "netns", a.ns]);
    ip(["-n", SWITCH_NS, "link", "set", `p${port}`, "master", BRIDGE, "up"]);
    ip(["-n", a.ns, "addr", "add", `${a.address}/${prefixLength}`, "dev", "eth0"]);
    ip(["-n", a.ns, "link", "set", "eth0", "up"]);
}
