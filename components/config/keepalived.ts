// keepalived VIPs (loadBalancer.keepalived): defaults, and the rules keepalived and VRRP impose.
// Config-level rules take the parsed config; topology-level rules (node names, subnets, real
// servers) take the built topology. Each is a pure function returning the issues it finds.
import {
    DEFAULT_IMAGES,
    LVS_ALGOS,
    LVS_CHECKERS,
    LVS_KINDS,
    VIP_CHECK_TYPES,
    VIP_PROTECTS,
    VRRP_STATES,
    type PlatformConfig,
    type VipProtects,
} from "./schema";
import type { ConfigIssue } from "./issues";
import { cidrContains, formatIpv4, isHostAddress, parseCidr, parseIpv4 } from "./net";
import type { KeepalivedSpec, PlatformSpec, VipSpec } from "./types";
import type { Topology } from "../topology/types";

type Issues = ConfigIssue[];
type KeepalivedConfig = PlatformConfig["loadBalancer"]["keepalived"];
type VipConfig = KeepalivedConfig["vips"][number];

/** VRRPv2 PASS authentication carries 8 characters; keepalived cuts longer secrets (config error). */
export const AUTH_PASS_MAX = 8;
/** The address owner's priority; nobody else may use it. */
export const OWNER_PRIORITY = 255;
/** Default priorities: master 50 above the first backup, every node different. */
export const MASTER_PRIORITY = 150;
export const FIRST_BACKUP_PRIORITY = 100;

/** 150, 100, 99, 98… for n nodes (node order: the first is the master). */
export function defaultPriorities(n: number): number[] {
    return Array.from({ length: n }, (_, i) => (i === 0 ? MASTER_PRIORITY : FIRST_BACKUP_PRIORITY - (i - 1)));
}

/** `192.168.1.10` or `192.168.1.10/24`. */
export function parseVipAddress(s: string): { address: string; prefix?: number } | undefined {
    const [ip, bits, ...rest] = s.split("/");
    if (rest.length || parseIpv4(ip) === undefined) return undefined;
    if (bits === undefined) return { address: ip };
    if (!/^\d{1,2}$/.test(bits) || Number(bits) > 32) return undefined;
    return { address: ip, prefix: Number(bits) };
}

/** Network of an address with a prefix, as a CIDR string. */
export function networkOf(address: string, prefix: number): string {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return `${formatIpv4((parseIpv4(address)! & mask) >>> 0)}/${prefix}`;
}

/** Whether VIP nodes are hosts (remote Docker hosts, or a host target): then the VIP names its prefix. */
export function vipsOnHosts(c: Pick<PlatformConfig, "target" | "nodes">): boolean {
    return c.target !== "docker" || c.nodes.some((n) => n.sshUser !== undefined);
}

/** The segment (CIDR) a VIP lives in: docker.subnet for local Docker nodes, else the VIP's own prefix. */
export function vipSegment(c: Pick<PlatformConfig, "target" | "nodes" | "docker">, vip: Pick<VipConfig, "address">): string | undefined {
    const parsed = parseVipAddress(vip.address);
    if (!parsed) return undefined;
    if (!vipsOnHosts(c)) return parseCidr(c.docker.subnet) ? c.docker.subnet : undefined;
    return parsed.prefix === undefined ? undefined : networkOf(parsed.address, parsed.prefix);
}

/** Kinds without a proxy process: the VIPs are the entry points. */
export function vipsAreEntryPoints(kind: string): boolean {
    return kind === "keepalived" || kind === "lvs";
}

/** Initial state of the highest-priority node. */
export function initialStateOf(k: Pick<KeepalivedConfig, "nopreempt" | "preemptDelay">, vip: Pick<VipConfig, "initialState">): "MASTER" | "BACKUP" {
    if (vip.initialState === "MASTER" || vip.initialState === "BACKUP") return vip.initialState;
    return k.nopreempt || k.preemptDelay !== undefined ? "BACKUP" : "MASTER";
}

const oneOf = (key: string, value: string, allowed: readonly string[], what: string): Issues =>
    allowed.includes(value) ? [] : [{ key, value, rule: `unknown ${what}; expected one of ${allowed.join(", ")}` }];

/** Printable characters keepalived's parser keeps in one word ('#' and '!' start comments). */
const AUTH_PASS_CHARS = /^[A-Za-z0-9._+=@%^*~:,-]+$/;

