// keepalived VIPs resolved against the placed nodes: which nodes hold each VIP, their priorities,
// what its check script probes, and (kind lvs) its virtual servers' real servers.
import type { PlatformSpec } from "../config/types";
import type { Role } from "../config/schema";
import { defaultPriorities, networkOf, OWNER_PRIORITY } from "../config/keepalived";
import { parseCidr } from "../config/net";
import { controlPlanePorts } from "./ports";
import type { TopologyNode, TopologyVip, VipCheck } from "./types";

type VipSpec = PlatformSpec["loadBalancer"]["keepalived"]["vips"][number];

/** Ports clients reach on a VIP protecting this role. */
export function vipPorts(spec: PlatformSpec, protects: VipSpec["protects"]): number[] {
    const dp = spec.dataPlane;
    const cp = controlPlanePorts(spec).map((p) => p.port);
    return protects === "data-plane" ? [dp.httpPort, dp.httpsPort] : protects === "control-plane" ? cp : [dp.httpPort, dp.httpsPort, ...cp];
}

/** Where a VIP sits: its nodes, or the directors for kind lvs, or the protected role's nodes. */
function vipNodes(spec: PlatformSpec, v: VipSpec, byName: Map<string, TopologyNode>, byRole: Record<Role, TopologyNode[]>): TopologyNode[] {
    if (v.nodes) return v.nodes.map((n) => byName.get(n)).filter((n): n is TopologyNode => n !== undefined);
    return spec.loadBalancer.kind === "lvs" ? byRole["load-balancer"] : byRole[v.protects];
}

/** Default check per protected role: the gateways' readiness endpoint, or every port the VIP carries. */
function vipCheck(spec: PlatformSpec, v: VipSpec): VipCheck | undefined {
    if (spec.loadBalancer.kind === "lvs" && v.protects !== "load-balancer") return undefined;
    const c = v.check;
    const type = c?.type ?? (v.protects === "data-plane" ? "http" : "port");
    if (type === "process") return { type, process: c?.process ?? "" };
    if (type === "http")
        return { type, port: c?.port ?? spec.dataPlane.statusPort, path: c?.path ?? spec.loadBalancer.healthCheck.path };
    return { type: "port", ports: c?.port !== undefined ? [c.port] : vipPorts(spec, v.protects) };
}

export function resolveVips(spec: PlatformSpec, nodes: TopologyNode[], byRole: Record<Role, TopologyNode[]>): TopologyVip[] {
    const k = spec.loadBalancer.keepalived;
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const local = spec.target === "docker" && !nodes.some((n) => n.ssh);
    const subnet = parseCidr(spec.docker.subnet);
    return k.vips.map((v) => {
        const placed = vipNodes(spec, v, byName, byRole);
        const defaults = defaultPriorities(placed.length);
        let backups = 0;
        const priorities = Object.fromEntries(
            placed.map((n) => {
                if (v.priorities?.[n.name] !== undefined) return [n.name, v.priorities[n.name]];
                if (n.name === v.addressOwner) return [n.name, OWNER_PRIORITY];
                return [n.name, defaults[backups++]];
            }),
        );
        const ordered = [...placed].sort((a, b) => priorities[b.name] - priorities[a.name]);
        const prefix = local && subnet ? subnet.prefix : (v.prefix ?? 32);
        const ports = vipPorts(spec, v.protects);
        const lvs = v.lvs;
        const realServers = lvs
            ? (lvs.realServers ? lvs.realServers.map((n) => byName.get(n)).filter((n): n is TopologyNode => n !== undefined) : byRole[v.protects === "load-balancer" ? "data-plane" : v.protects])
            : [];
        const check = vipCheck(spec, v);
        return {
            name: v.name,
            address: v.address,
            prefix,
            segment: local && subnet ? spec.docker.subnet : networkOf(v.address, prefix),
            virtualRouterId: v.virtualRouterId,
            protects: v.protects,
            nodes: ordered,
            priorities,
            master: ordered[0]?.name ?? "",
            initialState: v.initialState,
            ports,
            ...(check ? { check } : {}),
            ...(lvs
                ? {
                      lvs: {
                          ports: lvs.ports ?? ports,
                          lbAlgo: lvs.lbAlgo,
                          lbKind: lvs.lbKind,
                          persistenceTimeout: lvs.persistenceTimeout,
                          checker: lvs.checker,
                          realServers: realServers.map((node) => ({ node, weight: lvs.weights?.[node.name] ?? 1 })),
                          ...(lvs.checker === "HTTP_GET" ? { httpCheck: { path: spec.loadBalancer.healthCheck.path, port: spec.dataPlane.statusPort } } : {}),
                      },
                  }
                : {}),
        };
    });
}
