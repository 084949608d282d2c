// Offline rendering of a stack, for pull-request review and our own checks. It runs index.ts
// under Pulumi's mock engine with the stack's config: no engine, no credentials, no cloud.
// It is a rendering, not a deployment: provider-computed values are stand-ins.
//
//   npm run --silent preview:offline -- --stack NAME [--config-file FILE] [--set KEY=VALUE]... [--json] [--out DIR]
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ConfigValidationError, loadPlatform, namespacedConfig, secretPathsIn } from "../components/config";
import { gunzipSync } from "node:zlib";
import { TAGS } from "../components/targets/aws";
import { LABELS } from "../components/service";
import { HOST_PATHS, filesInstalled, firewallInstalled } from "../components/render/ssh";
import { parseCli, UsageError } from "./lib/cli";
import { redactSecrets, runProgram, unwrapSecrets, type ProgramRun, type RecordedResource, type RecordedStringAsset, type StateHook } from "./lib/mockEngine";

const ROOT = path.resolve(__dirname, "..");

/** Stand-ins for `secure:` values, shaped so validation still sees a well-formed value. */
const SECRET_PLACEHOLDERS: Record<string, string> = {
    "controlPlane.databaseDsn": "postgres://placeholder:placeholder@placeholder:5432/placeholder?sslmode=verify-full",
    "ssh.privateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nplaceholder\n-----END OPENSSH PRIVATE KEY-----\n",
    "dataPlane.dpManagerIdentity.privateKey": "-----BEGIN PRIVATE KEY-----\nplaceholder\n-----END PRIVATE KEY-----\n",
};
const GENERIC_PLACEHOLDER = "secret-placeholder";

/**
 * Secrets a stack file leaves to `pulumi config set --secret` (a committed stack file holds no
 * ciphertext it cannot decrypt elsewhere). The offline rendering stands a placeholder in for them
 * and says so; `pulumi up` still refuses to run without the real value.
 */
const REQUIRED_SECRETS: { key: string; path: string[]; needed: (config: Record<string, string>, project: string) => boolean }[] = [
    { key: "controlPlane.databaseDsn", path: ["controlPlane", "databaseDsn"], needed: (c, project) => c[`${project}:flavor`] === "api7-v3" },
    {
        key: "ssh.privateKey",
        path: ["ssh", "privateKey"],
        needed: (c, project) => c[`${project}:target`] === "ssh" && section(c[`${project}:ssh`])?.agent !== true,
    },
];

/** A config section as an object: unset is empty; anything else (null, a string, a list) is not one, and the validator says so. */
function section(value: string | undefined): Record<string, unknown> | undefined {
    if (value === undefined) return {};
    try {
        const parsed: unknown = JSON.parse(value);
        return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
        return undefined;
    }
}

/** Adds placeholders for required secrets the config lacks; returns the keys it filled. */
export function fillRequiredSecrets(project: string, config: Record<string, string>): { config: Record<string, string>; filled: string[] } {
    const out = { ...config };
    const filled: string[] = [];
    for (const r of REQUIRED_SECRETS) {
        if (!r.needed(out, project)) continue;
        const key = `${project}:${r.path[0]}`;
        const root = section(out[key]);
        if (!root || root[r.path[1]] !== undefined) continue;
        root[r.path[1]] = SECRET_PLACEHOLDERS[r.key] ?? GENERIC_PLACEHOLDER;
        out[key] = JSON.stringify(root);
        filled.push(r.key);
    }
    return { config: out, filled };
}

export interface PreviewArgs {
    stack: string;
    configFile?: string;
    /** `KEY=VALUE` overrides on top of the stack file; KEY may go into an object (`loadBalancer.kind`). */
    sets: string[];
    json: boolean;
    out?: string;
}

export function parseArgs(argv: string[]): PreviewArgs {
    const o = parseCli(argv, { stack: { type: "string" }, "config-file": { type: "string" }, out: { type: "string" }, set: { type: "string", multiple: true }, json: { type: "boolean" } });
    if (!o.stack) throw new UsageError("--stack NAME is required");
    return { stack: o.stack, configFile: o["config-file"], out: o.out, sets: o.set ?? [], json: o.json ?? false };
}

