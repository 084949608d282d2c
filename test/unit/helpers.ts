// Shared by the mock-engine unit tests (platform*, secrets*, preview*): runs index.ts under
// Pulumi's mock engine with a given stack config and offers small queries over what it registered.
//
// Each run re-imports index.ts (and every component) from scratch: vi.resetModules() clears
// vitest's module registry, while @pulumi/pulumi (an external node_module) keeps its one
// process-wide runtime, which runProgram re-points at fresh mocks. Runs must be sequential.
import * as path from "node:path";
import { vi } from "vitest";
import { namespacedConfig, secretPathsIn } from "../../components/config";
import {
    SECRET_SIG,
    SECRET_SIG_KEY,
    defaultState,
    isSecretWrapper,
    runProgram,
    unwrapSecrets,
    type ProgramRun,
    type RecordedResource,
    type Registration,
    type StateHook,
} from "../../scripts/lib/mockEngine";

/** The top-level keys `pulumi config set --secret --path` would mark for the secret values in `config`. */
export function secretSectionsOf(config: Record<string, string>): string[] {
    return [...new Set(secretPathsIn(namespacedConfig(config)).map((p) => `${PROJECT}:${p.split(".")[0]}`))];
}

export const ROOT = path.resolve(__dirname, "..", "..");
export const PROGRAM = path.join(ROOT, "index.ts");
export { PROJECT, cfg } from "../config";
import { PROJECT, cfg } from "../config";
import type { RunRecord } from "../../lab/change";

export const T = {
    container: "docker:index/container:Container",
    volume: "docker:index/volume:Volume",
    network: "docker:index/network:Network",
    image: "docker:index/remoteImage:RemoteImage",
    dockerProvider: "pulumi:providers:docker",
    command: "command:local:Command",
    remoteCommand: "command:remote:Command",
    copyToRemote: "command:remote:CopyToRemote",
    password: "random:index/randomPassword:RandomPassword",
    randomBytes: "random:index/randomBytes:RandomBytes",
    accessKey: "aws:iam/accessKey:AccessKey",
    privateKey: "tls:index/privateKey:PrivateKey",
} as const;


/**
 * Outputs the providers declare secret (`additionalSecretOutputs` in @pulumi/random, @pulumi/tls and @pulumi/aws).
 * The real engine returns them as secrets; the mock monitor ignores that option, so the faithful
 * state hook below wraps them itself.
 */
export const PROVIDER_SECRET_OUTPUTS: Record<string, string[]> = {
    [T.password]: ["result", "bcryptHash"],
    [T.privateKey]: ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"],
    [T.randomBytes]: ["base64", "hex"],
    [T.accessKey]: ["secret", "sesSmtpPasswordV4"],
};

export interface PlatformRun extends ProgramRun {
    /** Every provider-computed secret value the mocks handed out (passwords, private keys). */
    generatedSecrets: string[];
    /** How many times the mocks were asked to create a resource. */
    newResourceCalls: number;
}

export interface RunOptions {
    /** The program to run; index.ts (the stack program) unless given. */
    program?: string;
    secretKeys?: string[];
    stack?: string;
    /** false: plain defaultState, exactly what scripts/preview-offline.ts uses. */
    faithfulSecrets?: boolean;
    /** A step's stdout as a deployed stack's state holds it (a record from an earlier `up`); undefined: the mock's. */
    stdoutOf?: (name: string) => string | undefined;
}

let runs = 0;

/** Runs index.ts with this config (full `gateway-ha:*` keys) on a fresh module graph. */
export async function runPlatform(config: Record<string, string>, opts: RunOptions = {}): Promise<PlatformRun> {
    const generatedSecrets: string[] = [];
    let newResourceCalls = 0;
    const state: StateHook = (type, name, inputs) => {
        newResourceCalls++;
        const s = defaultState(type, name, inputs);
        const kept = type === T.command ? opts.stdoutOf?.(name) : undefined;
        if (kept !== undefined) s.stdout = kept;
        for (const field of PROVIDER_SECRET_OUTPUTS[type] ?? []) {
            // defaultState may already return it wrapped; either way record the value once.
            const value = isSecretWrapper(s[field]) ? (s[field] as { value: unknown }).value : s[field];
            if (typeof value !== "string") continue;
            generatedSecrets.push(value);
            if (opts.faithfulSecrets !== false && !isSecretWrapper(s[field])) s[field] = { [SECRET_SIG_KEY]: SECRET_SIG, value };
        }
        return s;
    };
    const run = await runProgram({
        program: opts.program ?? PROGRAM,
        project: PROJECT,
        stack: opts.stack ?? `unit${++runs}`,
        config,
        // As an operator sets them: every section holding a secret value with --secret.
        secretKeys: opts.secretKeys ?? secretSectionsOf(config),
        state,
        importer: (p) => {
            vi.resetModules();
            return import(p);
        },
    });
    return { ...run, generatedSecrets, newResourceCalls };
}

