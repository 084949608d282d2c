// The checks at the top of every building block's constructor: its Args name a plan or a target,
// and the blocks it builds on deploy onto that same target. Errors name the argument.
import type { PlatformPlan } from "./plan";
import type { Target } from "./service";
import type { Role } from "./config/schema";

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object";

function describe(v: unknown): string {
    if (v === undefined || v === null) return String(v);
    if (!isObject(v)) return `a ${typeof v}`;
    return v.constructor?.name && v.constructor.name !== "Object" ? `a ${v.constructor.name}` : "an object";
}

/** The Args object itself. */
export function requireArgs<A>(component: string, name: string, args: A | undefined): A {
    if (!isObject(args)) throw new Error(`${component} ${name}: args must be an object, got ${describe(args)}`);
    return args;
}

/** A target's `args.plan`: what planPlatform returned, for the target the component is. */
export function requirePlan(component: string, name: string, args: { plan?: PlatformPlan } | undefined, target: PlatformPlan["spec"]["target"]): PlatformPlan {
    const plan = requireArgs(component, name, args).plan;
    if (!isObject(plan) || !isObject(plan.spec) || !isObject(plan.topology))
        throw new Error(`${component} ${name}: args.plan must be a platform's plan (planPlatform), got ${describe(plan)}`);
    if (plan.spec.target !== target) throw new Error(`${component} ${name}: args.plan is for target ${plan.spec.target}; ${component} deploys target ${target}`);
    return plan;
}

/** A block's `args.target`: one of the targets (DockerTarget, SshTarget, AwsTarget), which carries the plan. */
export function requireTarget(component: string, name: string, args: { target?: Target } | undefined): Target {
    const target = requireArgs(component, name, args).target;
    if (!isObject(target) || typeof target.deployService !== "function" || !isObject(target.plan))
        throw new Error(`${component} ${name}: args.target must be a gateway-ha target (DockerTarget, SshTarget or AwsTarget), got ${describe(target)}`);
    return target;
}

/** A block another builds on: on the same target, so both deploy the same plan's nodes. */
export function requireOnTarget<B extends { readonly target: Target }>(component: string, name: string, key: string, block: B | undefined, target: Target, what: string): B | undefined {
    if (block === undefined) return undefined;
    if (!isObject(block) || !isObject(block.target)) throw new Error(`${component} ${name}: args.${key} must be ${what}, got ${describe(block)}`);
    if (block.target !== target) throw new Error(`${component} ${name}: args.${key} is deployed on another target; the blocks of one platform share one target`);
    return block;
}

/** The nodes of a role the block deploys onto: at least `min` of them in the plan. */
export function requireNodes(component: string, name: string, plan: PlatformPlan, role: Role, min: number, key: string): PlatformPlan["topology"]["nodes"] {
    const nodes = plan.topology.byRole[role];
    if (nodes.length < min) throw new Error(`${component} ${name}: the plan has ${nodes.length} node(s) with role ${role}; ${component} needs at least ${min} (${key})`);
    return nodes;
}