/**
 * Rules on loadBalancer.keepalived that need only the config: choices, ranges, VRRP's
 * per-segment uniqueness, auth secrets, preemption, and what each balancer kind needs.
 * `authPass` holds the configured secrets by VIP index (never echoed in messages).
 */
export function checkKeepalived(c: PlatformConfig, authPass: (string | undefined)[] = c.loadBalancer.keepalived.vips.map((v) => v.authPass)): Issues {
    const issues: Issues = [];
    const k = c.loadBalancer.keepalived;
    const kind = c.loadBalancer.kind;
    const base = "loadBalancer.keepalived";
    const vips = k.vips;

    if (k.check.timeout > k.check.interval)
        issues.push({ key: `${base}.check.timeout`, value: k.check.timeout, rule: `must not exceed ${base}.check.interval (${k.check.interval}): a check still running when the next starts is killed` });
    if (k.nopreempt && k.preemptDelay !== undefined)
        issues.push({ key: `${base}.preemptDelay`, value: k.preemptDelay, rule: `has no effect with ${base}.nopreempt (a node never takes the VIP back); set one of them` });

    if (vips.length > 0 && c.target === "aws")
        issues.push({ key: `${base}.vips`, value: vips.map((v) => v.name), rule: "target aws balances with NLBs, and VPCs carry no VRRP: remove the VIPs" });
    if (vipsAreEntryPoints(kind)) {
        for (const role of ["data-plane", "control-plane"] as const)
            if (!vips.some((v) => v.protects === role))
                issues.push({
                    key: `${base}.vips`,
                    value: vips.map((v) => v.name),
                    rule: `loadBalancer.kind ${kind} has no proxy: clients reach the platform through VIPs, so one VIP must protect ${role}`,
                });
    }

    const names = new Set<string>();
    const segments = new Map<string, { name: string; i: number }>();
    const addresses = new Map<string, string>();
    vips.forEach((v, i) => {
        const key = `${base}.vips[${i}]`;
        if (names.has(v.name)) issues.push({ key: `${key}.name`, value: v.name, rule: "VIP names must be unique" });
        names.add(v.name);
        issues.push(...oneOf(`${key}.protects`, v.protects, VIP_PROTECTS, "protected role"));
        if (v.protects === "load-balancer" && kind !== "haproxy" && kind !== "nginx")
            issues.push({
                key: `${key}.protects`,
                value: v.protects,
                rule: kind === "lvs" ? "with kind lvs the VIPs sit on the directors already: protect data-plane or control-plane" : "kind keepalived has no balancer nodes: protect data-plane or control-plane",
            });

        // Address and segment.
        const parsed = parseVipAddress(v.address);
        if (!parsed) issues.push({ key: `${key}.address`, value: v.address, rule: "must be an IPv4 address, optionally with a prefix (192.168.101.100/24)" });
        else if (vipsOnHosts(c) && parsed.prefix === undefined)
            issues.push({ key: `${key}.address`, value: v.address, rule: "on hosts the VIP needs the prefix of its network, e.g. 192.168.101.100/24: it is added to the interface with it" });
        else if (!vipsOnHosts(c)) {
            const subnet = parseCidr(c.docker.subnet);
            if (subnet) {
                if (parsed.prefix !== undefined && parsed.prefix !== subnet.prefix)
                    issues.push({ key: `${key}.address`, value: v.address, rule: `local Docker nodes sit in docker.subnet ${c.docker.subnet}: the prefix must be /${subnet.prefix} or left out` });
                else if (!isHostAddress(subnet, parseIpv4(parsed.address)!))
                    issues.push({ key: `${key}.address`, value: v.address, rule: `must be a host address inside docker.subnet ${c.docker.subnet}, the network the nodes' eth0 is on` });
            }
        } else if (parsed.prefix !== undefined) {
            const net = parseCidr(networkOf(parsed.address, parsed.prefix))!;
            if (!isHostAddress(net, parseIpv4(parsed.address)!))
                issues.push({ key: `${key}.address`, value: v.address, rule: "must be a host address of its network (not the network or broadcast address)" });
        }
        if (parsed) {
            const other = addresses.get(parsed.address);
            if (other) issues.push({ key: `${key}.address`, value: v.address, rule: `already the address of VIP ${other}` });
            else addresses.set(parsed.address, v.name);
        }

        // VRRP.
        if (v.virtualRouterId < 1 || v.virtualRouterId > 255)
            issues.push({ key: `${key}.virtualRouterId`, value: v.virtualRouterId, rule: "must be 1–255 (VRRP virtual_router_id)" });
        else {
            const segment = vipSegment(c, v) ?? "?";
            const seen = segments.get(`${segment}|${v.virtualRouterId}`);
            if (seen)
                issues.push({
                    key: `${key}.virtualRouterId`,
                    value: v.virtualRouterId,
                    rule: `already used by VIP ${seen.name} (${base}.vips[${seen.i}]) on segment ${segment}: every VRRP instance on one segment needs its own virtual_router_id`,
                });
            else segments.set(`${segment}|${v.virtualRouterId}`, { name: v.name, i });
        }
        const prios = Object.entries(v.priorities ?? {});
        for (const [node, p] of prios) {
            if (p === OWNER_PRIORITY && node !== v.addressOwner)
                issues.push({ key: `${key}.priorities.${node}`, value: p, rule: `255 is the address owner's priority: set ${key}.addressOwner to ${node}, or use 1–254` });
            else if (p < 1 || p > OWNER_PRIORITY)
                issues.push({ key: `${key}.priorities.${node}`, value: p, rule: "must be 1–254 (255 only for the address owner)" });
        }
        const byValue = new Map<number, string>();
        for (const [node, p] of prios) {
            const other = byValue.get(p);
            if (other !== undefined) issues.push({ key: `${key}.priorities.${node}`, value: p, rule: `equal to the priority of node ${other}: every node of a VIP needs its own priority, or the election falls to the addresses` });
            else byValue.set(p, node);
        }
        if (v.addressOwner !== undefined && v.priorities?.[v.addressOwner] !== undefined && v.priorities[v.addressOwner] !== OWNER_PRIORITY)
            issues.push({ key: `${key}.priorities.${v.addressOwner}`, value: v.priorities[v.addressOwner], rule: `the address owner ${v.addressOwner} has priority 255` });
        if (v.initialState !== undefined) {
            issues.push(...oneOf(`${key}.initialState`, v.initialState, VRRP_STATES, "VRRP state"));
            if (v.initialState === "MASTER" && k.nopreempt)
                issues.push({ key: `${key}.initialState`, value: v.initialState, rule: `${base}.nopreempt needs initial state BACKUP on every node (keepalived ignores nopreempt on a MASTER)` });
            if (v.initialState === "MASTER" && k.preemptDelay !== undefined)
                issues.push({ key: `${key}.initialState`, value: v.initialState, rule: `${base}.preemptDelay needs initial state BACKUP on every node (keepalived ignores it on a MASTER)` });
        }
        if (v.addressOwner !== undefined && (k.nopreempt || k.preemptDelay !== undefined))
            issues.push({ key: `${key}.addressOwner`, value: v.addressOwner, rule: "the address owner always preempts (priority 255): no nopreempt or preemptDelay with an owner" });

        const secret = authPass[i];
        if (secret !== undefined) {
            if (secret.length > AUTH_PASS_MAX)
                issues.push({ key: `${key}.authPass`, value: secret, rule: `longer than ${AUTH_PASS_MAX} characters: VRRP PASS authentication carries 8, keepalived would cut it (use at most 8)` });
            else if (secret.length === 0 || !AUTH_PASS_CHARS.test(secret))
                issues.push({ key: `${key}.authPass`, value: secret, rule: "must be 1–8 letters, digits or . _ + = @ % ^ * ~ : , - (no spaces, quotes, braces, '#' or '!')" });
        }

        // Check script.
        if (v.check) {
            issues.push(...oneOf(`${key}.check.type`, v.check.type, VIP_CHECK_TYPES, "check type"));
            if (kind === "lvs" && v.protects !== "load-balancer")
                issues.push({ key: `${key}.check`, value: v.check, rule: "LVS directors run no service of their own to check; the real servers are checked by lvs.checker" });
            const fields = { http: ["path", "port"], port: ["port"], process: ["process"] }[v.check.type as "http"] ?? [];
            for (const f of ["path", "port", "process"] as const)
                if (v.check[f] !== undefined && !fields.includes(f))
                    issues.push({ key: `${key}.check.${f}`, value: v.check[f], rule: `not used by check type ${v.check.type}` });
            if (v.check.type === "process") {
                if (v.check.process === undefined) issues.push({ key: `${key}.check.process`, value: undefined, rule: "check type process needs the process name" });
                if (c.target === "docker" && !c.nodes.some((n) => n.sshUser !== undefined))
                    issues.push({
                        key: `${key}.check.type`,
                        value: v.check.type,
                        rule: "on local Docker nodes keepalived runs in its own container and cannot see the protected service's processes: use http or port",
                    });
            }
        }

        // LVS.
        if (v.lvs) {
            if (kind !== "lvs") issues.push({ key: `${key}.lvs`, value: v.lvs, rule: "virtual servers need loadBalancer.kind lvs" });
            issues.push(...oneOf(`${key}.lvs.lbAlgo`, v.lvs.lbAlgo, LVS_ALGOS, "lb_algo"));
            issues.push(...oneOf(`${key}.lvs.lbKind`, v.lvs.lbKind, LVS_KINDS, "lb_kind"));
            issues.push(...oneOf(`${key}.lvs.checker`, v.lvs.checker, LVS_CHECKERS, "real-server checker"));
            if (v.lvs.checker === "HTTP_GET" && v.protects !== "data-plane")
                issues.push({ key: `${key}.lvs.checker`, value: v.lvs.checker, rule: "HTTP_GET checks the gateways' status endpoint: only for VIPs protecting data-plane (the control plane has no status endpoint; use TCP_CHECK)" });
            const ports = v.lvs.ports ?? [];
            if (new Set(ports).size !== ports.length) issues.push({ key: `${key}.lvs.ports`, value: ports, rule: "ports must be unique" });
            if (v.lvs.lbKind === "NAT" && !vipsOnHosts(c))
                issues.push({
                    key: `${key}.lvs.lbKind`,
                    value: v.lvs.lbKind,
                    rule: "NAT needs the real servers' replies to pass the director, but on local Docker nodes the clients (the Docker host) share docker.subnet with the real servers and get replies straight from them: use DR",
                });
        }
    });
    return issues;
}

