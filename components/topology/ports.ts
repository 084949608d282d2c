// Which ports each role binds and which roles must reach which ports, per flavor.
import type { Role } from "../spec/schema";
import type { PlatformSpec } from "../spec/types";
import type { Flow, PortBinding } from "./types";

/** Flavors whose control and data planes keep their configuration in etcd (api7-v3 uses PostgreSQL). */
export function usesEtcd(spec: Pick<PlatformSpec, "flavor">): boolean {
    return spec.flavor !== "api7-v3";
}

/** Ports of the control-plane services, named by service. */
export function controlPlanePorts(spec: PlatformSpec): { service: string; port: number; purpose: string; configKey: string }[] {
    const cp = spec.controlPlane;
    switch (spec.flavor) {
        case "apisix":
            return [{ service: "apisix-admin", port: cp.adminPort, purpose: "APISIX Admin API (control_plane role)", configKey: "controlPlane.adminPort" }];
        case "api7-v2":
            return [{ service: "dashboard", port: cp.dashboardPort, purpose: "API7 dashboard", configKey: "controlPlane.dashboardPort" }];
        case "api7-v3":
            return [
                { service: "dashboard", port: cp.dashboardPort, purpose: "API7 dashboard", configKey: "controlPlane.dashboardPort" },
                { service: "dp-manager", port: cp.dpManagerPort, purpose: "API7 DP Manager (gateways connect here)", configKey: "controlPlane.dpManagerPort" },
            ];
    }
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
    for (const p of controlPlanePorts(spec)) add("load-balancer", "control-plane", p.port, `balancer to ${p.purpose}`, "control-plane");
    if (spec.flavor === "api7-v3")
        add("data-plane", "load-balancer", spec.controlPlane.dpManagerPort, "gateways reach the DP Manager through its balancer", "control-plane");
    add("load-balancer", "data-plane", dp.httpPort, "balancer to gateway HTTP", "gateway");
    add("load-balancer", "data-plane", dp.httpsPort, "balancer to gateway HTTPS", "gateway");
    add("load-balancer", "data-plane", dp.statusPort, "balancer health checks", "gateway");
    add("clients", "load-balancer", dp.httpPort, "client HTTP", "gateway");
    add("clients", "load-balancer", dp.httpsPort, "client HTTPS", "gateway");
    for (const p of controlPlanePorts(spec)) add("operators", "load-balancer", p.port, `operators to ${p.purpose}`, "control-plane");
    add("monitoring", "data-plane", dp.metricsPort, "Prometheus scrape");
    const storage = spec.resilience.fallbackStorage;
    if (storage && usesLocalStorage(spec)) {
        add("control-plane", "storage", storage.port, "control plane dumps its configuration to the fallback buckets");
        add("data-plane", "storage", storage.port, "standalone gateways read the last dump");
    }
    return out;
}
