// Cross-field rules on parsed config. Each rule is a pure function returning the
// issues it finds, so every problem is reported at once.
import { concreteKeys } from "./paths";
import {
    AVAILABLE_TARGETS,
    BALANCER_KINDS,
    API7V2_DASHBOARD_PLAIN_PORT,
    DASHBOARD_PLAIN_PORT,
    DEFAULT_IMAGES,
    DP_MANAGER_PLAIN_PORT,
    FLAVORS,
    LAYOUTS,
    NAT_GATEWAY_MODES,
    RESILIENCE_MODES,
    ROLES,
    STORAGE_KINDS,
    TARGETS,
    type BalancerKind,
    type PlatformConfig,
} from "./schema";
import { checkServingCertificate } from "./certificates";
import type { ConfigIssue } from "./issues";
import type { HostFirewallSources } from "./types";
import { imageVersion, readsOneFallbackBucket } from "./images";
import { cidrContains, isValidHostAddress, parseCidr, parseIpv4 } from "./net";
import { checkKeepalived } from "./keepalived";
import { knownHostsName, parseKnownHostsLine, pinnedHostKey } from "./knownHosts";

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

type HealthCheckField = "intervalSeconds" | "timeoutSeconds" | "fall" | "rise";

/**
 * What each balancer accepts for its checks; nginx open source has passive checks only
 * (max_fails/fail_timeout). On target aws the checks are the NLB target group's.
 */
export const HEALTH_CHECK_LIMITS: Record<BalancerKind | "aws-nlb", Record<HealthCheckField, [number, number]>> = {
    haproxy: { intervalSeconds: [1, 3600], timeoutSeconds: [1, 3600], fall: [1, 100], rise: [1, 100] },
    nginx: { intervalSeconds: [1, 3600], timeoutSeconds: [1, 3600], fall: [1, 100], rise: [1, 100] },
    // No proxy: healthCheck is the gateways' container probe and the path LVS HTTP_GET and the VIP checks use.
    keepalived: { intervalSeconds: [1, 3600], timeoutSeconds: [1, 3600], fall: [1, 100], rise: [1, 100] },
    lvs: { intervalSeconds: [1, 3600], timeoutSeconds: [1, 3600], fall: [1, 100], rise: [1, 100] },
    "aws-nlb": { intervalSeconds: [5, 300], timeoutSeconds: [2, 120], fall: [2, 10], rise: [2, 10] },
};

/** Interval and timeout when unset: fast for our own balancers, the NLB's minimums on aws. */
export function healthCheckDefaults(target: string): { intervalSeconds: number; timeoutSeconds: number } {
    return target === "aws" ? { intervalSeconds: 5, timeoutSeconds: 2 } : { intervalSeconds: 2, timeoutSeconds: 1 };
}

export function checkHealthCheck(lb: PlatformConfig["loadBalancer"], statusPort: number, target = "docker"): Issues {
    const issues: Issues = [];
    const checker = target === "aws" ? "aws-nlb" : (lb.kind as BalancerKind);
    const limits = HEALTH_CHECK_LIMITS[checker];
    const hc = { ...healthCheckDefaults(target), ...Object.fromEntries(Object.entries(lb.healthCheck).filter(([, v]) => v !== undefined)) } as Required<
        PlatformConfig["loadBalancer"]["healthCheck"]
    >;
    const who = checker === "aws-nlb" ? "an AWS NLB target group" : lb.kind;
    if (limits)
        for (const [field, [lo, hi]] of Object.entries(limits) as [HealthCheckField, [number, number]][]) {
            const v = hc[field];
            if (v < lo || v > hi) issues.push({ key: `loadBalancer.healthCheck.${field}`, value: v, rule: `${who} accepts ${lo}–${hi}` });
        }
    if (hc.timeoutSeconds > hc.intervalSeconds)
        issues.push({ key: "loadBalancer.healthCheck.timeoutSeconds", value: hc.timeoutSeconds, rule: `must not exceed loadBalancer.healthCheck.intervalSeconds (${hc.intervalSeconds})` });
    if (hc.port !== undefined && hc.port !== statusPort)
        issues.push({ key: "loadBalancer.healthCheck.port", value: hc.port, rule: `must be the gateways' status port dataPlane.statusPort (${statusPort}): nothing else answers the status API` });
    return issues;
}

/** api7-v3 keeps everything in PostgreSQL: the DSN is required and must be a postgres URL. */

/**
 * API7 v2 gateways read the prefix of a cluster the console created (its ID is generated there):
 * no default can match it, and a wrong one leaves the gateways serving nothing, silently.
 */
export function checkClusterId(c: PlatformConfig): Issues {
    const id = c.dataPlane.clusterId;
    if (c.flavor === "api7-v2" && id === undefined)
        return [
            {
                key: "dataPlane.clusterId",
                value: undefined,
                rule: "required for flavor api7-v2: the ID of this gateway cluster in the API7 v2 console (Cluster Management → Cluster List → Copy cluster information); gateways read /api7/<id>",
            },
        ];
    // Kept when another flavor is chosen, so one stack file can be switched with `--set flavor=`.
    return [];
}