export { UsageError };

/**
 * Applies `KEY=VALUE` overrides to a config as Pulumi passes it (`project:key` → string, objects as
 * JSON). VALUE is read as YAML, so `3`, `true` and `[a, b]` keep their types.
 */
export function applySets(project: string, config: Record<string, string>, sets: string[]): Record<string, string> {
    const out = { ...config };
    for (const set of sets) {
        const eq = set.indexOf("=");
        if (eq <= 0) throw new UsageError(`--set ${set}: expected KEY=VALUE`);
        const [top, ...rest] = set.slice(0, eq).split(".");
        const value: unknown = parse(set.slice(eq + 1));
        const key = `${project}:${top}`;
        if (rest.length === 0) {
            out[key] = typeof value === "string" ? value : JSON.stringify(value);
            continue;
        }
        const root = (out[key] ? JSON.parse(out[key]) : {}) as Record<string, unknown>;
        let obj = root;
        for (const k of rest.slice(0, -1)) obj = (obj[k] ??= {}) as Record<string, unknown>;
        obj[rest[rest.length - 1]] = value;
        out[key] = JSON.stringify(root);
    }
    return out;
}

/** Replaces `{secure: …}` leaves with placeholders; returns the top-level keys that held one. */
function replaceSecure(value: unknown, keyPath: string, found: Set<string>, top: string): unknown {
    if (value && typeof value === "object" && !Array.isArray(value)) {
        const obj = value as Record<string, unknown>;
        if (Object.keys(obj).length === 1 && typeof obj.secure === "string") {
            found.add(top);
            return SECRET_PLACEHOLDERS[keyPath] ?? GENERIC_PLACEHOLDER;
        }
        return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, replaceSecure(v, keyPath ? `${keyPath}.${k}` : k, found, top)]));
    }
    if (Array.isArray(value)) return value.map((v, i) => replaceSecure(v, `${keyPath}[${i}]`, found, top));
    return value;
}

