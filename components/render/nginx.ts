// nginx configuration for one balancer process on a load-balancer node (pure: spec + topology -> text).
// Targets the official nginx image (stream module built in); the image's CMD runs `nginx -g 'daemon off;'`,
// so this file must not set `daemon`.
import type { PlatformSpec } from "../config/types";
import { controlPlanePorts, type Topology, type TopologyNode } from "../topology";
import { generatedHeader, type BalancerScope } from "./haproxy";
import { MANAGEMENT_TLS_NAME, MANAGEMENT_TLS_PATHS } from "./managementTls";

export type { BalancerScope } from "./haproxy";

/**
 * nginx open source only has passive checks: after max_fails failed requests within
 * fail_timeout a server is skipped for fail_timeout, then one live request probes it again.
 * max_fails = fall and fail_timeout = interval × fall give the window an active checker with
 * the same settings needs to declare a node down. `rise` has no equivalent.
 */
function upstreamServer(node: TopologyNode, port: number, spec: PlatformSpec): string {
    const hc = spec.loadBalancer.healthCheck;
    return `        server ${node.address}:${port} max_fails=${hc.fall} fail_timeout=${hc.intervalSeconds * hc.fall}s; # ${node.name}`;
}

/**
 * Retries: nginx never passes a non-idempotent request (POST, LOCK, PATCH) to another server
 * once it was sent, unless `non_idempotent` is listed, which it deliberately is not.
 * Tries count the first attempt too. Every listed condition also counts towards max_fails.
 */
function httpProxyLines(spec: PlatformSpec, upstream: string, indent: string, scope: BalancerScope, tls = false): string[] {
    const lb = spec.loadBalancer;
    // A control-plane node answers 503 when etcd has no leader, and so does every other: passing it
    // on would mark all of them down, and writes would fail for fail_timeout after etcd recovered.
    const conditions = scope === "gateway" ? "error timeout http_502 http_503 http_504" : "error timeout http_502 http_504";
    // HTTPS upstreams: the node's certificate verified against the management CA under the name they all carry.
    const upstreamTls = [
        "proxy_ssl_verify on;",
        `proxy_ssl_trusted_certificate ${MANAGEMENT_TLS_PATHS.nginx.ca};`,
        `proxy_ssl_name ${MANAGEMENT_TLS_NAME};`,
        "proxy_ssl_server_name on;",
    ];
    return [
        `proxy_pass ${tls ? "https" : "http"}://${upstream};`,
        ...(tls ? upstreamTls : []),
        `proxy_connect_timeout ${lb.healthCheck.timeoutSeconds}s;`,
        `proxy_next_upstream ${conditions};`,
        `proxy_next_upstream_tries ${lb.retries + 1};`,
    ].map((l) => indent + l);
}

function httpUpstream(name: string, nodes: TopologyNode[], port: number, spec: PlatformSpec): string[] {
    return [
        `    upstream ${name} {`,
        ...nodes.map((n) => upstreamServer(n, port, spec)),
        "        keepalive 32;",
        // Below the gateways' own keepalive timeout, so nginx never reuses a connection the peer is closing.
        "        keepalive_timeout 30s;",
        "    }",
    ];
}

function httpBlock(servers: string[], extra: string[] = []): string[] {
    return [
        "http {",
        "    access_log /dev/stdout;",
        "    server_tokens off;",
        // The gateways enforce request-size limits per route.
        "    client_max_body_size 0;",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Host $http_host;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        // Pass WebSocket upgrades; otherwise clear Connection so upstream keepalive works.
        "    proxy_set_header Upgrade $http_upgrade;",
        "    proxy_set_header Connection $connection_upgrade;",
        "    map $http_upgrade $connection_upgrade {",
        "        default upgrade;",
        "        '' '';",
        "    }",
        ...extra,
        "",
        ...servers,
        "}",
    ];
}

