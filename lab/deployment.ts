// What a stack deploys, read from its offline preview run with real secrets: nodes and their
// addresses, every service (image, command, environment, rendered files, volumes, health check)
// and the post-deploy tasks. The lab runs exactly this; nothing is re-rendered here. Docker-target
// stacks are read from their containers' inputs; ssh-target stacks from what their steps write to
// the hosts (each service's Compose file, files and env file) and the task scripts they run there.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { HOST_PATHS, filesInstalled, sysctlsInstalled } from "../components/render/ssh";
import { IMAGE_FACTS_MARKER } from "../components/render/imageFacts";
import { LABELS } from "../components/service";
import { formatIpv4, parseCidr, parseIpv4, cidrContains } from "../components/config/net";
import type { PlatformSpec } from "../components/config/types";
import type { Topology, TopologyVip } from "../components/topology/types";
import { ROLLOUT_CONTAINER_ENV, reloadFileVar } from "../components/targets/docker";
import { unwrapSecrets, type RecordedResource, type StateHook } from "../scripts/lib/mockEngine";
import type { RunRecord } from "./change";
import { preview, stagedContents, type PreviewArgs } from "../scripts/preview-offline";
import { realState } from "./realState";

export interface LabNode {
    name: string;
    address: string;
    roles: string[];
}

export interface LabFile {
    path: string;
    content: string;
    secret: boolean;
}

export interface LabService {
    /** The container name `pulumi up` gives it (what `docker exec` in a task names). */
    container: string;
    node: string;
    role: string;
    service: string;
    image: string;
    command: string[];
    env: Record<string, string>;
    files: LabFile[];
    /** Container paths of persistent volumes. */
    volumes: string[];
    /** Docker health-check command (exec form, without "CMD"). */
    healthCheck?: string[];
    /** Kernel parameters of its namespace: the container's (docker) or its host step's (ssh). */
    sysctls: Record<string, string>;
    /** Its rollout step (docker target): what `pulumi up` runs before it stops (drain) and after it starts (ready). */
    rollout?: { drain: string; ready: string };
}

export interface LabTask {
    name: string;
    /** Run with `sh -s` (the script on stdin), the environment set. */
    script: string;
    env: Record<string, string>;
}

export interface LabDeployment {
    /** The validated stack configuration (for ports and timings; files come from the run). */
    spec: PlatformSpec;
    /** The nodes' network: the Docker network's subnet, or the hosts' segment (the VIPs'). */
    subnet: string;
    nodes: LabNode[];
    services: LabService[];
    tasks: LabTask[];
    /** keepalived VIPs, as the topology placed them (nodes highest priority first). */
    vips: TopologyVip[];
    outputs: Record<string, unknown>;
    /** The preview's resources (inputs unwrapped) and registrations: what an update drill plans from. */
    record?: RunRecord;
}

const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const LOCAL_COMMAND = "command:local:Command";

const labelsOf = (r: RecordedResource) => new Map(((r.inputs.labels as { label: string; value: string }[] | undefined) ?? []).map((l) => [l.label, l.value]));

