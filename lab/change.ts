// What `pulumi up` does to a running stack when its config changes, from two offline previews of
// it (before and after, with the same state for unchanged resources): per resource, create,
// update, replace or delete, by the providers' rules; replacements that follow from a replaced
// resource's new ID; the engine's order (dependencies; a delete-before-replace resource's
// dependents deleted before it; other replaced and removed resources deleted at the end).
import { isDeepStrictEqual } from "node:util";
import type { RecordedResource, Registration } from "../scripts/lib/mockEngine";

export type ChangeOp = "create" | "update" | "replace" | "delete";

export interface PlannedChange {
    /** `type::name`: unique in this program. */
    key: string;
    type: string;
    name: string;
    op: ChangeOp;
    /** Inputs that differ (or why it is replaced). */
    reason: string;
    /** Replaced delete-first: its replaced dependents are deleted before it, then it is deleted, then created. */
    deleteFirst: boolean;
    before?: RecordedResource;
    after?: RecordedResource;
}

export interface ChangePlan {
    /** Every change, in the after-run's registration order (deletes of removed resources last, reversed). */
    changes: PlannedChange[];
    /** Per after-resource key, the keys it waits for (its registration's dependencies). */
    dependencies: Map<string, string[]>;
    /** Per delete-first replacement, the keys of its replaced dependents (deleted before it). */
    dependents: Map<string, string[]>;
    /** Resources replaced whatever their inputs (`pulumi up --replace`). */
    replace: string[];
}

export interface RunRecord {
    resources: RecordedResource[];
    registrations: Registration[];
}

const keyOf = (r: { type: string; name: string }) => `${r.type}::${r.name}`;

/**
 * A Docker container's inputs that the provider changes in place (kreuzwerker/terraform-provider-docker's
 * container schema: not ForceNew); any other changed input replaces the container.
 */
export const CONTAINER_IN_PLACE_INPUTS = [
    "wait",
    "waitTimeout",
    "restart",
    "maxRetryCount",
    "memory",
    "memorySwap",
    "cpuShares",
    "mustRun",
    "start",
    "rm",
    "attach",
    "logs",
    "removeVolumes",
    "destroyGraceSeconds",
    "containerReadRefreshTimeoutMilliseconds",
];

/** The provider's verdict on changed inputs (ignoreChanges already removed). */
export function providerOp(type: string, changed: string[]): "update" | "replace" {
    if (type === "command:local:Command" || type === "command:remote:Command") return changed.includes("triggers") ? "replace" : "update";
    if (type === "docker:index/container:Container") return changed.every((k) => CONTAINER_IN_PLACE_INPUTS.includes(k)) ? "update" : "replace";
    // Docker images, volumes and networks, tls and random: every input forces a new resource.
    return "replace";
}

function changedInputs(before: Record<string, unknown>, after: Record<string, unknown>, ignore: string[]): string[] {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].filter((k) => !ignore.includes(k) && !isDeepStrictEqual(before[k], after[k])).sort();
}

/** Whether `value` holds `needle` as one of its strings (an ID a resource's inputs carry). */
function holds(value: unknown, needle: string): boolean {
    if (typeof value === "string") return value === needle || value.includes(needle);
    if (Array.isArray(value)) return value.some((v) => holds(v, needle));
    if (value && typeof value === "object") return Object.values(value).some((v) => holds(v, needle));
    return false;
}

/**
 * Plans a change from the before and after runs (inputs unwrapped). A replaced resource gets a new
 * ID, so every resource whose inputs carry the old one changes too (the rollout step that a
 * container's ID triggers, a service joined to a replaced node container's network), until nothing
 * more changes.
 */
