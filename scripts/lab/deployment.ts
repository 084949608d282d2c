// What a stack deploys, read from its offline preview run with real secrets: nodes and their
// addresses, every service (image, command, environment, rendered files, volumes, health check)
// and the post-deploy tasks. The lab runs exactly this; nothing is re-rendered here.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { PlatformSpec } from "../../components/spec/types";
import { LABELS } from "../../components/service";
import { unwrapSecrets, type RecordedResource } from "../lib/mockEngine";
import { preview, type PreviewArgs } from "../preview-offline";
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
}

export interface LabTask {
    name: string;
    script: string;
    env: Record<string, string>;
}

export interface LabDeployment {
    /** The validated stack configuration (for ports and timings; files come from the run). */
    spec: PlatformSpec;
    /** The nodes' network: the Docker network's subnet. */
    subnet: string;
    nodes: LabNode[];
    services: LabService[];
    tasks: LabTask[];
    outputs: Record<string, unknown>;
}

const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const LOCAL_COMMAND = "command:local:Command";

const labelsOf = (r: RecordedResource) => new Map(((r.inputs.labels as { label: string; value: string }[] | undefined) ?? []).map((l) => [l.label, l.value]));

function envMap(envs: unknown): Record<string, string> {
    return Object.fromEntries(((envs as string[] | undefined) ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

/** Turns a recorded program run (secrets unwrapped) into the lab's view of the deployment. */
export function deploymentFromResources(spec: PlatformSpec, resources: RecordedResource[], outputs: Record<string, unknown>): LabDeployment {
    const nodesOut = outputs.nodes as Record<string, { address: string; roles: string[] }>;
    const nodes = Object.entries(nodesOut).map(([name, n]) => ({ name, address: n.address, roles: n.roles }));
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
            command: (r.inputs.command as string[] | undefined) ?? [],
            env: envMap(r.inputs.envs),
            files: ((r.inputs.uploads as { file: string; content: string }[] | undefined) ?? []).map((u) => ({
                path: u.file,
                content: u.content,
                secret: secretFiles.has(u.file),
            })),
            volumes: ((r.inputs.volumes as { containerPath: string }[] | undefined) ?? []).map((v) => v.containerPath),
            healthCheck: hc?.[0] === "CMD" ? hc.slice(1) : undefined,
        });
    }
    const tasks = resources
        .filter((r) => r.type === LOCAL_COMMAND)
        .map((r) => ({ name: r.name, script: r.inputs.create as string, env: (r.inputs.environment as Record<string, string> | undefined) ?? {} }));
    return {
        spec,
        subnet,
        nodes,
        services,
        tasks,
        outputs,
    };
}

/**
 * The stack's offline preview with real certificates and passwords. Image references in the
 * container inputs are image IDs of the mocked pulls; the image name is kept instead.
 */
export async function labDeployment(args: Pick<PreviewArgs, "stack" | "configFile" | "sets">): Promise<LabDeployment> {
    const { run, platform } = await preview(args, { state: realState });
    if (platform.spec.target !== "docker") throw new Error(`the lab runs target docker stacks (this one is ${platform.spec.target})`);
    const resources = run.resources.map((r) => {
        const inputs = unwrapSecrets(r.inputs) as Record<string, unknown>;
        if (r.type === CONTAINER && typeof inputs.image === "string") {
            const pulled = run.resources.find((i) => i.type === "docker:index/remoteImage:RemoteImage" && i.state.imageId === inputs.image);
            if (pulled) inputs.image = pulled.inputs.name as string;
        }
        return { ...r, inputs };
    });
    const outputs = Object.fromEntries(Object.entries(run.outputs).map(([k, o]) => [k, unwrapSecrets(o.value)]));
    return deploymentFromResources(platform.spec, resources, outputs);
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