/**
 * The API7 control planes' plain listeners stay on loopback ports of their own (API7 v3's DP
 * Manager 7900 and its disabled dashboard listener 7080; API7 v2's dashboard 9001), so no TLS
 * listener may take them.
 */
export function checkApi7LoopbackPorts(c: PlatformConfig): Issues {
    if (c.flavor === "apisix") return [];
    const held: Record<number, string> =
        c.flavor === "api7-v3"
            ? {
                  [DP_MANAGER_PLAIN_PORT]: "the DP Manager's plain listener holds it on loopback",
                  [DASHBOARD_PLAIN_PORT]: "the dashboard's plain listener (disabled) is configured on it on loopback",
              }
            : { [API7V2_DASHBOARD_PLAIN_PORT]: "the dashboard's plain listener holds it on loopback" };
    const listeners =
        c.flavor === "api7-v3"
            ? [
                  { key: "controlPlane.dpManagerPort", value: c.controlPlane.dpManagerPort, usual: "7943" },
                  { key: "controlPlane.dashboardPort", value: c.controlPlane.dashboardPort, usual: "17080" },
              ]
            : [{ key: "controlPlane.dashboardPort", value: c.controlPlane.dashboardPort, usual: "9000" }];
    return listeners
        .filter((l) => l.value !== undefined && held[l.value] !== undefined)
        .map((l) => ({ key: l.key, value: l.value, rule: `must not be ${l.value}: ${held[l.value!]} (${l.usual} by default)` }));
}

/** API7 v3: the dashboard and the DP Manager share one database schema, so they run one version. */
export function checkApi7v3Versions(c: PlatformConfig): Issues {
    if (c.flavor !== "api7-v3") return [];
    const dashboard = c.controlPlane.image ?? DEFAULT_IMAGES.api7v3Dashboard;
    const dpm = c.controlPlane.dpManagerImage ?? DEFAULT_IMAGES.api7v3DpManager;
    // A digest says nothing about the version: only tags can be compared.
    if (dashboard.includes("@") || dpm.includes("@") || imageVersion(dashboard) === imageVersion(dpm)) return [];
    return [
        {
            key: "controlPlane.dpManagerImage",
            value: dpm,
            rule: `must be the dashboard's version (controlPlane.image ${dashboard}): dashboard and DP Manager share one database and are released together`,
        },
    ];
}

export function checkDatabase(flavor: string, dsn: string | undefined): Issues {
    if (flavor !== "api7-v3") {
        return dsn === undefined ? [] : [{ key: "controlPlane.databaseDsn", value: dsn, rule: "only used by flavor api7-v3; remove it" }];
    }
    if (dsn === undefined || dsn === "")
        return [{ key: "controlPlane.databaseDsn", value: undefined, rule: "required for flavor api7-v3: set it with `pulumi config set --secret --path controlPlane.databaseDsn postgres://…`" }];
    if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(dsn))
        return [{ key: "controlPlane.databaseDsn", value: dsn, rule: "must be a PostgreSQL URL postgres://user:password@host:port/database?sslmode=verify-full" }];
    const sslmode = new URLSearchParams(dsn.includes("?") ? dsn.slice(dsn.indexOf("?") + 1) : "").get("sslmode");
    if (sslmode === null || !ENCRYPTED_SSLMODES.includes(sslmode))
        return [
            {
                key: "controlPlane.databaseDsn",
                value: dsn,
                rule: `sslmode must be one of ${ENCRYPTED_SSLMODES.join(", ")} (got ${sslmode === null ? "none" : sslmode}): the drivers' default, prefer, and allow fall back to an unencrypted connection, which carries the configuration and its secrets in the clear`,
            },
        ];
    return [];
}

/** PostgreSQL sslmodes that never connect without TLS; verify-full also checks the server's name. */
export const ENCRYPTED_SSLMODES = ["verify-full", "verify-ca", "require"] as const as readonly string[];

/** Config paths whose values are secrets: each must be set with `pulumi config set --secret`. */
export const SECRET_CONFIG_PATHS = ["controlPlane.databaseDsn", "controlPlane.certificate.privateKey", "ssh.privateKey", "dataPlane.dpManagerIdentity.privateKey", "loadBalancer.keepalived.vips[].authPass"] as const;

/** The secret paths that hold a value in a (namespace-stripped) config object. */
export function secretPathsIn(config: Record<string, unknown>): (typeof SECRET_CONFIG_PATHS)[number][] {
    return SECRET_CONFIG_PATHS.filter((p) => concreteKeys(config, p).length > 0);
}

/** Every key of a config object (or a platform's Args) that holds a secret value, indices filled in (`loadBalancer.keepalived.vips[1].authPass`). */
export function secretKeysIn(config: Record<string, unknown>): string[] {
    return SECRET_CONFIG_PATHS.flatMap((p) => concreteKeys(config, p));
}

/**
 * A secret set without `--secret` is stored in plain text in the stack's config file and in the
 * state. Pulumi marks secret config by top-level key (`--path` marks the whole section), so the
 * section holding a secret value must be one of `secretKeys`.
 */
