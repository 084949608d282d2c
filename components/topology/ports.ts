// Which ports each role binds and which roles must reach which ports, per flavor.
import type { Role } from "../config/schema";
import type { PlatformSpec } from "../config/types";
import type { Flow, PortBinding, TopologyVip } from "./types";

export interface ControlPlanePort {
    service: string;
    port: number;
    purpose: string;
    configKey: string;
    passThrough?: boolean;
    tls?: boolean;
}

/** Flavors whose control and data planes keep their configuration in etcd (api7-v3 uses PostgreSQL). */
export function usesEtcd(spec: Pick<PlatformSpec, "flavor">): boolean {
    return spec.flavor !== "api7-v3";
}

/**
 * Ports of the control-plane services, named by service. `passThrough`: balancers relay the TCP
 * stream untouched (L4), because the service authenticates its clients by TLS certificate.
 * `tls`: the service serves HTTPS with the stack's management certificates, and balancers in front
 * terminate TLS with their own and verify the node's when they pass the request on.
 */
export function controlPlanePorts(spec: PlatformSpec): ControlPlanePort[] {
    const cp = spec.controlPlane;
    switch (spec.flavor) {
        case "apisix":
            return [{ service: "apisix-admin", port: cp.adminPort, purpose: "APISIX Admin API (control_plane role)", configKey: "controlPlane.adminPort", tls: true }];
        case "api7-v2":
            return [{ service: "dashboard", port: cp.dashboardPort, purpose: "API7 dashboard (HTTPS)", configKey: "controlPlane.dashboardPort", tls: true }];
        case "api7-v3":
            return [
                { service: "dashboard", port: cp.dashboardPort, purpose: "API7 dashboard (HTTPS)", configKey: "controlPlane.dashboardPort", tls: true },
                { service: "dp-manager", port: cp.dpManagerPort, purpose: "API7 DP Manager, mTLS (gateways connect here)", configKey: "controlPlane.dpManagerPort", passThrough: true },
            ];
    }
}

/** The operators' entry point (the first control-plane port) as a URL for `host`. */
export function controlPlaneUrl(spec: PlatformSpec, host: string, port = controlPlanePorts(spec)[0].port): string {
    return `${controlPlanePorts(spec)[0].tls ? "https" : "http"}://${host}:${port}`;
}

export function roleBindings(spec: PlatformSpec, role: Role): PortBinding[] {
    const tcp = (port: number, service: string, purpose: string, configKey: string): PortBinding => ({ port, protocol: "tcp", role, service, purpose, configKey });
    const dp = spec.dataPlane;
    switch (role) {
        case "etcd":
            return [
                tcp(spec.etcd.clientPort, "etcd", "etcd client API", "etcd.clientPort"),
                tcp(spec.etcd.peerPort, "etcd", "etcd peer (Raft) traffic", "etcd.peerPort"),
            ];
        case "control-plane":
            return controlPlanePorts(spec).map((p) => tcp(p.port, p.service, p.purpose, p.configKey));
        case "data-plane":
            return [
                tcp(dp.httpPort, "gateway", "gateway HTTP", "dataPlane.httpPort"),
                tcp(dp.httpsPort, "gateway", "gateway HTTPS", "dataPlane.httpsPort"),
                tcp(dp.statusPort, "gateway", "gateway status endpoint (balancer health checks)", "dataPlane.statusPort"),
                tcp(dp.metricsPort, "gateway", "Prometheus metrics", "dataPlane.metricsPort"),
            ];
        case "load-balancer":
            return [
                tcp(dp.httpPort, "gateway-lb", "gateway balancer HTTP", "dataPlane.httpPort"),
                tcp(dp.httpsPort, "gateway-lb", "gateway balancer HTTPS (TCP pass-through)", "dataPlane.httpsPort"),
                ...controlPlanePorts(spec).map((p) => tcp(p.port, "control-plane-lb", `control-plane balancer: ${p.purpose}`, p.configKey)),
            ];
        case "storage":
            return spec.resilience.fallbackStorage
                ? [tcp(spec.resilience.fallbackStorage.port, "object-storage", "S3-compatible server holding the fallback buckets", "resilience.fallbackStorage.port")]
                : [];
    }
}

/** Whether the fallback buckets live on a storage node of the platform (kind local). */
export function usesLocalStorage(spec: Pick<PlatformSpec, "resilience">): boolean {
    return spec.resilience.fallbackStorage?.kind === "local";
}