/** Defaults resolved once the choices are known to be valid. The auth secrets stay out. */
export function resolveKeepalived(c: PlatformConfig): KeepalivedSpec {
    const k = c.loadBalancer.keepalived;
    const kind = c.loadBalancer.kind;
    const image = k.image ?? (kind === "keepalived" || kind === "lvs" ? (c.loadBalancer.image ?? DEFAULT_IMAGES.keepalived) : DEFAULT_IMAGES.keepalived);
    const vips = k.vips.map((v): VipSpec => {
        const { authPass, address, protects, initialState: _s, check, lvs, ...rest } = v;
        // An address validateConfig refused stays as it was: the load still reports every problem at once.
        const parsed = parseVipAddress(address) ?? { address, prefix: undefined };
        return {
            ...rest,
            address: parsed.address,
            ...(parsed.prefix !== undefined ? { prefix: parsed.prefix } : {}),
            protects: protects as VipProtects,
            initialState: initialStateOf(k, v),
            hasAuthPass: authPass !== undefined,
            ...(check ? { check: check as VipSpec["check"] } : {}),
            ...(lvs || (kind === "lvs" && protects !== "load-balancer")
                ? { lvs: { lbAlgo: "wlc", lbKind: "DR", persistenceTimeout: 0, checker: "TCP_CHECK", ...lvs } as NonNullable<VipSpec["lvs"]> }
                : {}),
        };
    });
    return { ...k, image, vips };
}