export function checkSecretsMarked(c: PlatformConfig, secretKeys: readonly string[], namespace: string): Issues {
    const present = secretPathsIn(c as unknown as Record<string, unknown>);
    return present.filter((p) => !secretKeys.includes(`${namespace}:${p.split(".")[0]}`)).map((p) => ({
        key: p,
        value: "(not shown)",
        hideValue: true,
        rule: `holds a secret but was set in plain text: set it with \`pulumi config set --secret --path ${p.replace("[]", "[0]")} …\` (a plain value is stored unencrypted in Pulumi.<stack>.yaml)`,
    }));
}

/** What `pulumi up`'s environment says of the passphrase provider's passphrase. */
export function statePassphrase(env: Record<string, string | undefined>): "empty" | "set" | "unknown" {
    if (env.PULUMI_CONFIG_PASSPHRASE_FILE) return "set";
    if (env.PULUMI_CONFIG_PASSPHRASE === undefined) return "unknown";
    return env.PULUMI_CONFIG_PASSPHRASE === "" ? "empty" : "set";
}

/**
 * How the stack's state is encrypted, as the environment of `pulumi up` shows it: an empty
 * passphrase lets anyone holding the state file (or a copy of the backend) decrypt every secret.
 * Only a stack marked localDevelopment, whose state stays on this machine, may run with one.
 */