export function flows(spec: PlatformSpec): Flow[] {
    const out: Flow[] = [];
    const add = (from: Flow["from"], to: Role, port: number, purpose: string, balancer?: Flow["balancer"]) =>
        out.push({ from, to, port, protocol: "tcp", purpose, ...(balancer ? { balancer } : {}) });
    const { etcd, dataPlane: dp } = spec;
    if (usesEtcd(spec)) {
        add("etcd", "etcd", etcd.peerPort, "Raft replication between members");
        add("etcd", "etcd", etcd.clientPort, "member health checks and bootstrap");
        add("control-plane", "etcd", etcd.clientPort, "control plane reads and writes configuration");
        add("data-plane", "etcd", etcd.clientPort, "gateways watch configuration");
    }
    const kind = spec.loadBalancer.kind;
    if (kind === "keepalived") {
        // No balancer: clients and operators reach the gateways and the control plane on their VIPs.
        if (spec.flavor === "api7-v3") add("data-plane", "control-plane", spec.controlPlane.dpManagerPort, "gateways reach the DP Manager on its VIP");
        add("clients", "data-plane", dp.httpPort, "client HTTP (gateway VIP)");
        add("clients", "data-plane", dp.httpsPort, "client HTTPS (gateway VIP)");
        for (const p of controlPlanePorts(spec)) add("operators", "control-plane", p.port, `operators to ${p.purpose} (control-plane VIP)`);
    } else {
        for (const p of controlPlanePorts(spec)) add("load-balancer", "control-plane", p.port, `balancer to ${p.purpose}`, "control-plane");
        if (spec.flavor === "api7-v3")
            add("data-plane", "load-balancer", spec.controlPlane.dpManagerPort, "gateways reach the DP Manager through its balancer", "control-plane");
        add("load-balancer", "data-plane", dp.httpPort, "balancer to gateway HTTP", "gateway");
        add("load-balancer", "data-plane", dp.httpsPort, "balancer to gateway HTTPS", "gateway");
        add("load-balancer", "data-plane", dp.statusPort, "balancer health checks", "gateway");
        add("clients", "load-balancer", dp.httpPort, "client HTTP", "gateway");
        add("clients", "load-balancer", dp.httpsPort, "client HTTPS", "gateway");
        for (const p of controlPlanePorts(spec)) add("operators", "load-balancer", p.port, `operators to ${p.purpose}`, "control-plane");
    }
    if (kind === "lvs") {
        // DR and TUN keep the client's address: the real servers see clients (and, api7-v3, gateways) directly.
        for (const v of spec.loadBalancer.keepalived.vips) {
            if (!v.lvs || v.lvs.lbKind === "NAT" || v.protects === "load-balancer") continue;
            const ports = v.lvs.ports ?? (v.protects === "data-plane" ? [dp.httpPort, dp.httpsPort] : controlPlanePorts(spec).map((p) => p.port));
            for (const port of ports) add(v.protects === "data-plane" ? "clients" : "operators", v.protects, port, `${v.lvs.lbKind} real server answers clients of VIP ${v.name}`);
            if (v.protects === "control-plane" && spec.flavor === "api7-v3" && ports.includes(spec.controlPlane.dpManagerPort))
                add("data-plane", "control-plane", spec.controlPlane.dpManagerPort, `gateways reach the DP Manager on VIP ${v.name} (${v.lvs.lbKind})`);
        }
    }
    add("monitoring", "data-plane", dp.metricsPort, "Prometheus scrape");
    const storage = spec.resilience.fallbackStorage;
    if (storage && usesLocalStorage(spec)) {
        add("control-plane", "storage", storage.port, "control plane dumps its configuration to the fallback buckets");
        add("data-plane", "storage", storage.port, "standalone gateways read the last dump");
    }
    return out;
}

/**
 * VRRP (IP protocol 112) between the nodes of each VIP, and IP-in-IP from LVS TUN directors to their
 * real servers. Port 0: these protocols have none. Balancer VIPs name the balancer scopes they carry.
 */
export function vrrpFlows(vips: TopologyVip[]): Flow[] {
    const out: Flow[] = [];
    const seen = new Set<string>();
    const add = (f: Flow) => {
        const k = `${f.from}|${f.to}|${f.protocol}|${f.balancer ?? ""}`;
        if (!seen.has(k)) (seen.add(k), out.push(f));
    };
    for (const v of vips) {
        // The role the VIP serves on each node (a compact node is etcd and control plane: only the latter speaks VRRP).
        const roles = [
            ...new Set(v.nodes.flatMap((n): Role[] => (n.roles.includes("load-balancer") ? ["load-balancer"] : n.roles.includes(v.protects) ? [v.protects] : n.roles))),
        ];
        const scopes: (Flow["balancer"] | undefined)[] =
            v.protects === "data-plane" ? ["gateway"] : v.protects === "control-plane" ? ["control-plane"] : ["gateway", "control-plane"];
        for (const from of roles)
            for (const to of roles)
                for (const balancer of from === "load-balancer" || to === "load-balancer" ? scopes : [undefined])
                    add({ from, to, port: 0, protocol: "vrrp", purpose: "VRRP advertisements between the VIP's nodes (IP protocol 112)", ...(balancer ? { balancer } : {}) });
        if (v.lvs?.lbKind === "TUN")
            for (const r of v.lvs.realServers)
                for (const to of r.node.roles.filter((x) => x !== "load-balancer"))
                    add({ from: "load-balancer", to, port: 0, protocol: "ipip", purpose: "LVS TUN: IP-in-IP from the directors to the real servers (IP protocol 4)", balancer: v.protects === "control-plane" ? "control-plane" : "gateway" });
    }
    return out;
}
