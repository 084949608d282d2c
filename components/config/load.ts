// Raw stack config (the `gateway-ha:*` map Pulumi hands the program) -> validated spec + topology.
import type { z } from "zod";
import {
    BALANCER_KINDS,
    DEFAULT_IMAGES,
    FLAVORS,
    GATEWAY_READINESS_PATH,
    LAYOUTS,
    TARGETS,
    platformConfigSchema,
    type BalancerKind,
    type PlatformConfig,
    type StorageKind,
} from "./schema";
import { ConfigValidationError, NAMESPACE, type ConfigIssue } from "./issues";
import type { PlatformSecrets, PlatformSpec } from "./types";
import { checkDockerPlacement, checkSecretsMarked, checkSshNodes, checkStateEncryption, healthCheckDefaults, hostFirewallSources, validateConfig } from "./validate";
import { checkVips, resolveKeepalived } from "./keepalived";
import { buildTopology, checkTopology, placeRoles } from "../topology";
import type { Topology } from "../topology/types";

export interface LoadedPlatform {
    spec: PlatformSpec;
    secrets: PlatformSecrets;
    topology: Topology;
}

/** Pulumi passes structured values as JSON text and plain strings as they are. */
function decode(value: string): unknown {
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

/** Picks this project's keys out of Pulumi's config map (`gateway-ha:flavor` -> `flavor`). */
export function namespacedConfig(all: Record<string, string>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(all)) {
        if (k.startsWith(`${NAMESPACE}:`)) out[k.slice(NAMESPACE.length + 1)] = decode(v);
    }
    return out;
}

function describeZodIssues(zodIssues: z.core.$ZodIssue[], raw: unknown): ConfigIssue[] {
    return zodIssues.flatMap((i): ConfigIssue[] => {
        const path = i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "");
        const value = i.path.reduce<unknown>((v, p) => (v as Record<PropertyKey, unknown> | undefined)?.[p as PropertyKey], raw);
        if (i.code === "unrecognized_keys")
            return i.keys.map((k) => ({ key: path ? `${path}.${k}` : k, value: undefined, rule: "unknown key", hideValue: true }));
        return [{ key: path, value, rule: i.message }];
    });
}

function withoutPath(value: unknown, path: PropertyKey[]): unknown {
    if (path.length === 0 || value === null || typeof value !== "object") return undefined;
    const copy = (Array.isArray(value) ? [...value] : { ...value }) as Record<PropertyKey, unknown>;
    const [head, ...rest] = path;
    if (rest.length === 0) delete copy[head];
    else copy[head] = withoutPath(copy[head], rest);
    return copy;
}

/**
 * Shape errors are collected, then the offending keys are dropped and parsing retried, so
 * the cross-field rules still run on everything else and all problems are reported at once.
 */
function parseLeniently(raw: Record<string, unknown>): { config?: PlatformConfig; issues: ConfigIssue[] } {
    const issues: ConfigIssue[] = [];
    let current: unknown = raw;
    for (let attempt = 0; attempt < 5; attempt++) {
        const parsed = platformConfigSchema.safeParse(current);
        if (parsed.success) return { config: parsed.data, issues };
        // A key dropped for one problem must not come back as "missing" on the next pass.
        const reported = new Set(issues.map((i) => i.key));
        issues.push(...describeZodIssues(parsed.error.issues, current).filter((i) => !reported.has(i.key)));
        for (const i of parsed.error.issues) {
            const paths = i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path, k]) : [i.path];
            for (const path of paths) current = path.length ? withoutPath(current, path as PropertyKey[]) : current;
        }
    }
    return { issues };
}

/** The project's platform keeps the names stacks have always had; any other is told apart by its name. */
export function platformNames(ctx: { project: string; stack: string; platform?: string }): Pick<PlatformSpec, "instance" | "namePrefix"> {
    const own = ctx.platform !== undefined && ctx.platform !== ctx.project;
    return own ? { instance: `${ctx.stack}-${ctx.platform}`, namePrefix: `${ctx.platform}-` } : { instance: ctx.stack, namePrefix: "" };
}