/** Project defaults from Pulumi.yaml overlaid with the stack's values, as Pulumi would pass them. */
export function stackConfig(projectFile: string, stackFile: string): { project: string; config: Record<string, string>; secretKeys: string[] } {
    const project = parse(fs.readFileSync(projectFile, "utf8")) as { name: string; config?: Record<string, { default?: unknown }> };
    const stackDoc = (parse(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const merged: Record<string, unknown> = {};
    for (const [k, decl] of Object.entries(project.config ?? {}))
        if (decl && typeof decl === "object" && "default" in decl) merged[k.includes(":") ? k : `${project.name}:${k}`] = decl.default;
    Object.assign(merged, stackDoc.config ?? {});
    const secret = new Set<string>();
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(merged)) {
        const short = k.slice(k.indexOf(":") + 1);
        const plain = replaceSecure(v, short, secret, k);
        config[k] = typeof plain === "string" ? plain : JSON.stringify(plain);
    }
    return { project: project.name, config, secretKeys: [...secret] };
}

export interface RenderedFile {
    node: string;
    path: string;
    content: string;
}

const label = (r: RecordedResource, name: string) =>
    ((unwrapSecrets(r.inputs.labels) as { label: string; value: string }[] | undefined) ?? []).find((l) => l.label === name)?.value;

/**
 * An AWS node's files: what its cloud-init user data writes (compressed task scripts unpacked),
 * and its SecureString parameters, which hold the secret files and env as "[secret]".
 */
function awsNodeFiles(r: RecordedResource): RenderedFile[] {
    const tags = unwrapSecrets(r.inputs.tags) as Record<string, string> | undefined;
    const node = tags?.[TAGS.node];
    if (!node) return [];
    if (r.type === "aws:ssm/parameter:Parameter") return [{ node, path: `ssm:${String(r.inputs.name)}`, content: "[secret]" }];
    if (typeof r.inputs.userData !== "string") return [];
    const doc = parse(r.inputs.userData.replace(/^#cloud-config\n/, "")) as { write_files?: { path: string; content: string; encoding?: string }[] };
    return (doc.write_files ?? []).map((f) => ({
        node,
        path: f.path,
        content: f.encoding === "gz+b64" ? gunzipSync(Buffer.from(f.content, "base64")).toString("utf8") : f.content,
    }));
}

/**
 * What the CopyToRemote resources of an ssh run stage, by remote path: the source's text, or
 * "[secret]" when the source is secret and `reveal` is not set.
 */
export function stagedContents(resources: RecordedResource[], reveal = false): Map<string, string> {
    const staged = new Map<string, string>();
    for (const r of resources) {
        if (r.type !== "command:remote:CopyToRemote" || typeof r.inputs.remotePath !== "string") continue;
        const source = reveal ? unwrapSecrets(r.inputs.source) : redactSecrets(r.inputs.source);
        staged.set(r.inputs.remotePath, typeof source === "string" ? source : (source as RecordedStringAsset).text);
    }
    return staged;
}

/**
 * An SSH host's files: what its files steps install (secret ones as "[secret]") and the firewall
 * script its host step installs. The step's connection names the host's address.
 */
function sshHostFiles(r: RecordedResource, nodeAt: Map<string, string>, staged: Map<string, string>): RenderedFile[] {
    const address = (unwrapSecrets(r.inputs.connection) as { host?: string } | undefined)?.host;
    const node = address !== undefined ? nodeAt.get(address) : undefined;
    const stdin = unwrapSecrets(r.inputs.stdin);
    if (!node || typeof stdin !== "string") return [];
    const firewall = firewallInstalled(stdin);
    return [
        ...[...filesInstalled(stdin, staged)].map(([path, content]) => ({ node, path, content })),
        ...(firewall ? [{ node, path: HOST_PATHS.firewall, content: firewall }] : []),
    ];
}

/** The configuration files each node receives, secrets as "[secret]". */
export function renderedFiles(run: ProgramRun): RenderedFile[] {
    const files: RenderedFile[] = [];
    // Node names by address, from the `nodes` output.
    const staged = stagedContents(run.resources);
    const nodeAt = new Map(Object.entries((run.outputs.nodes?.value ?? {}) as Record<string, { address: string }>).map(([name, n]) => [n.address, name]));
    for (const r of run.resources) {
        if (r.type === "aws:ec2/instance:Instance" || r.type === "aws:ssm/parameter:Parameter") {
            files.push(...awsNodeFiles(r));
            continue;
        }
        if (r.type === "command:remote:Command") {
            files.push(...sshHostFiles(r, nodeAt, staged));
            continue;
        }
        if (r.type !== "docker:index/container:Container") continue;
        const node = label(r, LABELS.node);
        const uploads = unwrapSecrets(r.inputs.uploads) as { file: string; content?: string }[] | undefined;
        if (!node || !uploads) continue;
        const secret = new Set((label(r, LABELS.secretFiles) ?? "").split(",").filter(Boolean));
        for (const u of uploads) files.push({ node, path: u.file, content: secret.has(u.file) ? "[secret]" : (u.content ?? "") });
    }
    return files.sort((a, b) => a.node.localeCompare(b.node) || a.path.localeCompare(b.path));
}

/** Each resource under its parent, as the engine recorded it at registration. */
export function resourceTree(run: Pick<ProgramRun, "resources" | "registrations">): string[] {
    const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
    const parentUrn = new Map(run.registrations.map((g) => [`${g.type}::${g.name}`, g.parent]));
    const children = new Map<RecordedResource | undefined, RecordedResource[]>();
    for (const r of run.resources) {
        // The stack itself is not recorded: its children are the tree's roots.
        const parent = byUrn.get(parentUrn.get(`${r.type}::${r.name}`) ?? "");
        children.set(parent, [...(children.get(parent) ?? []), r]);
    }
    const lines: string[] = [];
    const walk = (node: RecordedResource | undefined, depth: number) => {
        for (const c of children.get(node) ?? []) {
            lines.push(`${"  ".repeat(depth)}${c.type}  ${c.name}`);
            walk(c, depth + 1);
        }
    };
    walk(undefined, 0);
    return lines;
}

/** The stack's configuration with the sets and placeholders applied, validated: what `preview` runs the program on. */
export function previewPlatform(args: Pick<PreviewArgs, "stack" | "configFile" | "sets">) {
    const stackFile = args.configFile ?? path.join(ROOT, `Pulumi.${args.stack}.yaml`);
    if (!fs.existsSync(stackFile)) throw new UsageError(`no stack config file ${stackFile}`);
    const stack = stackConfig(path.join(ROOT, "Pulumi.yaml"), stackFile);
    const { project } = stack;
    const { config, filled } = fillRequiredSecrets(project, applySets(project, stack.config, args.sets));
    // A --set of a secret value stands for `pulumi config set --secret`: the preview stores nothing.
    const setSecrets = secretPathsIn(namespacedConfig(applySets(project, {}, args.sets))).map((p) => `${project}:${p.split(".")[0]}`);
    const secretKeys = [...new Set([...stack.secretKeys, ...filled.map((k) => `${project}:${k.split(".")[0]}`), ...setSecrets])];
    return { project, config, filled, secretKeys, platform: loadPlatform(config, { project, stack: args.stack }) };
}

export async function preview(
    args: Pick<PreviewArgs, "stack" | "configFile" | "sets">,
    opts: { importer?: (p: string) => Promise<Record<string, unknown>>; state?: StateHook } = {},
) {
    // Validate first: a bad config exits 2 before the program (and any resource) runs.
    const { project, config, filled, secretKeys, platform } = previewPlatform(args);
    const run = await runProgram({ program: path.join(ROOT, "index.ts"), project, stack: args.stack, config, secretKeys, importer: opts.importer, state: opts.state });
    return {
        run,
        platform,
        document: {
            project,
            stack: args.stack,
            resources: run.resources.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => ({ type: r.type, name: r.name, inputs: redactSecrets(r.inputs) })),
            outputs: Object.fromEntries(Object.entries(run.outputs).map(([k, o]) => [k, o.secret ? "[secret]" : o.value])),
            files: renderedFiles(run),
            /** Required secrets the stack file leaves to `pulumi config set --secret`: placeholders stood in. */
            placeholders: filled,
        },
    };
}

async function main() {
    let args: PreviewArgs;
    try {
        args = parseArgs(process.argv.slice(2));
        const { run, document } = await preview(args);
        if (args.out) {
            for (const f of document.files) {
                const target = path.join(args.out, f.node, f.path);
                fs.mkdirSync(path.dirname(target), { recursive: true });
                fs.writeFileSync(target, f.content);
            }
        }
        if (args.json) {
            process.stdout.write(JSON.stringify(document, null, 2) + "\n");
        } else {
            const counts = new Map<string, number>();
            for (const r of document.resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
            const out = [
                `Offline rendering of stack ${document.stack} (project ${document.project}): mock engine, nothing deployed.`,
                "",
                ...resourceTree(run),
                "",
                "Resources by type:",
                ...[...counts].sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `  ${String(n).padStart(4)}  ${t}`),
                `  ${String(document.resources.length).padStart(4)}  total`,
                "",
                "Outputs:",
                ...Object.entries(document.outputs).map(([k, v]) => `  ${k}: ${typeof v === "string" ? v.split("\n")[0] : JSON.stringify(v)}`),
                "",
                `Rendered files: ${document.files.length}${args.out ? ` (written under ${args.out})` : " (use --out DIR to write them)"}`,
                ...document.placeholders.map(
                    (k) => `Placeholder for ${k}: not in the stack file; set it before \`pulumi up\` with \`pulumi config set --secret --path ${k} …\``,
                ),
            ];
            process.stdout.write(out.join("\n") + "\n");
        }
    } catch (e) {
        if (e instanceof ConfigValidationError) {
            process.stderr.write(e.message + "\n");
            process.exit(2);
        }
        if (e instanceof UsageError) {
            process.stderr.write(`preview:offline: ${e.message}\nusage: npm run --silent preview:offline -- --stack NAME [--config-file FILE] [--set KEY=VALUE]... [--json] [--out DIR]\n`);
            process.exit(2);
        }
        throw e;
    }
}

if (require.main === module) {
    // Pulumi captures a stack trace per resource; with tsx's source maps each costs ~4 ms.
    process.setSourceMapsEnabled(false);
    main().catch((e) => {
        process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
        process.exit(1);
    });
}