/** A run of this config (plain values) as the lab's change planner reads it (lab/change.ts), on the stack "plan". */
export async function planRecord(config: Record<string, unknown>, opts: Pick<RunOptions, "stdoutOf"> = {}): Promise<RunRecord> {
    const run = await runPlatform(cfg(config), { stack: "plan", ...opts });
    return { resources: run.resources.map((r) => ({ ...r, inputs: unwrapSecrets(r.inputs) as Record<string, unknown> })), registrations: run.registrations };
}

export function ofType(run: ProgramRun, type: string): RecordedResource[] {
    return run.resources.filter((r) => r.type === type);
}

export function find(run: ProgramRun, type: string, name: string): RecordedResource {
    const found = run.resources.filter((r) => r.type === type && r.name === name);
    if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}: ${run.resources.map((r) => r.name).join(", ")}`);
    return found[0];
}

export function registration(run: PlatformRun, type: string, name: string): Registration {
    const found = run.registrations.filter((r) => r.type === type && r.name === name);
    if (found.length !== 1) throw new Error(`expected one registration of ${type} ${name}, found ${found.length}`);
    return found[0];
}

export function label(r: RecordedResource, key: string): string | undefined {
    const labels = (unwrapSecrets(r.inputs.labels) as { label: string; value: string }[] | undefined) ?? [];
    return labels.find((l) => l.label === key)?.value;
}

/** Service containers (those with a role label), optionally of one role. */
export function services(run: ProgramRun, role?: string): RecordedResource[] {
    return ofType(run, T.container).filter((r) => {
        const rl = label(r, "gateway-ha.role");
        return rl !== undefined && (role === undefined || rl === role);
    });
}

/** Node ("pause") containers: a node label and no role label. */
export function nodeContainers(run: ProgramRun): RecordedResource[] {
    return ofType(run, T.container).filter((r) => label(r, "gateway-ha.node") !== undefined && label(r, "gateway-ha.role") === undefined);
}

export function uploads(r: RecordedResource): { file: string; content: string; permissions?: string; owner?: string; group?: string }[] {
    return (unwrapSecrets(r.inputs.uploads) as { file: string; content: string }[] | undefined) ?? [];
}

export function upload(r: RecordedResource, file: string): string {
    const u = uploads(r).find((x) => x.file === file);
    if (!u) throw new Error(`${r.name} uploads no ${file}; it has ${uploads(r).map((x) => x.file).join(", ")}`);
    return u.content;
}

export function envs(r: RecordedResource): string[] {
    return (unwrapSecrets(r.inputs.envs) as string[] | undefined) ?? [];
}

/** The pulled image reference behind a container's `image` input (the RemoteImage whose imageId it uses). */
export function imageRef(run: ProgramRun, container: RecordedResource): string | undefined {
    return ofType(run, T.image).find((i) => i.state.imageId === container.inputs.image)?.inputs.name as string | undefined;
}

export interface Leak {
    where: string;
    path: string;
    secret: string;
}

/**
 * Every place a secret value appears (as a substring) in a non-secret part of a value:
 * secret-wrapped subtrees are skipped, everything else is walked down to its strings.
 */
export function findPlainSecrets(value: unknown, secrets: readonly string[], where: string, at = ""): Leak[] {
    if (isSecretWrapper(value)) return [];
    if (typeof value === "string") return secrets.filter((s) => s.length > 0 && value.includes(s)).map((secret) => ({ where, path: at, secret }));
    if (Array.isArray(value)) return value.flatMap((v, i) => findPlainSecrets(v, secrets, where, `${at}[${i}]`));
    if (value && typeof value === "object")
        return Object.entries(value).flatMap(([k, v]) => findPlainSecrets(v, secrets, where, at ? `${at}.${k}` : k));
    return [];
}

/** Leaks across every resource's inputs and every non-secret stack output. */
export function scanRun(run: Pick<ProgramRun, "resources" | "outputs">, secrets: readonly string[]): Leak[] {
    return [
        ...run.resources.flatMap((r) => findPlainSecrets(r.inputs, secrets, `${r.type} ${r.name}`)),
        ...Object.entries(run.outputs)
            .filter(([, o]) => !o.secret)
            .flatMap(([k, o]) => findPlainSecrets(o.value, secrets, `output ${k}`)),
    ];
}

/** Whether `reg` waits for the resource named `name` (by URN suffix). */
export function dependsOn(reg: Registration, type: string, name: string): boolean {
    return reg.dependencies.some((u) => u.endsWith(`${type}::${name}`));
}