/** Flavor- and kind-dependent defaults, applied once the choices are known to be valid. */
export function resolveSpec(c: PlatformConfig, ctx: { project: string; stack: string; platform?: string }): PlatformSpec {
    const flavor = c.flavor as PlatformSpec["flavor"];
    const kind = c.loadBalancer.kind as BalancerKind;
    const images = {
        apisix: { cp: DEFAULT_IMAGES.apisix, dp: DEFAULT_IMAGES.apisix, dpm: undefined },
        "api7-v2": { cp: DEFAULT_IMAGES.api7v2Dashboard, dp: DEFAULT_IMAGES.api7v2Gateway, dpm: undefined },
        "api7-v3": { cp: DEFAULT_IMAGES.api7v3Dashboard, dp: DEFAULT_IMAGES.api7v3Gateway, dpm: DEFAULT_IMAGES.api7v3DpManager },
    }[flavor];
    const { databaseDsn: _dsn, certificate, ...controlPlane } = c.controlPlane;
    const hcDefaults = healthCheckDefaults(c.target);
    const fs = c.resilience.fallbackStorage;
    return {
        project: ctx.project,
        stack: ctx.stack,
        ...platformNames(ctx),
        flavor,
        target: c.target as PlatformSpec["target"],
        layout: c.layout as PlatformSpec["layout"],
        nodes: c.nodes as PlatformSpec["nodes"],
        protectData: c.protectData,
        etcd: { ...c.etcd, clusterToken: c.etcd.clusterToken ?? `${ctx.project}-${ctx.stack}-etcd` },
        controlPlane: {
            ...controlPlane,
            image: c.controlPlane.image ?? images.cp,
            dpManagerImage: flavor === "api7-v3" ? (c.controlPlane.dpManagerImage ?? images.dpm) : undefined,
            dashboardPort: c.controlPlane.dashboardPort ?? (flavor === "api7-v3" ? 17080 : 9000),
            hasDatabaseDsn: c.controlPlane.databaseDsn !== undefined,
            ...(certificate ? { certificate: { certificate: certificate.certificate, caCertificate: certificate.caCertificate, host: certificate.host } } : {}),
        },
        dataPlane: (({ dpManagerIdentity: id, ...dp }) => ({
            ...dp,
            image: c.dataPlane.image ?? images.dp,
            ...(id ? { dpManagerIdentity: { certificate: id.certificate, caCertificate: id.caCertificate } } : {}),
        }))(c.dataPlane),
        loadBalancer: {
            ...c.loadBalancer,
            kind,
            image: c.loadBalancer.image ?? DEFAULT_IMAGES[kind],
            healthCheck: {
                ...c.loadBalancer.healthCheck,
                path: c.loadBalancer.healthCheck.path ?? GATEWAY_READINESS_PATH[flavor],
                intervalSeconds: c.loadBalancer.healthCheck.intervalSeconds ?? hcDefaults.intervalSeconds,
                timeoutSeconds: c.loadBalancer.healthCheck.timeoutSeconds ?? hcDefaults.timeoutSeconds,
                port: c.loadBalancer.healthCheck.port ?? c.dataPlane.statusPort,
            },
            keepalived: resolveKeepalived(c),
        },
        docker: c.docker,
        aws: { ...c.aws, region: c.aws.region ?? "" },
        ssh: (({ privateKey, ...rest }) => ({ ...rest, hasPrivateKey: privateKey !== undefined }))(c.ssh),
        hostFirewall: hostFirewallSources(c),
        resilience: {
            mode: c.resilience.mode as PlatformSpec["resilience"]["mode"],
            fallbackStorage: fs && {
                ...fs,
                kind: fs.kind as StorageKind,
                region: fs.region ?? (fs.kind === "local" ? "us-east-1" : (c.aws.region ?? "")),
                configBucket: fs.configBucket ?? "gateway-config",
                resourceBucket: fs.resourceBucket ?? "gateway-resources",
            },
        },
    };
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
    const seen = new Set<string>();
    return issues.filter((i) => {
        const k = `${i.key}|${i.rule}`;
        return seen.has(k) ? false : (seen.add(k), true);
    });
}