/**
 * Rules that need the topology: the VIPs' nodes and real servers exist, a VIP has two nodes at
 * least, priorities name its nodes, and the VIP, its nodes and (DR/TUN/NAT) its real servers sit
 * in one segment, with the host setup each lb_kind needs.
 */
export function checkVips(spec: PlatformSpec, topology: Topology): Issues {
    const issues: Issues = [];
    const base = "loadBalancer.keepalived.vips";
    const known = new Map(topology.nodes.map((n) => [n.name, n]));
    const nodeAddresses = new Map(topology.nodes.map((n) => [n.address, n.name]));
    spec.loadBalancer.keepalived.vips.forEach((v, i) => {
        const key = `${base}[${i}]`;
        const resolved = topology.vips.find((t) => t.name === v.name);
        for (const [j, n] of (v.nodes ?? []).entries())
            if (!known.has(n)) issues.push({ key: `${key}.nodes[${j}]`, value: n, rule: `not a node of the topology (nodes: ${[...known.keys()].join(", ")})` });
        if (v.nodes && new Set(v.nodes).size !== v.nodes.length) issues.push({ key: `${key}.nodes`, value: v.nodes, rule: "a node may hold a VIP once" });
        if (!resolved) return;
        const names = resolved.nodes.map((n) => n.name);
        if (names.length < 2)
            issues.push({
                key: v.nodes ? `${key}.nodes` : `${key}.protects`,
                value: v.nodes ?? v.protects,
                rule: `a VIP moves between two nodes at least; it has ${names.length} (${names.join(", ") || "none"})`,
            });
        for (const node of Object.keys(v.priorities ?? {}))
            if (!names.includes(node)) issues.push({ key: `${key}.priorities.${node}`, value: v.priorities![node], rule: `not one of the VIP's nodes (${names.join(", ")})` });
        if (v.addressOwner !== undefined && !names.includes(v.addressOwner))
            issues.push({ key: `${key}.addressOwner`, value: v.addressOwner, rule: `not one of the VIP's nodes (${names.join(", ")})` });
        const taken = nodeAddresses.get(v.address);
        if (taken && v.addressOwner !== taken)
            issues.push({ key: `${key}.address`, value: v.address, rule: `is node ${taken}'s own address; a VIP needs an address no node has (or name that node as addressOwner)` });
        const segment = parseCidr(resolved.segment);
        if (segment)
            for (const n of resolved.nodes) {
                const ip = parseIpv4(n.address);
                if (ip === undefined || !cidrContains(segment, ip))
                    issues.push({
                        key: `${key}.address`,
                        value: v.prefix !== undefined ? `${v.address}/${v.prefix}` : v.address,
                        rule: `node ${n.name} (${n.address}) is not in the VIP's subnet ${resolved.segment}: VRRP and the VIP need the nodes on the VIP's network`,
                    });
            }
        if (v.lvs && resolved.lvs) {
            const lvs = resolved.lvs;
            for (const [j, n] of (v.lvs.realServers ?? []).entries())
                if (!known.has(n)) issues.push({ key: `${key}.lvs.realServers[${j}]`, value: n, rule: `not a node of the topology (nodes: ${[...known.keys()].join(", ")})` });
            for (const n of Object.keys(v.lvs.weights ?? {}))
                if (!lvs.realServers.some((r) => r.node.name === n))
                    issues.push({ key: `${key}.lvs.weights.${n}`, value: v.lvs.weights![n], rule: `not one of the VIP's real servers (${lvs.realServers.map((r) => r.node.name).join(", ")})` });
            if (lvs.realServers.length === 0) issues.push({ key: `${key}.lvs.realServers`, value: v.lvs.realServers, rule: "a virtual server needs at least one real server" });
            for (const r of lvs.realServers) {
                if (names.includes(r.node.name))
                    issues.push({ key: `${key}.lvs.realServers`, value: r.node.name, rule: `node ${r.node.name} is a director of this VIP; a director cannot be its own real server` });
                const ip = parseIpv4(r.node.address);
                // DR rewrites MAC addresses and NAT makes the director the real servers' gateway: both need one L2 segment.
                if (lvs.lbKind !== "TUN" && segment && (ip === undefined || !cidrContains(segment, ip)))
                    issues.push({
                        key: `${key}.lvs.realServers`,
                        value: r.node.name,
                        rule: `real server ${r.node.name} (${r.node.address}) is outside the VIP's subnet ${resolved.segment}: lb_kind ${lvs.lbKind} needs the real servers on the directors' segment (${
                            lvs.lbKind === "NAT" ? "their default route goes via the VIP" : "DR forwards by MAC address"
                        }); use TUN across networks`,
                    });
            }
        }
    });
    // NAT: a real server's default route goes via the VIP, and a host has one default route.
    const natGateway = new Map<string, string>();
    for (const t of topology.vips)
        for (const r of t.lvs?.lbKind === "NAT" ? t.lvs.realServers : []) {
            const other = natGateway.get(r.node.name);
            if (other && other !== t.address)
                issues.push({ key: base, value: r.node.name, rule: `real server ${r.node.name} is behind two NAT VIPs (${other}, ${t.address}) but has one default route: give NAT VIPs disjoint real servers` });
            natGateway.set(r.node.name, t.address);
        }
    return issues;
}
