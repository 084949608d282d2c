// Cross-field rules on parsed config. Each rule is a pure function returning the
// issues it finds, so every problem is reported at once.
import {
    AVAILABLE_TARGETS,
    BALANCER_KINDS,
    FLAVORS,
    LAYOUTS,
    ROLES,
    TARGETS,
    type BalancerKind,
    type PlatformConfig,
} from "./schema";
import type { ConfigIssue } from "./issues";
import { isValidHostAddress, parseCidr, parseIpv4 } from "./net";

type Issues = ConfigIssue[];

function oneOf(key: string, value: string, allowed: readonly string[], what: string): Issues {
    return allowed.includes(value) ? [] : [{ key, value, rule: `unknown ${what}; expected one of ${allowed.join(", ")}` }];
}

export function checkChoices(c: PlatformConfig): Issues {
    const issues = [
        ...oneOf("flavor", c.flavor, FLAVORS, "flavor"),
        ...oneOf("target", c.target, TARGETS, "target"),
        ...oneOf("layout", c.layout, LAYOUTS, "layout"),
        ...oneOf("loadBalancer.kind", c.loadBalancer.kind, BALANCER_KINDS, "load balancer kind"),
    ];
    if ((TARGETS as readonly string[]).includes(c.target) && !(AVAILABLE_TARGETS as readonly string[]).includes(c.target))
        issues.push({ key: "target", value: c.target, rule: `target not available yet; available: ${AVAILABLE_TARGETS.join(", ")}` });
    c.nodes.forEach((n, i) =>
        (n.roles ?? []).forEach((r, j) => issues.push(...oneOf(`nodes[${i}].roles[${j}]`, r, ROLES, "role"))),
    );
    return issues;
}

/** etcd requires election timeout ≥ 5 × heartbeat (its own guidance) and caps it at 50 s. */
export function checkEtcdTiming(etcd: Pick<PlatformConfig["etcd"], "heartbeatMs" | "electionMs">): Issues {
    const issues: Issues = [];
    if (etcd.electionMs < 5 * etcd.heartbeatMs)
        issues.push({ key: "etcd.electionMs", value: etcd.electionMs, rule: `must be at least 5 × etcd.heartbeatMs (${5 * etcd.heartbeatMs})` });
    if (etcd.electionMs > 50000) issues.push({ key: "etcd.electionMs", value: etcd.electionMs, rule: "must be at most 50000 (etcd's limit)" });
    return issues;
}

export function checkLayoutCounts(c: PlatformConfig, raw: Record<string, unknown>): Issues {
    const issues: Issues = [];
    if (c.layout === "compact") {
        if (c.flavor !== "api7-v3" && c.etcd.members !== 3)
            issues.push({ key: "etcd.members", value: c.etcd.members, rule: "the compact layout has exactly 3 etcd members (nodes 1–3, seed 001)" });
        if (c.controlPlane.replicas > 2)
            issues.push({ key: "controlPlane.replicas", value: c.controlPlane.replicas, rule: "the compact layout co-locates the control plane on nodes 1–2: at most 2" });
    }
    if (c.layout === "custom") {
        if (c.nodes.length === 0) issues.push({ key: "nodes", value: [], rule: "the custom layout needs a list of nodes with roles" });
        c.nodes.forEach((n, i) => {
            if (!n.roles?.length) issues.push({ key: `nodes[${i}].roles`, value: n.roles, rule: "every node of the custom layout needs at least one role" });
        });
        const counted: [string, string][] = [
            ["etcd", "members"],
            ["controlPlane", "replicas"],
            ["dataPlane", "replicas"],
        ];
        for (const [section, field] of counted) {
            const given = (raw[section] as Record<string, unknown> | undefined)?.[field];
            if (given !== undefined)
                issues.push({ key: `${section}.${field}`, value: given, rule: "the custom layout counts members from the nodes' roles; remove this key" });
        }
    } else {
        c.nodes.forEach((n, i) => {
            if (n.roles !== undefined)
                issues.push({ key: `nodes[${i}].roles`, value: n.roles, rule: `roles are set by the ${c.layout} layout; use layout custom to place roles` });
        });
    }
    return issues;
}

export function checkNodes(c: PlatformConfig): Issues {
    const issues: Issues = [];
    const names = new Set<string>();
    const addresses = new Set<string>();
    c.nodes.forEach((n, i) => {
        if (names.has(n.name)) issues.push({ key: `nodes[${i}].name`, value: n.name, rule: "node names must be unique" });
        names.add(n.name);
        if (n.address !== undefined) {
            if (!isValidHostAddress(n.address))
                issues.push({ key: `nodes[${i}].address`, value: n.address, rule: "must be an IPv4 address or a hostname" });
            else if (addresses.has(n.address)) issues.push({ key: `nodes[${i}].address`, value: n.address, rule: "node addresses must be unique" });
            addresses.add(n.address);
        }
        if (n.sshUser !== undefined && n.address === undefined)
            issues.push({ key: `nodes[${i}].sshUser`, value: n.sshUser, rule: "a remote Docker host needs nodes[].address as well" });
        if (n.sshPort !== undefined && n.sshUser === undefined)
            issues.push({ key: `nodes[${i}].sshPort`, value: n.sshPort, rule: "only meaningful with nodes[].sshUser" });
    });
    return issues;
}