function envMap(envs: unknown): Record<string, string> {
    return Object.fromEntries(((envs as string[] | undefined) ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

/** Turns a recorded program run (secrets unwrapped) into the lab's view of the deployment. */
export function deploymentFromResources(spec: PlatformSpec, resources: RecordedResource[], outputs: Record<string, unknown>, vips: TopologyVip[] = []): LabDeployment {
    const nodes = nodesOf(outputs);
    const network = resources.find((r) => r.type === NETWORK);
    const subnet = (network?.inputs.ipamConfigs as { subnet: string }[] | undefined)?.[0]?.subnet;
    if (!subnet) throw new Error("the lab runs Docker-target stacks with local nodes: this stack has no Docker network");
    const services: LabService[] = [];
    for (const r of resources) {
        if (r.type !== CONTAINER) continue;
        const labels = labelsOf(r);
        const service = labels.get(LABELS.service);
        if (!service) continue; // a node's pause container: the lab's network namespace plays its part
        const secretFiles = new Set((labels.get(LABELS.secretFiles) ?? "").split(",").filter(Boolean));
        const hc = (r.inputs.healthcheck as { tests?: string[] } | undefined)?.tests;
        services.push({
            container: r.inputs.name as string,
            node: labels.get(LABELS.node)!,
            role: labels.get(LABELS.role)!,
            service,
            image: r.inputs.image as string,
            // An entrypoint of the stack's own (the secrets wrapper) runs before the command.
            command: [...((r.inputs.entrypoints as string[] | undefined) ?? []), ...((r.inputs.command as string[] | undefined) ?? [])],
            env: envMap(r.inputs.envs),
            files: ((r.inputs.uploads as { file: string; content: string }[] | undefined) ?? []).map((u) => ({
                path: u.file,
                content: u.content,
                secret: secretFiles.has(u.file),
            })),
            volumes: ((r.inputs.volumes as { containerPath: string }[] | undefined) ?? []).map((v) => v.containerPath),
            healthCheck: hc?.[0] === "CMD" ? hc.slice(1) : undefined,
            sysctls: (r.inputs.sysctls as Record<string, string> | undefined) ?? {},
        });
    }
    for (const r of resources) {
        const container = r.type === LOCAL_COMMAND ? envOf(r)[ROLLOUT_CONTAINER_ENV] : undefined;
        const svc = container ? services.find((s) => s.container === container) : undefined;
        if (svc) svc.rollout = { drain: r.inputs.delete as string, ready: r.inputs.create as string };
    }
    return { spec, subnet, nodes, services, tasks: deployerSteps(resources), vips, outputs };
}

const envOf = (r: RecordedResource) => (r.inputs.environment as Record<string, string> | undefined) ?? {};

/** An image-facts step (render/imageFacts.ts): the lab has no images, and its stand-ins do not run the image's start. */
export const isImageFactsStep = (r: RecordedResource) => [r.inputs.create, r.inputs.stdin].some((s) => typeof s === "string" && s.includes(IMAGE_FACTS_MARKER));

/**
 * The steps `pulumi up` runs where it runs (etcd's records, membership steps and bootstrap), in
 * order. Not the balancers' reload steps: at creation they find the file the container already has
 * and do nothing (docker target, renderReloadScript); the lab starts its balancers on those files.
 * Nor the rollout steps: the lab waits for each service itself, and its drills run them. Nor the
 * image-facts steps: the mock engine's answer stands in.
 */
function deployerSteps(resources: RecordedResource[]): LabTask[] {
    return resources
        .filter((r) => r.type === LOCAL_COMMAND && !(reloadFileVar(0) in envOf(r)) && !(ROLLOUT_CONTAINER_ENV in envOf(r)) && !isImageFactsStep(r))
        .map((r) => ({ name: r.name, script: r.inputs.create as string, env: envOf(r) }));
}

function nodesOf(outputs: Record<string, unknown>): LabNode[] {
    const nodesOut = outputs.nodes as Record<string, { address: string; roles: string[] }>;
    return Object.entries(nodesOut).map(([name, n]) => ({ name, address: n.address, roles: n.roles }));
}

const COMPOSE_FILE = new RegExp(`^${HOST_PATHS.services}/[^/]+/compose\\.yaml$`);
/** A task's script on its host: it defines `tool`, which runs in a container (renderTaskOnHost). */
const TASK_SCRIPT = /^tool\(\) \{ docker exec /m;

interface ComposeDoc {
    services: Record<
        string,
        {
            image: string;
            container_name: string;
            entrypoint?: string[];
            command?: string[];
            labels?: Record<string, string>;
            env_file?: string[];
            volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
            healthcheck?: { test: string[] };
        }
    >;
}

/** An env file as renderEnvFile writes it: `KEY='value'` lines. */
export function parseEnvFile(text: string): Record<string, string> {
    return Object.fromEntries(
        text
            .split("\n")
            .filter(Boolean)
            .map((l) => {
                const m = /^([A-Za-z_][A-Za-z0-9_]*)='([^']*)'$/.exec(l);
                if (!m) throw new Error(`env file line not in KEY='value' form: ${l}`);
                return [m[1], m[2]];
            }),
    );
}

/** `export KEY='value'` lines of a script, single quotes as `q` writes them. */
export function exportsOf(script: string): Record<string, string> {
    return Object.fromEntries([...script.matchAll(/^export ([A-Za-z_][A-Za-z0-9_]*)='((?:[^']|'\\'')*)'$/gm)].map((m) => [m[1], m[2].replace(/'\\''/g, "'")]));
}

/** The lab's network for a stack, before its program runs: the Docker network's subnet, or the hosts' segment. */
export function labSubnet(spec: PlatformSpec, topology: Topology): string {
    return spec.target === "docker" ? spec.docker.subnet : hostSegment(topology.nodes, topology.vips);
}

/** The hosts' segment: the VIPs' (every node sits in it), else the /24 of the first node. */
function hostSegment(nodes: Pick<LabNode, "name" | "address">[], vips: TopologyVip[]): string {
    const subnet = vips[0]?.segment ?? `${formatIpv4((parseIpv4(nodes[0].address)! >>> 8) << 8 >>> 0)}/24`;
    const c = parseCidr(subnet)!;
    const outside = nodes.filter((n) => !cidrContains(c, parseIpv4(n.address)!));
    if (outside.length) throw new Error(`the lab puts every host on one segment, ${subnet}; ${outside.map((n) => `${n.name} (${n.address})`).join(", ")} is outside it`);
    return subnet;
}

/** An ssh-target run as the lab's deployment: every file the steps install on the hosts, read back. */
export function sshDeploymentFromResources(spec: PlatformSpec, resources: RecordedResource[], outputs: Record<string, unknown>, vips: TopologyVip[] = []): LabDeployment {
    const nodes = nodesOf(outputs);
    const staged = stagedContents(resources, true);
    const written = new Map<string, string>();
    const sysctls = new Map<string, Record<string, string>>();
    // On the deployer first (etcd's membership steps and bootstrap), then those on the hosts.
    const tasks: LabTask[] = deployerSteps(resources);
    for (const r of resources) {
        const stdin = r.inputs.stdin;
        if (typeof stdin !== "string") continue;
        for (const [path, content] of filesInstalled(stdin, staged)) written.set(path, content);
        const params = sysctlsInstalled(stdin);
        if (params) sysctls.set(r.name.replace(/-sysctls$/, ""), params);
        // The script exports its environment itself (renderTaskOnHost); the lab reads it too (etcd's root password).
        if (TASK_SCRIPT.test(stdin)) tasks.push({ name: r.name, script: stdin, env: exportsOf(stdin) });
    }
    const read = (path: string) => {
        const c = written.get(path);
        if (c === undefined) throw new Error(`no step writes ${path}, which a Compose file mounts`);
        return c;
    };
    const services: LabService[] = [];
    for (const [path, text] of written) {
        if (!COMPOSE_FILE.test(path)) continue;
        for (const c of Object.values((parse(text) as ComposeDoc).services)) {
            const labels = c.labels ?? {};
            const binds = c.volumes ?? [];
            const hc = c.healthcheck?.test;
            services.push({
                container: c.container_name,
                node: labels[LABELS.node],
                role: labels[LABELS.role],
                service: labels[LABELS.service],
                image: c.image,
                command: [...(c.entrypoint ?? []), ...(c.command ?? [])],
                env: Object.assign({}, ...(c.env_file ?? []).map((f) => parseEnvFile(read(f)))) as Record<string, string>,
                files: binds.filter((b) => b.read_only).map((b) => ({ path: b.target, content: read(b.source), secret: b.source.startsWith(`${HOST_PATHS.secrets}/`) })),
                volumes: binds.filter((b) => !b.read_only).map((b) => b.target),
                healthCheck: hc?.[0] === "CMD" ? hc.slice(1) : undefined,
                sysctls: sysctls.get(c.container_name) ?? {},
            });
        }
    }
    return { spec, subnet: hostSegment(nodes, vips), nodes, services, tasks, vips, outputs };
}

/**
 * The stack's offline preview with real certificates and passwords. Image references in the
 * container inputs are image IDs of the mocked pulls; the image name is kept instead.
 */
export async function labDeployment(
    args: Pick<PreviewArgs, "stack" | "configFile" | "sets">,
    state: StateHook = realState,
    opts: { again?: boolean } = {},
): Promise<LabDeployment> {
    // `again`: a second preview in this process (the lab's run under tsx), which must load the program afresh.
    const { run, platform } = await preview(args, { state, ...(opts.again ? { importer: freshProgram } : {}) });
    const { spec, topology } = platform as { spec: PlatformSpec; topology: Topology };
    if (spec.target !== "docker" && spec.target !== "ssh") throw new Error(`the lab runs target docker and ssh stacks (this one is ${spec.target})`);
    const resources = run.resources.map((r) => {
        const inputs = unwrapSecrets(r.inputs) as Record<string, unknown>;
        if (r.type === CONTAINER && typeof inputs.image === "string") {
            const pulled = run.resources.find((i) => i.type === "docker:index/remoteImage:RemoteImage" && i.state.imageId === inputs.image);
            if (pulled) inputs.image = pulled.inputs.name as string;
        }
        return { ...r, inputs };
    });
    const outputs = Object.fromEntries(Object.entries(run.outputs).map(([k, o]) => [k, unwrapSecrets(o.value)]));
    const d = spec.target === "ssh" ? sshDeploymentFromResources(spec, resources, outputs, topology.vips) : deploymentFromResources(spec, resources, outputs, topology.vips);
    return { ...d, record: { resources, registrations: run.registrations } };
}

/**
 * The program loaded afresh, so a second preview in this process (an update drill's changed stack)
 * registers its resources again: the stack's own modules leave the require cache first.
 */
async function freshProgram(program: string): Promise<Record<string, unknown>> {
    const repo = resolve(__dirname, "..");
    for (const id of Object.keys(require.cache)) if (id.startsWith(repo) && !id.includes("node_modules") && !id.startsWith(`${repo}/scripts/`) && !id.startsWith(`${repo}/lab/`)) delete require.cache[id];
    return require(program);
}

/** A service's files as its container would see them, under `root` (secrets 0600, dirs 0700). */
export function writeServiceFiles(root: string, svc: LabService): void {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    for (const f of svc.files) {
        const target = join(root, f.path);
        mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
        writeFileSync(target, f.content, { mode: f.secret ? 0o600 : 0o644 });
        chmodSync(target, f.secret ? 0o600 : 0o644);
    }
    for (const v of svc.volumes) mkdirSync(join(root, v), { recursive: true, mode: 0o700 });
}