/** Non-custom layouts: node entries may only override nodes the layout creates. */
function checkOverrides(spec: PlatformSpec): ConfigIssue[] {
    if (spec.layout === "custom") return [];
    const placed = new Set(placeRoles(spec).map((n) => n.name));
    return spec.nodes.flatMap((n, i) =>
        placed.has(n.name) ? [] : [{ key: `nodes[${i}].name`, value: n.name, rule: `the ${spec.layout} layout has no such node; its nodes are ${[...placed].join(", ")}` }],
    );
}

export interface LoadContext {
    project: string;
    stack: string;
    /** The GatewayPlatform's name (platformNames). */
    platform?: string;
    /** The config keys Pulumi holds as secrets (`pulumi config set --secret`); given, secret values must be among them. */
    secretKeys?: readonly string[];
    /** Whether `pulumi up`'s environment encrypts the state with an empty passphrase. */
    statePassphrase?: "empty" | "set" | "unknown";
    /**
     * Secret keys (`loadBalancer.keepalived.vips[0].authPass`) whose values are not known yet (a
     * component's Output inputs): they hold a stand-in, and the rules on their values wait for them.
     */
    withheldSecrets?: readonly string[];
}

/**
 * Parses, defaults and validates the whole stack config. Throws ConfigValidationError
 * listing every problem; nothing is created before this returns.
 */
export function loadPlatform(all: Record<string, string>, ctx: LoadContext): LoadedPlatform {
    return loadPlatformConfig(namespacedConfig(all), ctx);
}

/** loadPlatform for a config object (GatewayPlatform's Args): the same parse, defaults and rules. */
export function loadPlatformConfig(raw: Record<string, unknown>, ctx: LoadContext): LoadedPlatform {
    const withheld = new Set(ctx.withheldSecrets ?? []);
    const judged = (issues: ConfigIssue[]) => (withheld.size ? issues.filter((i) => !withheld.has(i.key)) : issues);
    const { config, issues: shapeIssues } = parseLeniently(raw);
    if (!config) throw new ConfigValidationError(judged(shapeIssues));
    const dsn = config.controlPlane.databaseDsn;
    const configIssues = [
        ...validateConfig(config, raw, dsn),
        ...(ctx.secretKeys ? checkSecretsMarked(config, ctx.secretKeys, NAMESPACE) : []),
        ...checkStateEncryption(config, ctx.statePassphrase ?? "unknown"),
    ];
    // Topology rules need known choices; with those valid, report both sets together.
    const choicesKnown =
        (TARGETS as readonly string[]).includes(config.target) &&
        (FLAVORS as readonly string[]).includes(config.flavor) &&
        (LAYOUTS as readonly string[]).includes(config.layout) &&
        (BALANCER_KINDS as readonly string[]).includes(config.loadBalancer.kind);
    const earlier = [...shapeIssues, ...configIssues];
    if (!choicesKnown) throw new ConfigValidationError(judged(earlier));
    let spec: PlatformSpec;
    let topology: Topology;
    let found: ConfigIssue[];
    try {
        spec = resolveSpec(config, ctx);
        topology = buildTopology(spec);
        const names = topology.nodes.map((n) => n.name);
        found = [
            ...earlier,
            ...checkOverrides(spec),
            ...(config.target === "docker" ? checkDockerPlacement(config, names) : []),
            ...checkSshNodes(config, names),
            ...checkTopology(spec, topology),
            ...checkVips(spec, topology),
        ];
    } catch (e) {
        // The topology rules assume values the earlier rules check: with those broken, they are what to report.
        if (judged(earlier).length) throw new ConfigValidationError(dedupe(judged(earlier)));
        throw e;
    }
    if (judged(found).length) throw new ConfigValidationError(dedupe(judged(found)));
    const vipAuthPass = Object.fromEntries(config.loadBalancer.keepalived.vips.filter((v) => v.authPass !== undefined).map((v) => [v.name, v.authPass!]));
    return { spec, secrets: { databaseDsn: dsn, dpClientKey: config.dataPlane.dpManagerIdentity?.privateKey, controlPlaneKey: config.controlPlane.certificate?.privateKey, sshPrivateKey: config.ssh.privateKey, ...(Object.keys(vipAuthPass).length ? { vipAuthPass } : {}) }, topology };
}