/**
 * Remote Docker hosts use host networking and their own addresses; local nodes live on the
 * deployer's bridge network, which remote hosts cannot reach. A platform is one or the other.
 */
export function checkDockerPlacement(c: PlatformConfig, nodeNames: string[]): Issues {
    const remote = c.nodes.filter((n) => n.sshUser !== undefined).map((n) => n.name);
    if (remote.length === 0) return [];
    const local = nodeNames.filter((n) => !remote.includes(n));
    if (local.length === 0) return [];
    const i = c.nodes.findIndex((n) => n.sshUser !== undefined);
    return [
        {
            key: `nodes[${i}].sshUser`,
            value: c.nodes[i].sshUser,
            rule: `remote Docker hosts cannot reach nodes on the local network; give every node an address and sshUser, or none (local: ${local.join(", ")})`,
        },
    ];
}

/** What each balancer accepts for its checks; nginx open source has passive checks only (max_fails/fail_timeout). */
export const HEALTH_CHECK_LIMITS: Record<BalancerKind, Record<"intervalSeconds" | "timeoutSeconds" | "fall" | "rise", [number, number]>> = {
    haproxy: { intervalSeconds: [1, 3600], timeoutSeconds: [1, 3600], fall: [1, 100], rise: [1, 100] },
    nginx: { intervalSeconds: [1, 3600], timeoutSeconds: [1, 3600], fall: [1, 100], rise: [1, 100] },
};

export function checkHealthCheck(lb: PlatformConfig["loadBalancer"], statusPort: number): Issues {
    const issues: Issues = [];
    const limits = HEALTH_CHECK_LIMITS[lb.kind as BalancerKind];
    const hc = lb.healthCheck;
    if (limits)
        for (const [field, [lo, hi]] of Object.entries(limits) as [keyof typeof limits, [number, number]][]) {
            const v = hc[field];
            if (v < lo || v > hi)
                issues.push({ key: `loadBalancer.healthCheck.${field}`, value: v, rule: `${lb.kind} accepts ${lo}–${hi}` });
        }
    if (hc.timeoutSeconds > hc.intervalSeconds)
        issues.push({ key: "loadBalancer.healthCheck.timeoutSeconds", value: hc.timeoutSeconds, rule: `must not exceed loadBalancer.healthCheck.intervalSeconds (${hc.intervalSeconds})` });
    if (hc.port !== undefined && hc.port !== statusPort)
        issues.push({ key: "loadBalancer.healthCheck.port", value: hc.port, rule: `must be the gateways' status port dataPlane.statusPort (${statusPort}): nothing else answers the status API` });
    return issues;
}

/** api7-v3 keeps everything in PostgreSQL: the DSN is required and must be a postgres URL. */
export function checkDatabase(flavor: string, dsn: string | undefined): Issues {
    if (flavor !== "api7-v3") {
        return dsn === undefined ? [] : [{ key: "controlPlane.databaseDsn", value: dsn, rule: "only used by flavor api7-v3; remove it" }];
    }
    if (dsn === undefined || dsn === "")
        return [{ key: "controlPlane.databaseDsn", value: undefined, rule: "required for flavor api7-v3: set it with `pulumi config set --secret --path controlPlane.databaseDsn postgres://…`" }];
    if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(dsn))
        return [{ key: "controlPlane.databaseDsn", value: dsn, rule: "must be a PostgreSQL URL postgres://user:password@host:port/database" }];
    return [];
}

export function checkNetworks(c: PlatformConfig): Issues {
    const issues: Issues = [];
    c.dataPlane.adminAllow.forEach((cidr, i) => {
        if (!parseCidr(cidr)) issues.push({ key: `dataPlane.adminAllow[${i}]`, value: cidr, rule: "must be an IPv4 CIDR such as 10.0.0.0/8 (no host bits set)" });
    });
    const subnet = parseCidr(c.docker.subnet);
    if (!subnet) issues.push({ key: "docker.subnet", value: c.docker.subnet, rule: "must be an IPv4 CIDR such as 172.28.0.0/24 (no host bits set)" });
    else if (subnet.prefix > 28) issues.push({ key: "docker.subnet", value: c.docker.subnet, rule: "must be /28 or larger to hold the platform's nodes" });
    if (parseIpv4(c.docker.publishAddress) === undefined)
        issues.push({ key: "docker.publishAddress", value: c.docker.publishAddress, rule: "must be an IPv4 address (127.0.0.1 keeps the stack private to this host)" });
    const p = c.docker.publishedPorts;
    if (new Set([p.http, p.https, p.controlPlane]).size !== 3)
        issues.push({ key: "docker.publishedPorts", value: p, rule: "http, https and controlPlane need different host ports" });
    return issues;
}

export function validateConfig(c: PlatformConfig, raw: Record<string, unknown>, dsn: string | undefined): Issues {
    return [
        ...checkChoices(c),
        ...checkEtcdTiming(c.etcd),
        ...checkLayoutCounts(c, raw),
        ...checkNodes(c),
        ...checkHealthCheck(c.loadBalancer, c.dataPlane.statusPort),
        ...checkDatabase(c.flavor, dsn),
        ...checkNetworks(c),
    ];
}