export function checkStateEncryption(c: PlatformConfig, passphrase: "empty" | "set" | "unknown"): Issues {
    const issues: Issues = [];
    if (passphrase === "empty" && !c.localDevelopment)
        issues.push({
            key: "localDevelopment",
            value: c.localDevelopment,
            rule: "PULUMI_CONFIG_PASSPHRASE is empty, so anyone holding the state decrypts its secrets (CA key, passwords, DSN, SSH key): export a passphrase (or PULUMI_CONFIG_PASSPHRASE_FILE), or use a KMS secrets provider (`pulumi stack change-secrets-provider awskms://alias/<key>`); only a local development stack may set localDevelopment: true",
        });
    const remote = c.nodes.filter((n) => n.sshUser !== undefined).map((n) => n.name);
    if (c.localDevelopment && (c.target !== "docker" || remote.length))
        issues.push({
            key: "localDevelopment",
            value: true,
            rule: `is for a stack on this machine's Docker engine only (target ${c.target}${remote.length ? `, remote Docker hosts ${remote.join(", ")}` : ""}): its state and secrets would guard real hosts`,
        });
    return issues;
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

/**
 * A CA rotation's phases (docs/day-2.md, "Rotating the CA"): trust the next CA too, sign with it, trust it
 * alone. The signing CA is always trusted, and at most two consecutive generations are.
 */
export function checkEtcdCaTrust(etcd: Pick<PlatformConfig["etcd"], "tls" | "caGeneration" | "caTrust">): Issues {
    const trust = etcd.caTrust;
    if (!etcd.tls && (etcd.caGeneration > 0 || trust !== undefined))
        return [{ key: etcd.caGeneration > 0 ? "etcd.caGeneration" : "etcd.caTrust", value: etcd.caGeneration > 0 ? etcd.caGeneration : trust, rule: "needs etcd.tls: without TLS there is no CA to rotate" }];
    if (trust === undefined) return [];
    if (!trust.includes(etcd.caGeneration))
        return [{ key: "etcd.caTrust", value: trust, rule: `must include etcd.caGeneration (${etcd.caGeneration}): the CA that signs the certificates must be trusted` }];
    const distinct = [...new Set(trust)].sort((a, b) => a - b);
    if (distinct.length !== trust.length || distinct.length > 2 || (distinct.length === 2 && distinct[1] - distinct[0] !== 1))
        return [{ key: "etcd.caTrust", value: trust, rule: "must hold one CA generation, or two consecutive ones during a rotation (such as [0, 1])" }];
    return [];
}

/** A consumer password rotation needs consumers with passwords: etcd with auth. */
export function checkConsumerPasswordRotation(c: Pick<PlatformConfig, "flavor"> & { etcd: Pick<PlatformConfig["etcd"], "auth" | "consumerPasswordRotation"> }): Issues {
    const value = c.etcd.consumerPasswordRotation;
    if (value === 0) return [];
    const key = "etcd.consumerPasswordRotation";
    if (c.flavor === "api7-v3") return [{ key, value, rule: "flavor api7-v3 has no etcd: its gateways authenticate to the DP Manager by certificate" }];
    if (!c.etcd.auth) return [{ key, value, rule: "needs etcd.auth: without auth the consumers have no passwords" }];
    return [];
}

/** The CA generations trusted, oldest first. */
export const trustedCaGenerations = (etcd: Pick<PlatformConfig["etcd"], "caGeneration" | "caTrust">): number[] => [...new Set(etcd.caTrust ?? [etcd.caGeneration])].sort((a, b) => a - b);

export function validateConfig(c: PlatformConfig, raw: Record<string, unknown>, dsn: string | undefined): Issues {
    return [
        ...checkChoices(c),
        ...checkEtcdTiming(c.etcd),
        ...checkEtcdCaTrust(c.etcd),
        ...checkConsumerPasswordRotation(c),
        ...checkLayoutCounts(c, raw),
        ...checkNodes(c),
        ...checkHealthCheck(c.loadBalancer, c.dataPlane.statusPort, c.target),
        ...checkDatabase(c.flavor, dsn),
        ...checkApi7v3Versions(c),
        ...checkApi7LoopbackPorts(c),
        ...checkControlPlaneCertificate(c, new Date()),
        ...checkClusterId(c),
        ...checkNetworks(c),
        ...checkAws(c),
        ...checkSsh(c, raw),
        ...checkDockerFirewall(c, raw),
        ...checkResilience(c),
        ...checkKeepalived(c),
    ];
}

/** An operator-supplied control-plane certificate that clients and its servers would accept (checkServingCertificate). */
export function checkControlPlaneCertificate(c: PlatformConfig, now: Date): Issues {
    const cert = c.controlPlane.certificate;
    if (!cert) return [];
    return checkServingCertificate(cert, now).map((p) => ({ key: `controlPlane.certificate.${p.field}`, value: p.shown, ...(p.field === "privateKey" ? { hideValue: true } : {}), rule: p.rule }));
}

/** Target ssh: a way to log in, well-formed host keys and firewall sources; no other target's settings. */
export function checkSsh(c: PlatformConfig, raw: Record<string, unknown>): Issues {
    const issues: Issues = [];
    // Pulumi passes Pulumi.yaml's defaults ({}) for every key: only a non-empty section is "set".
    const isSet = (v: unknown) => v !== undefined && !(typeof v === "object" && v !== null && Object.keys(v).length === 0);
    if (c.target !== "ssh") {
        // The value may hold a private key: never echo it.
        if (isSet(raw.ssh)) issues.push({ key: "ssh", value: "(set)", rule: `only read by target ssh; target ${c.target} ignores it, remove it` });
        return issues;
    }
    for (const other of ["docker", "aws"] as const)
        if (isSet(raw[other])) issues.push({ key: other, value: raw[other], rule: `only read by target ${other}; target ssh deploys to the nodes' own addresses, remove it` });
    const s = c.ssh;
    if (s.privateKey === undefined && !s.agent)
        issues.push({
            key: "ssh.privateKey",
            value: undefined,
            rule: "target ssh needs a way to log in: `pulumi config set --secret --path ssh.privateKey \"$(cat <key file>)\"`, or ssh.agent: true",
        });
    if (s.privateKey !== undefined && s.agent) issues.push({ key: "ssh.agent", value: s.agent, rule: "choose one: ssh.privateKey or the SSH agent" });
    if (s.privateKey !== undefined && !/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]+-----END [A-Z0-9 ]*PRIVATE KEY-----/.test(s.privateKey))
        issues.push({ key: "ssh.privateKey", value: s.privateKey, rule: "must be a private key in OpenSSH or PEM form (-----BEGIN … PRIVATE KEY----- … -----END … PRIVATE KEY-----)" });
    // The remote commands accept any host key unless given one: every host's key is pinned here.
    if (s.knownHosts === undefined || s.knownHosts.length === 0)
        issues.push({
            key: "ssh.knownHosts",
            value: s.knownHosts,
            rule: "required on target ssh: every node's pinned host key, as known_hosts lines (`ssh-keyscan -t ed25519 <address>` for each node)",
        });
    (s.knownHosts ?? []).forEach((line, i) => {
        const parsed = parseKnownHostsLine(line);
        if (!parsed)
            issues.push({ key: `ssh.knownHosts[${i}]`, value: line, rule: "must be a known_hosts line `<host> <key type> <base64 key>`, as `ssh-keyscan` prints it" });
        else if (parsed.marker === "cert-authority")
            issues.push({ key: `ssh.knownHosts[${i}]`, value: line, rule: "a @cert-authority line pins no host: each host's own key is checked; add `ssh-keyscan -t ed25519 <address>` lines instead" });
    });
    issues.push(...checkHostFirewall("ssh.firewall", s.firewall, "target ssh"));
    return issues;
}

type HostFirewallConfig = PlatformConfig["ssh"]["firewall"];

/** Whether any host gets a firewall, and whose sources it takes: ssh's, or remote Docker hosts'. */
function hostFirewallConfig(c: PlatformConfig): HostFirewallConfig | undefined {
    if (c.target === "ssh") return c.ssh.firewall;
    if (c.target === "docker" && c.nodes.some((n) => n.sshUser !== undefined)) return c.docker.firewall;
    return undefined;
}

/**
 * A host firewall's sources: CIDRs, the control plane and metrics never open to the internet, and
 * the operators' networks given (no default could know them).
 */
