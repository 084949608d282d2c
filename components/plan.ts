// A platform's plan: its Args validated, defaulted and placed on nodes (spec and topology), with its
// secrets as Pulumi secrets. GatewayPlatform deploys one; a program composing the building blocks
// itself makes one with planPlatform and hands it to a target, which every block on it deploys from.
import * as pulumi from "@pulumi/pulumi";
import { ConfigValidationError, loadPlatformConfig, secretKeysIn, type PlatformSecrets, type PlatformSpec } from "./config";
import { setAt, valueAt } from "./config/paths";
import type { GatewayPlatformArgs } from "./platformArgs";
import { ROLES, type Role } from "./config/schema";
import { onlyRoles, usesEtcd } from "./topology";
import type { Topology } from "./topology/types";

export interface PlatformPlan {
    /** The platform's name: the blocks' resources are named from it (spec.namePrefix, spec.instance). */
    readonly name: string;
    /** The Args, defaulted and validated. */
    readonly spec: PlatformSpec;
    /** Every node with its roles, address and ports; the flows between roles; the VIPs. */
    readonly topology: Topology;
    /** The secret Args, as Pulumi secrets (an Output given is checked once it resolves). */
    readonly secrets: SecretInputs;
}

/** The secrets of the Args, as the components take them: Pulumi secrets, by what they are. */
export type SecretInputs = { [K in keyof PlatformSecrets]?: K extends "vipAuthPass" ? Record<string, pulumi.Output<string>> : pulumi.Output<string> };

/**
 * Stands in, during validation, for a secret input whose value is not known yet: a string every
 * secret key's shape accepts (the keys are PEM-shaped), so only the rules on the value wait.
 */
const WITHHELD = "-----BEGIN PRIVATE KEY-----\n(a secret input, checked once known)\n-----END PRIVATE KEY-----";

export interface PlanOptions {
    /**
     * The roles this program deploys, when not all: e.g. etcd, gateways and their balancers, with the
     * control plane elsewhere or none. The plan keeps those roles' nodes, ports and flows, each at
     * the address the whole platform gives it. Default: every role.
     */
    roles?: readonly Role[];
    /** Who validates, for the errors: `GatewayPlatform` for the component. Default `planPlatform`. */
    component?: string;
}

/**
 * The plan of a platform from its Args, validated as the stack config is (components/config), before
 * any resource exists; errors name `args.<key>`. A secret given as an Output is checked once it resolves: the resources it reaches wait for that check.
 */
export function planPlatform(name: string, args: GatewayPlatformArgs, opts: PlanOptions = {}): PlatformPlan {
    const component = opts.component ?? "planPlatform";
    if (args === null || typeof args !== "object") throw new Error(`${component} ${name}: args must be an object, got ${args === null ? "null" : typeof args}`);
    const roles = opts.roles === undefined ? undefined : checkRoles(`${component} ${name}`, opts.roles);
    const raw = copyPlainData(args);
    // Secrets not known yet (an Output, a Promise); anything else is validated as it is.
    const withheld = secretKeysIn(raw).filter((k) => {
        const v = valueAt(args, k);
        return pulumi.Output.isInstance(v) || v instanceof Promise;
    });
    for (const key of withheld) setAt(raw, key, WITHHELD);
    const subject = { title: `${component} ${name}: invalid args`, keyPrefix: "args." };
    const ctx = { project: pulumi.getProject(), stack: pulumi.getStack(), platform: name };
    let loaded: ReturnType<typeof loadPlatformConfig>;
    try {
        loaded = loadPlatformConfig(raw, { ...ctx, withheldSecrets: withheld });
    } catch (e) {
        if (e instanceof ConfigValidationError) throw new ConfigValidationError(e.issues, subject);
        throw e;
    }
    // Withheld secrets: the same rules again with their values, before any resource that receives one.
    const check = withheld.length
        ? pulumi.all(withheld.map((k) => pulumi.output(valueAt(args, k) as pulumi.Input<string>))).apply((values) => {
              const known = copyPlainData(args);
              withheld.forEach((k, i) => setAt(known, k, values[i]));
              try {
                  loadPlatformConfig(known, ctx);
              } catch (e) {
                  if (e instanceof ConfigValidationError) throw new ConfigValidationError(e.issues, subject);
                  throw e;
              }
              return true;
          })
        : undefined;
    const secret = (key: string): pulumi.Output<string> | undefined => {
        const value = valueAt(args, key) as pulumi.Input<string> | undefined;
        if (value === undefined) return undefined;
        return pulumi.secret(check ? pulumi.all([value, check]).apply(([v]) => v) : pulumi.output(value));
    };
    const vips = (args.loadBalancer?.keepalived?.vips ?? []).flatMap((v, i) => {
        const pass = secret(`loadBalancer.keepalived.vips[${i}].authPass`);
        return pass ? [[v.name, pass] as const] : [];
    });
    if (roles) checkRolesRun(`${component} ${name}`, loaded.spec, loaded.topology, roles);
    return {
        name,
        spec: loaded.spec,
        topology: roles ? onlyRoles(loaded.topology, roles) : loaded.topology,
        secrets: {
            databaseDsn: secret("controlPlane.databaseDsn"),
            dpClientKey: secret("dataPlane.dpManagerIdentity.privateKey"),
            controlPlaneKey: secret("controlPlane.certificate.privateKey"),
            sshPrivateKey: secret("ssh.privateKey"),
            ...(vips.length ? { vipAuthPass: Object.fromEntries(vips) } : {}),
        },
    };
}

function checkRoles(who: string, roles: readonly Role[]): readonly Role[] {
    if (!Array.isArray(roles) || roles.length === 0) throw new Error(`${who}: opts.roles must list at least one of ${ROLES.join(", ")}`);
    const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
    if (unknown.length) throw new Error(`${who}: opts.roles = ${JSON.stringify(unknown)}: not a role; roles are ${ROLES.join(", ")}`);
    return roles;
}

/** What runs without the roles left out must not need them from this plan. */
function checkRolesRun(who: string, spec: PlatformSpec, topology: Topology, roles: readonly Role[]): void {
    const runs = new Set(roles);
    const etcdUsers = (["control-plane", "data-plane"] as const).filter((r) => runs.has(r));
    if (usesEtcd(spec) && etcdUsers.length && !runs.has("etcd"))
        throw new Error(`${who}: opts.roles has ${etcdUsers.join(" and ")} without etcd: flavor ${spec.flavor} keeps its configuration in this plan's etcd`);
    if (spec.flavor === "api7-v3" && runs.has("data-plane") && !runs.has("control-plane"))
        throw new Error(`${who}: opts.roles has data-plane without control-plane: flavor api7-v3's gateways connect to this plan's DP Manager`);
    for (const vip of topology.vips) {
        const away = vip.nodes.filter((n) => !n.roles.some((r) => runs.has(r)));
        if (away.length) throw new Error(`${who}: opts.roles leaves out ${away.map((n) => n.name).join(", ")}, which VIP ${vip.name} sits on (loadBalancer.keepalived.vips)`);
    }
}

/** A copy of the Args to validate: plain data copied, anything else (an Output, a Promise) kept as it is, to be withheld. */
function copyPlainData(value: unknown): Record<string, unknown> {
    const copy = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(copy) : v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)])) : v;
    return copy(value) as Record<string, unknown>;
}