export function planChange(before: RunRecord, after: RunRecord, opts: { replace?: string[] } = {}): ChangePlan {
    const beforeBy = new Map(before.resources.map((r) => [keyOf(r), r]));
    const afterBy = new Map(after.resources.map((r) => [keyOf(r), r]));
    const regOf = (run: RunRecord, r: RecordedResource) => run.registrations.find((g) => g.type === r.type && g.name === r.name);
    const urnToKey = new Map([...before.resources, ...after.resources].map((r) => [r.urn, keyOf(r)]));

    const changes = new Map<string, PlannedChange>();
    const forced = opts.replace ?? [];
    const unknown = forced.filter((n) => !after.resources.some((r) => r.name === n && beforeBy.has(keyOf(r))));
    if (unknown.length) throw new Error(`--replace: no resource named ${unknown.join(", ")} in both the deployed and the changed stack`);
    for (const r of after.resources) {
        const old = beforeBy.get(keyOf(r));
        const reg = regOf(after, r);
        if (old && forced.includes(r.name)) {
            // `pulumi up --replace URN`: replaced whatever its inputs.
            changes.set(keyOf(r), { key: keyOf(r), type: r.type, name: r.name, op: "replace", reason: "--replace", deleteFirst: Boolean(reg?.deleteBeforeReplace), before: old, after: r });
            continue;
        }
        if (!old) {
            changes.set(keyOf(r), { key: keyOf(r), type: r.type, name: r.name, op: "create", reason: "new", deleteFirst: false, after: r });
            continue;
        }
        const changed = changedInputs(old.inputs, r.inputs, reg?.ignoreChanges ?? []);
        if (changed.length)
            changes.set(keyOf(r), {
                key: keyOf(r),
                type: r.type,
                name: r.name,
                op: providerOp(r.type, changed),
                reason: changed.join(", "),
                deleteFirst: Boolean(reg?.deleteBeforeReplace),
                before: old,
                after: r,
            });
    }
    // A replaced resource's dependents whose inputs carry its ID.
    for (let grew = true; grew; ) {
        grew = false;
        for (const c of [...changes.values()].filter((x) => x.op === "replace")) {
            const id = c.before!.state.id ?? `${c.name}-id`;
            for (const r of after.resources) {
                const k = keyOf(r);
                const old = beforeBy.get(k);
                const existing = changes.get(k);
                if (!old || existing?.op === "replace" || existing?.op === "create" || !holds(old.inputs, String(id))) continue;
                const reg = regOf(after, r);
                const field = Object.keys(old.inputs).find((f) => holds(old.inputs[f], String(id)))!;
                const op = providerOp(r.type, [field]);
                if (existing?.op === op) continue;
                changes.set(k, { key: k, type: r.type, name: r.name, op, reason: `${field} holds ${c.name}'s ID`, deleteFirst: Boolean(reg?.deleteBeforeReplace), before: old, after: r });
                grew = true;
            }
        }
    }
    const dependencies = new Map(after.resources.map((r) => [keyOf(r), (regOf(after, r)?.dependencies ?? []).map((u) => urnToKey.get(u)).filter((k): k is string => !!k)]));
    const dependents = new Map<string, string[]>();
    for (const c of changes.values()) {
        if (c.op !== "replace" || !c.deleteFirst) continue;
        // The engine deletes the replaced resources that depend on it first (its dependents' own replacement follows it).
        dependents.set(
            c.key,
            [...changes.values()].filter((d) => d.op === "replace" && d.key !== c.key && (dependencies.get(d.key) ?? []).includes(c.key)).map((d) => d.key),
        );
    }
    const removed = before.resources
        .filter((r) => !afterBy.has(keyOf(r)))
        .reverse()
        .map((r): PlannedChange => ({ key: keyOf(r), type: r.type, name: r.name, op: "delete", reason: "no longer in the program", deleteFirst: false, before: r }));
    const ordered = after.resources.map((r) => changes.get(keyOf(r))).filter((c): c is PlannedChange => !!c);
    // The engine refuses, at preview, to delete or replace a resource its state holds as protected.
    const refused = [...ordered, ...removed].filter((c) => (c.op === "delete" || c.op === "replace") && regOf(before, c.before!)?.protect);
    if (refused.length)
        throw new Error(
            `pulumi up would fail at its preview: it would ${refused.map((c) => `${c.op} ${c.name}`).join(", ")}, which ${refused.length > 1 ? "are" : "is"} protected (protectData; see docs/day-2.md, "Destroying a stack")`,
        );
    return { changes: [...ordered, ...removed], dependencies, dependents, replace: forced };
}

/** One line per change, for the report and the log. */
export function describePlan(plan: ChangePlan): string[] {
    return plan.changes.map((c) => `${c.op.padEnd(7)} ${c.type} ${c.name}${c.op === "replace" && c.deleteFirst ? " (delete first)" : ""}: ${c.reason}`);
}

/**
 * `pulumi destroy --exclude-protected`: every resource not protected deleted, dependents first
 * (the reverse of the registration order, which puts dependencies first), and what stays in the
 * state: the protected resources and their parent components.
 */
export function planDestroy(before: RunRecord): { plan: ChangePlan; kept: RunRecord } {
    const regOf = (r: RecordedResource) => before.registrations.find((g) => g.type === r.type && g.name === r.name);
    // The protected resources stay, and with them their parent components.
    const stays = new Set(before.resources.filter((r) => regOf(r)?.protect).map((r) => r.urn));
    for (let grew = true; grew; ) {
        grew = false;
        for (const r of before.resources) {
            const parent = stays.has(r.urn) ? regOf(r)?.parent : undefined;
            if (parent && !stays.has(parent) && before.resources.some((x) => x.urn === parent)) {
                stays.add(parent);
                grew = true;
            }
        }
    }
    const deleted = before.resources.filter((r) => !stays.has(r.urn)).reverse();
    const kept = before.resources.filter((r) => stays.has(r.urn));
    return {
        plan: {
            changes: deleted.map((r) => ({ key: keyOf(r), type: r.type, name: r.name, op: "delete", reason: "destroy --exclude-protected", deleteFirst: false, before: r })),
            dependencies: new Map(),
            dependents: new Map(),
            replace: [],
        },
        kept: { resources: kept, registrations: before.registrations.filter((g) => kept.some((r) => r.type === g.type && r.name === g.name)) },
    };
}
