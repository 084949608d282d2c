// TLS on the management channel (pure): the names the control plane's HTTPS certificates carry, and
// where the control-plane services and the balancers in front of them read their files.
import { parseIpv4 } from "../config/net";
import type { PlatformSpec } from "../config/types";
import type { Topology, TopologyNode } from "../topology/types";

/**
 * The name every management certificate carries. Balancers verify the nodes' certificates against
 * it (the nodes' addresses may change on a replacement; the name does not), and a client that
 * reaches the control plane by an address no certificate lists can pin it with `curl --resolve`.
 */
export const MANAGEMENT_TLS_NAME = "control-plane.gateway-ha.internal";

/** Files of the management certificates inside the services' filesystems. */
export const MANAGEMENT_TLS_PATHS = {
    apisix: { cert: "/usr/local/apisix/conf/management/tls.crt", key: "/usr/local/apisix/conf/management/tls.key", ca: "/usr/local/apisix/conf/management/ca.crt" },
    /** API7 v2's dashboard (conf.ssl.cert, conf.ssl.key). */
    api7v2Dashboard: { cert: "/usr/local/apisix-dashboard/conf/management/tls.crt", key: "/usr/local/apisix-dashboard/conf/management/tls.key" },
    /** API7 v3's dashboard: the chart's example paths (api7-helm-chart charts/api7 values.yaml, `server.tls`). */
    api7v3Dashboard: { cert: "/app/certs/tls.crt", key: "/app/certs/tls.key" },
    /** haproxy's `crt` takes the certificate and its key in one file. */
    haproxy: { pem: "/usr/local/etc/haproxy/control-plane-lb.pem", ca: "/usr/local/etc/haproxy/management-ca.crt" },
    nginx: { cert: "/etc/nginx/control-plane-lb.crt", key: "/etc/nginx/control-plane-lb.key", ca: "/etc/nginx/management-ca.crt" },
} as const;

/** haproxy's `crt` file: the certificate and any intermediates, then the key. */
export function haproxyCertificateFile(certPem: string, keyPem: string): string {
    return `${certPem.trimEnd()}\n${keyPem}`;
}

export interface CertificateNames {
    dns: string[];
    ips: string[];
}

/** Hosts as a certificate's SANs: the stable name first, IPv4 literals as IP SANs, duplicates once. */
export function certificateNames(hosts: string[]): CertificateNames {
    const unique = [...new Set(hosts.filter((h) => h !== ""))];
    return {
        dns: [MANAGEMENT_TLS_NAME, ...unique.filter((h) => parseIpv4(h) === undefined && h !== MANAGEMENT_TLS_NAME)],
        ips: unique.filter((h) => parseIpv4(h) !== undefined),
    };
}

/** VIPs clients reach the control plane on: one protecting it, or one over the balancers. */
function controlPlaneVipAddresses(topology: Topology): string[] {
    return topology.vips.filter((v) => v.protects === "control-plane" || v.protects === "load-balancer").map((v) => v.address);
}

/**
 * A control-plane node's certificate: its own address (balancers, health checks, operators on the
 * node), and where no proxy sits in front (kinds keepalived and lvs) every address clients reach
 * it at, since their TLS ends on the node. `entryHosts` adds the target's own (an NLB's DNS name).
 */
export function controlPlaneCertificateHosts(spec: PlatformSpec, topology: Topology, node: Pick<TopologyNode, "address">, entryHosts: string[] = []): string[] {
    const direct = spec.loadBalancer.kind === "keepalived" || spec.loadBalancer.kind === "lvs";
    return [node.address, ...(direct ? [...topology.balancerAddresses, ...controlPlaneVipAddresses(topology)] : []), ...entryHosts];
}

/** A balancer node's certificate: its own address, the VIPs over the balancers, and the target's entry host. */
export function balancerCertificateHosts(topology: Topology, node: Pick<TopologyNode, "address">, entryHosts: string[] = []): string[] {
    return [node.address, ...controlPlaneVipAddresses(topology), ...entryHosts];
}