export function checkHostFirewall(key: string, f: HostFirewallConfig, hosts: string): Issues {
    const issues: Issues = [];
    if (f.operatorCidrs === undefined)
        issues.push({
            key: `${key}.operatorCidrs`,
            value: undefined,
            rule: `required on ${hosts}: the networks operators reach the control plane from (Admin API, dashboards), such as [10.20.0.0/24]; it was all of RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) until 2026-12, which keeps a stack as it was`,
        });
    const cidrRule = "must be an IPv4 CIDR such as 10.0.0.0/8 (no host bits set)";
    const sources: [string, string[], string | undefined][] = [
        ["clientCidrs", f.clientCidrs, undefined],
        ["operatorCidrs", f.operatorCidrs ?? [], "the control plane must not be open to the internet"],
        ["monitoringCidrs", f.monitoringCidrs, "metrics must not be open to the internet"],
    ];
    for (const [name, list, openRule] of sources)
        list.forEach((cidr, i) => {
            const net = parseCidr(cidr);
            if (!net) issues.push({ key: `${key}.${name}[${i}]`, value: cidr, rule: cidrRule });
            else if (openRule && net.prefix === 0) issues.push({ key: `${key}.${name}[${i}]`, value: cidr, rule: openRule });
        });
    return issues;
}

/** Remote Docker hosts get target ssh's host firewall: docker.firewall's sources, checked alike; without them docker.firewall is unused. */
export function checkDockerFirewall(c: PlatformConfig, raw: Record<string, unknown>): Issues {
    if (c.target !== "docker") return [];
    if (hostFirewallConfig(c)) return checkHostFirewall("docker.firewall", c.docker.firewall, "remote Docker hosts (nodes with sshUser)");
    const given = (raw.docker as Record<string, unknown> | undefined)?.firewall;
    return given === undefined ? [] : [{ key: "docker.firewall", value: given, rule: "only read for remote Docker hosts (nodes with sshUser): local nodes sit on the deployer's bridge network, remove it" }];
}

/** The sources of the stack's host firewalls (PlatformSpec.hostFirewall); without the operators' networks, which checkHostFirewall reports, none. */
export function hostFirewallSources(c: PlatformConfig): HostFirewallSources | undefined {
    const f = hostFirewallConfig(c);
    return f?.operatorCidrs ? { clientCidrs: f.clientCidrs, operatorCidrs: f.operatorCidrs, monitoringCidrs: f.monitoringCidrs } : undefined;
}

/**
 * Target ssh, on the built topology: every node is an existing host reached as nodes[].sshUser at
 * nodes[].address, whose host key ssh.knownHosts pins (`[address]:port` off port 22).
 */
export function checkSshNodes(c: PlatformConfig, nodeNames: string[]): Issues {
    if (c.target !== "ssh") return [];
    const issues: Issues = [];
    for (const name of nodeNames) {
        const i = c.nodes.findIndex((n) => n.name === name);
        const n = c.nodes[i];
        if (!n) {
            issues.push({ key: "nodes", value: name, rule: `target ssh deploys to existing hosts: node ${name} needs an entry in nodes with its address and sshUser` });
            continue;
        }
        if (n.address === undefined) issues.push({ key: `nodes[${i}].address`, value: undefined, rule: `target ssh: node ${name} needs the address of its host` });
        if (n.sshUser === undefined) issues.push({ key: `nodes[${i}].sshUser`, value: undefined, rule: `target ssh: node ${name} needs the user the deployer logs in as (root, or one with passwordless sudo)` });
        const known = c.ssh.knownHosts;
        const port = n.sshPort ?? 22;
        // Without any lines the missing list is reported once, by checkSsh.
        if (known?.length && n.address !== undefined && pinnedHostKey(known, n.address, port) === undefined)
            issues.push({
                key: "ssh.knownHosts",
                value: `no key for ${knownHostsName(n.address, port)}`,
                rule: `every node needs its pinned host key: add \`ssh-keyscan -t ed25519${port !== 22 ? ` -p ${port}` : ""} ${n.address}\` for node ${name}`,
            });
    }
    return issues;
}

/** AWS region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-7, … */
export function isAwsRegion(s: string): boolean {
    return /^[a-z]{2}(-gov|-iso[a-z]?)?-(north|south|east|west|central|northeast|southeast|northwest|southwest)-\d{1,2}$/.test(s);
}

/**
 * S3's bucket-name rules (general purpose buckets), plus no dots: a dotted name breaks TLS on
 * virtual-hosted-style URLs, and the bucket policy refuses plain HTTP. Returns the broken rule.
 */
export function bucketNameRule(name: string): string | undefined {
    if (name.length < 3 || name.length > 63) return "must be 3–63 characters (S3)";
    if (!/^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(name)) return "must be lowercase letters, digits and '-', starting and ending with a letter or digit (S3; no dots: they break TLS)";
    if (/^xn--|^sthree-|^amzn-s3-demo-/.test(name)) return "must not start with xn--, sthree- or amzn-s3-demo- (reserved by S3)";
    if (/-s3alias$|--ol-s3$|--x-s3$|--table-s3$/.test(name)) return "must not end with -s3alias, --ol-s3, --x-s3 or --table-s3 (reserved by S3)";
    return undefined;
}