function gatewayConf(spec: PlatformSpec, topology: Topology): string[] {
    const dp = spec.dataPlane;
    const gateways = topology.byRole["data-plane"];
    return [
        ...httpBlock([
            ...httpUpstream("gateway_http", gateways, dp.httpPort, spec),
            "",
            "    server {",
            `        listen ${dp.httpPort};`,
            "        location / {",
            ...httpProxyLines(spec, "gateway_http", "            ", "gateway"),
            "        }",
            "    }",
        ]),
        "",
        // TLS terminates on the gateways: HTTPS is passed through as TCP.
        "stream {",
        ...STREAM_LOG,
        "",
        "    upstream gateway_https {",
        ...gateways.map((n) => upstreamServer(n, dp.httpsPort, spec)),
        "    }",
        "",
        ...streamServer(spec, dp.httpsPort, "gateway_https"),
        "}",
    ];
}

/** A TCP pass-through server: only connection failures can be retried on a byte stream (nothing was relayed yet). */
function streamServer(spec: PlatformSpec, port: number, upstream: string): string[] {
    const lb = spec.loadBalancer;
    return [
        "    server {",
        `        listen ${port};`,
        `        proxy_pass ${upstream};`,
        `        proxy_connect_timeout ${lb.healthCheck.timeoutSeconds}s;`,
        "        proxy_next_upstream on;",
        `        proxy_next_upstream_tries ${lb.retries + 1};`,
        "        proxy_timeout 1h;",
        "    }",
    ];
}

const STREAM_LOG = [
    "    log_format tcp '$remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time \"$upstream_addr\"';",
    "    access_log /dev/stdout tcp;",
];

function controlPlaneConf(spec: PlatformSpec, topology: Topology): string[] {
    const nodes = topology.byRole["control-plane"];
    const ports = controlPlanePorts(spec);
    // The DP Manager checks the gateways' client certificates itself: its TLS passes through as TCP.
    const relayed = ports.filter((p) => p.passThrough);
    const stream = relayed.length
        ? [
              "",
              "stream {",
              ...STREAM_LOG,
              ...relayed.flatMap((p) => [
                  "",
                  `    # ${p.purpose} (${p.configKey})`,
                  `    upstream cp_${p.service} {`,
                  ...nodes.map((n) => upstreamServer(n, p.port, spec)),
                  "    }",
                  "",
                  ...streamServer(spec, p.port, `cp_${p.service}`),
              ]),
              "}",
          ]
        : [];
    const paths = MANAGEMENT_TLS_PATHS.nginx;
    const servers = ports.filter((p) => !p.passThrough).flatMap((p, i) => [
        ...(i > 0 ? [""] : []),
        `    # ${p.purpose} (${p.configKey})`,
        ...httpUpstream(`cp_${p.service}`, nodes, p.port, spec),
        "",
        "    server {",
        ...(p.tls ? [`        listen ${p.port} ssl;`, `        ssl_certificate ${paths.cert};`, `        ssl_certificate_key ${paths.key};`] : [`        listen ${p.port};`]),
        "        location / {",
        ...httpProxyLines(spec, `cp_${p.service}`, "            ", "control-plane", p.tls === true),
        "        }",
        "    }",
    ]);
    // Configuration watches are long-lived streamed responses: relay each event as it arrives.
    return [...httpBlock(servers, ["    proxy_buffering off;"]), ...stream];
}

/** nginx.conf for the gateway or control-plane balancer of a load-balancer node. */
export function renderNginxConf(spec: PlatformSpec, topology: Topology, scope: BalancerScope): string {
    const lines = [
        ...generatedHeader(spec, "nginx", scope),
        "",
        // No `user`: the official image's build default (nginx) applies.
        "worker_processes auto;",
        "pid /tmp/nginx.pid;",
        "error_log stderr warn;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        ...(scope === "gateway" ? gatewayConf(spec, topology) : controlPlaneConf(spec, topology)),
    ];
    return lines.join("\n") + "\n";
}