const CRON_FIELDS: { name: string; lo: number; hi: number; names?: string[] }[] = [
    { name: "minute", lo: 0, hi: 59 },
    { name: "hour", lo: 0, hi: 23 },
    { name: "day of month", lo: 1, hi: 31 },
    { name: "month", lo: 1, hi: 12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"] },
    { name: "day of week", lo: 0, hi: 6, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const DURATION_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
/** Dumping more often than this only multiplies S3 requests: the gateways read the last dump. */
export const MIN_DUMP_INTERVAL_SECONDS = 10;

/**
 * The control plane's `cron_spec` (Go's robfig/cron): `@every <duration>`, a descriptor such as
 * `@hourly`, or five fields (minute hour day-of-month month day-of-week). Returns the broken rule.
 */
export function cronSpecRule(specText: string): string | undefined {
    const s = specText.trim();
    if (s.startsWith("@every")) {
        const d = s.slice("@every".length).trim();
        if (!GO_DURATION.test(d)) return "@every needs a Go duration such as 30s, 1m or 1h30m";
        const ms = [...d.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)].reduce((t, m) => t + Number(m[1]) * DURATION_MS[m[2]], 0);
        return ms < MIN_DUMP_INTERVAL_SECONDS * 1000 ? `@every must be at least ${MIN_DUMP_INTERVAL_SECONDS}s` : undefined;
    }
    if (s.startsWith("@"))
        return ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"].includes(s)
            ? undefined
            : "unknown descriptor; use @every <duration>, @hourly, @daily, @weekly, @monthly or @yearly";
    const fields = s.split(/\s+/);
    if (fields.length !== 5) return "must be @every <duration>, a descriptor, or 5 cron fields (minute hour day-of-month month day-of-week)";
    for (const [i, field] of fields.entries()) {
        const f = CRON_FIELDS[i];
        const value = (v: string) => {
            const named = f.names?.indexOf(v.toUpperCase()) ?? -1;
            return named >= 0 ? named + (f.lo === 1 ? 1 : 0) : /^\d+$/.test(v) ? Number(v) : NaN;
        };
        for (const part of field.split(",")) {
            const m = /^(\*|\?|([^-/]+)(?:-([^/]+))?)(?:\/(\d+))?$/.exec(part);
            if (!m) return `${f.name} field '${field}' is not a cron expression`;
            if ((m[1] === "?" && i !== 2 && i !== 4) || (m[4] !== undefined && Number(m[4]) < 1)) return `${f.name} field '${field}' is not valid`;
            for (const v of [m[2], m[3]].filter((x): x is string => x !== undefined)) {
                const n = value(v);
                if (!(n >= f.lo && n <= f.hi)) return `${f.name} field '${field}': ${v} is outside ${f.lo}–${f.hi}`;
            }
        }
    }
    return undefined;
}

const isCidr = (s: string) => parseCidr(s) !== undefined;
const cidrRule = "must be an IPv4 CIDR such as 10.0.0.0/8 (no host bits set)";

/** Graviton instance families carry a `g` after the generation digit (t4g, m7g, c7gn). */
function instanceArchitecture(type: string): "arm64" | "x86_64" {
    return /^[a-z]+\d+[a-z]*g[a-z]*\./.test(type) && !/^g\d/.test(type) ? "arm64" : "x86_64";
}

export function checkAws(c: PlatformConfig): Issues {
    if (c.target !== "aws") return [];
    const issues: Issues = [];
    const a = c.aws;
    if (a.region === undefined) issues.push({ key: "aws.region", value: undefined, rule: "required on target aws: set it with `pulumi config set --path aws.region eu-west-1`" });
    else if (!isAwsRegion(a.region)) issues.push({ key: "aws.region", value: a.region, rule: "must be an AWS region such as us-east-1 or eu-central-1" });
    issues.push(...oneOf("aws.natGateways", a.natGateways, NAT_GATEWAY_MODES, "NAT gateway mode"));
    const vpc = parseCidr(a.existingVpc?.cidr ?? a.vpcCidr);
    const vpcKey = a.existingVpc ? "aws.existingVpc.cidr" : "aws.vpcCidr";
    if (!vpc) issues.push({ key: vpcKey, value: a.existingVpc?.cidr ?? a.vpcCidr, rule: cidrRule });
    else if (!a.existingVpc && (vpc.prefix < 16 || vpc.prefix > 24))
        issues.push({ key: "aws.vpcCidr", value: a.vpcCidr, rule: "must be /16 to /24: AWS allows /16–/28 and each zone gets two subnets of 1/16 of it" });
    const usesEtcd = c.flavor !== "api7-v3";
    const needZones = usesEtcd ? 3 : 2;
    if (a.existingVpc) {
        const ev = a.existingVpc;
        for (const [kind, list] of [["privateSubnets", ev.privateSubnets], ["publicSubnets", ev.publicSubnets]] as const) {
            const zones = new Set<string>();
            list.forEach((sn, i) => {
                const key = `aws.existingVpc.${kind}[${i}]`;
                const net = parseCidr(sn.cidr);
                if (!net) issues.push({ key: `${key}.cidr`, value: sn.cidr, rule: cidrRule });
                else if (vpc && (net.prefix < vpc.prefix || !cidrContains(vpc, net.network)))
                    issues.push({ key: `${key}.cidr`, value: sn.cidr, rule: `must lie inside aws.existingVpc.cidr ${ev.cidr}` });
                else if (net.prefix > 27) issues.push({ key: `${key}.cidr`, value: sn.cidr, rule: "must be /27 or larger to hold the nodes and the balancer's address" });
                if (zones.has(sn.zone)) issues.push({ key: `${key}.zone`, value: sn.zone, rule: "one subnet per availability zone" });
                // A zone's name is its region's and a suffix (eu-west-1a; a Local Zone us-west-2-lax-1a).
                else if (a.region && !new RegExp(`^${a.region.replace(/[^a-z0-9-]/g, "")}(?:[a-z]|-[a-z0-9-]+[a-z])$`).test(sn.zone))
                    issues.push({ key: `${key}.zone`, value: sn.zone, rule: `must be an availability zone of aws.region ${a.region}` });
                zones.add(sn.zone);
            });
        }
        if (ev.privateSubnets.length < needZones)
            issues.push({ key: "aws.existingVpc.privateSubnets", value: ev.privateSubnets.length, rule: `needs one private subnet in each of at least ${needZones} availability zones${usesEtcd ? " (etcd members spread over 3 zones)" : ""}` });
        const privZones = ev.privateSubnets.map((s) => s.zone).join(",");
        if (c.aws.gatewayBalancer.internetFacing && ev.publicSubnets.map((s) => s.zone).join(",") !== privZones)
            issues.push({ key: "aws.existingVpc.publicSubnets", value: ev.publicSubnets.map((s) => s.zone), rule: `an internet-facing gateway balancer needs one public subnet per private subnet's zone, in the same order (${privZones})` });
        if (a.zones) issues.push({ key: "aws.zones", value: a.zones, rule: "with aws.existingVpc the zones are the private subnets' zones; remove this key" });
    } else if (a.zones) {
        if (new Set(a.zones).size !== a.zones.length) issues.push({ key: "aws.zones", value: a.zones, rule: "zones must be distinct" });
        if (a.zones.length < needZones || a.zones.length > 8)
            issues.push({ key: "aws.zones", value: a.zones, rule: `needs ${needZones}–8 availability zones${usesEtcd ? " (etcd members spread over 3 zones)" : ""}` });
        if (a.region && a.zones.some((z) => !z.startsWith(a.region!)))
            issues.push({ key: "aws.zones", value: a.zones, rule: `every zone must be in aws.region ${a.region}` });
    }
    const types = a.instanceTypes;
    for (const [role, type] of Object.entries(types)) {
        if (type === undefined) continue;
        if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(type)) issues.push({ key: `aws.instanceTypes.${role}`, value: type, rule: "must be an EC2 instance type such as t3.medium" });
        else if (instanceArchitecture(type) !== a.ami.architecture)
            issues.push({ key: `aws.instanceTypes.${role}`, value: type, rule: `is ${instanceArchitecture(type)} but aws.ami.architecture is ${a.ami.architecture}` });
    }
    issues.push(...oneOf("aws.ami.architecture", a.ami.architecture, ["x86_64", "arm64"], "architecture"));
    if (a.ssh) {
        if (!isCidr(a.ssh.sourceCidr)) issues.push({ key: "aws.ssh.sourceCidr", value: a.ssh.sourceCidr, rule: cidrRule });
        else if (parseCidr(a.ssh.sourceCidr)!.prefix === 0) issues.push({ key: "aws.ssh.sourceCidr", value: a.ssh.sourceCidr, rule: "SSH must not be open to the internet; name your operators' network (SSM needs no inbound port at all)" });
    }
    if (a.monitoringCidr !== undefined) {
        if (!isCidr(a.monitoringCidr)) issues.push({ key: "aws.monitoringCidr", value: a.monitoringCidr, rule: cidrRule });
        else if (parseCidr(a.monitoringCidr)!.prefix === 0) issues.push({ key: "aws.monitoringCidr", value: a.monitoringCidr, rule: "metrics must not be open to the internet" });
    }
    (a.operatorCidrs ?? []).forEach((cidr, i) => {
        if (!isCidr(cidr)) issues.push({ key: `aws.operatorCidrs[${i}]`, value: cidr, rule: cidrRule });
        else if (parseCidr(cidr)!.prefix === 0) issues.push({ key: `aws.operatorCidrs[${i}]`, value: cidr, rule: "the control plane must not be open to the internet" });
    });
    (a.gatewayBalancer.clientCidrs ?? []).forEach((cidr, i) => {
        if (!isCidr(cidr)) issues.push({ key: `aws.gatewayBalancer.clientCidrs[${i}]`, value: cidr, rule: cidrRule });
        else if (parseCidr(cidr)!.prefix === 0 && !a.gatewayBalancer.internetFacing)
            issues.push({ key: `aws.gatewayBalancer.clientCidrs[${i}]`, value: cidr, rule: "an internal balancer is not open to 0.0.0.0/0; set aws.gatewayBalancer.internetFacing or name the clients' networks" });
    });
    c.nodes.forEach((n, i) => {
        if (n.sshUser !== undefined) issues.push({ key: `nodes[${i}].sshUser`, value: n.sshUser, rule: "target aws creates its own instances; remote Docker hosts are for target docker" });
        if (n.cpus !== undefined || n.memoryGb !== undefined)
            issues.push({ key: `nodes[${i}].${n.cpus !== undefined ? "cpus" : "memoryGb"}`, value: n.cpus ?? n.memoryGb, rule: "on target aws a node's size is its instance type: use aws.instanceTypes" });
        if (n.roles?.includes("load-balancer"))
            issues.push({ key: `nodes[${i}].roles`, value: n.roles, rule: "on target aws the balancers are NLBs, not nodes: remove role load-balancer" });
        if (n.roles?.includes("storage"))
            issues.push({ key: `nodes[${i}].roles`, value: n.roles, rule: "on target aws the fallback buckets are S3: remove role storage" });
        if (n.roles?.includes("control-plane") && n.roles.includes("data-plane"))
            issues.push({ key: `nodes[${i}].roles`, value: n.roles, rule: "on target aws a node runs under one IAM role, and control plane and gateways get different permissions: put them on different nodes" });
    });
    return issues;
}

export function checkResilience(c: PlatformConfig): Issues {
    const issues: Issues = [];
    const r = c.resilience;
    issues.push(...oneOf("resilience.mode", r.mode, RESILIENCE_MODES, "resilience mode"));
    const fs = r.fallbackStorage;
    if (r.mode === "standalone" && !fs)
        issues.push({ key: "resilience.mode", value: r.mode, rule: "standalone gateways read the last dump from the fallback buckets: configure resilience.fallbackStorage first" });
    if (!fs) {
        if (c.layout === "custom" && c.nodes.some((n) => n.roles?.includes("storage")))
            issues.push({ key: "nodes", value: "a node with role storage", rule: "role storage holds the local fallback buckets: configure resilience.fallbackStorage with kind local" });
        return issues;
    }
    if (c.flavor !== "api7-v3")
        issues.push({
            key: "resilience.fallbackStorage",
            value: c.flavor,
            rule: "the S3 fallback (fallback_cp, seed 002) is an API7 Enterprise 3.x feature: use flavor api7-v3 (apisix and api7-v2 have no dump to read back)",
        });
    issues.push(...oneOf("resilience.fallbackStorage.kind", fs.kind, STORAGE_KINDS, "storage kind"));
    if (fs.kind === "local" && c.target !== "docker")
        issues.push({ key: "resilience.fallbackStorage.kind", value: fs.kind, rule: "the local S3-compatible server is for target docker; use kind s3" });
    else if (fs.kind === "local" && c.flavor === "api7-v3") {
        const pinned = [c.controlPlane.image ?? DEFAULT_IMAGES.api7v3Dashboard, c.dataPlane.image ?? DEFAULT_IMAGES.api7v3Gateway].filter(readsOneFallbackBucket);
        if (pinned.length)
            issues.push({
                key: "resilience.fallbackStorage.kind",
                value: fs.kind,
                rule: `API7 EE 3.2.16 (${pinned.join(", ")}) reads fallback_cp.aws_s3 {bucket, region, access_key, secret_key} only, with no endpoint for an S3-compatible server: use kind s3, or images of a newer API7 release`,
            });
    }
    if (fs.kind === "s3") {
        const region = fs.region ?? (c.target === "aws" ? c.aws.region : undefined);
        if (region === undefined)
            issues.push({ key: "resilience.fallbackStorage.region", value: undefined, rule: "required for kind s3 (on target aws it defaults to aws.region)" });
        else if (!isAwsRegion(region)) issues.push({ key: fs.region ? "resilience.fallbackStorage.region" : "aws.region", value: region, rule: "must be an AWS region such as us-east-1" });
        for (const key of ["configBucket", "resourceBucket"] as const)
            if (fs[key] === undefined)
                issues.push({ key: `resilience.fallbackStorage.${key}`, value: undefined, rule: "required for kind s3: S3 bucket names are global, so choose them (e.g. <company>-gateway-ha-<stack>-config)" });
    }
    for (const key of ["configBucket", "resourceBucket"] as const) {
        const name = fs[key];
        const rule = name === undefined ? undefined : bucketNameRule(name);
        if (rule) issues.push({ key: `resilience.fallbackStorage.${key}`, value: name, rule });
    }
    if (fs.configBucket !== undefined && fs.configBucket === fs.resourceBucket)
        issues.push({ key: "resilience.fallbackStorage.resourceBucket", value: fs.resourceBucket, rule: "must differ from resilience.fallbackStorage.configBucket (seed 002: two buckets)" });
    const cron = cronSpecRule(fs.cronSpec);
    if (cron) issues.push({ key: "resilience.fallbackStorage.cronSpec", value: fs.cronSpec, rule: cron });
    return issues;
}
