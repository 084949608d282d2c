// Docker target: each topology node is a "node container" (pause) holding the node's fixed
// address on one user-defined network; the node's services join its network namespace, so
// co-located services share ports exactly as on a host. Nodes with `sshUser` are remote
// Docker hosts: their services run with host networking, as in seed 001.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHmac } from "node:crypto";
import { parseImageFacts, renderImageFactsScript, type ImageFacts } from "../render/imageFacts";
import { renderRolloutDrainScript, renderRolloutReadyScript } from "../render/rollout";
import {
    LABELS,
    dependsOnList,
    deployerStep,
    fileContent,
    serviceLabels,
    FROM_IMAGE,
    startsFromImage,
    type DeployedService,
    type EntryPoints,
    type ImageUser,
    type ReloadSpec,
    type RolloutSpec,
    type ServiceSpec,
    type StepResult,
    type StepSpec,
    type Target,
    type TaskSpec,
    withSecretEnvFiles,
} from "../service";
import { inlineCommand, q, renderDockerHostRemoval, renderDockerHostStep, renderHostSysctlRemoval, renderHostSysctls, stdinCommand } from "../render/ssh";
import { hostFirewall, hostFirewallRules, renderFirewallScript } from "../render/hostFirewall";
import type { PlatformSpec } from "../config/types";
import { controlPlanePorts, controlPlaneUrl } from "../topology/ports";
import type { Topology, TopologyNode } from "../topology/types";
import { componentType, withPreviousToken } from "../tokens";
import { requirePlan } from "../blockArgs";
import { claimPhysical } from "../claims";
import type { PlatformPlan } from "../plan";

/** Holds a node's network namespace; the same image Kubernetes uses for pods. */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10";


export interface DockerTargetArgs {
    /** The platform it deploys (planPlatform). */
    plan: PlatformPlan;
}

/** Host ports the first balancer node publishes: gateway HTTP/HTTPS and the control plane's first port. */
export function publishedPorts(spec: PlatformSpec, topology: Topology): Map<string, { internal: number; external: number }[]> {
    const lb = topology.byRole["load-balancer"][0];
    // kind keepalived has no balancer node: clients reach the VIPs on the Docker network.
    if (!lb) return new Map();
    const p = spec.docker.publishedPorts;
    return new Map([
        [
            lb.name,
            [
                { internal: spec.dataPlane.httpPort, external: p.http },
                { internal: spec.dataPlane.httpsPort, external: p.https },
                // The control plane's, where the plan runs one (planPlatform's roles).
                ...(topology.byRole["control-plane"].length ? [{ internal: controlPlanePorts(spec)[0].port, external: p.controlPlane }] : []),
            ],
        ],
    ]);
}

export function sshHost(node: TopologyNode): string | undefined {
    return node.ssh ? `ssh://${node.ssh.user}@${node.address}:${node.ssh.port}` : undefined;
}

/**
 * A command line on the deployer that runs `remote` on a remote Docker host as root, through the
 * deployer's own ssh: the login, host keys and agent Docker's ssh transport uses. Never for secrets
 * on the command line: a script goes on stdin (`stdinCommand`).
 */
export function onDockerHost(node: TopologyNode, remote: string): string {
    if (!node.ssh) throw new Error(`onDockerHost: node ${node.name} is not a remote Docker host`);
    return `ssh -o BatchMode=yes -p ${node.ssh.port} ${q(`${node.ssh.user}@${node.address}`)} ${q(remote)}`;
}

function seconds(s: number): string {
    return `${s}s`;
}

/** Marks a rollout step (render/rollout.ts) by the container it rolls. */
export const ROLLOUT_CONTAINER_ENV = "GATEWAY_HA_ROLLOUT_CONTAINER";

/** The variable that carries file `i` of a reload step to its script. */
export const reloadFileVar = (i: number) => `GATEWAY_HA_RELOAD_FILE_${i}`;

/**
 * The reload step's script, run where `pulumi up` runs with the docker CLI: for each file whose
 * content differs from the container's (read back with `docker cp`, so the image needs no tools),
 * copy the candidate beside it, have the program check it, and only then put it in place; after
 * the last, signal PID 1. Nothing changed (the container was just created with these files): no
 * signal. A refused file stops `pulumi up` with the program's message; the old config keeps serving.
 */
export function renderReloadScript(container: string, reload: ReloadSpec): string {
    const c = q(container);
    const lines = ["set -eu", 'tmp=$(mktemp -d)', "trap 'rm -rf \"$tmp\"' EXIT", "changed=0"];
    reload.files.forEach((path, i) => {
        const next = `${path}.next`;
        lines.push(
            `printf '%s' "$${reloadFileVar(i)}" > "$tmp/${i}"`,
            // Readable by an image's non-root user (haproxy's); docker cp makes root the owner.
            `chmod 0644 "$tmp/${i}"`,
            `docker cp ${c}:${q(path)} - | tar -xOf - > "$tmp/${i}.current" 2>/dev/null || : > "$tmp/${i}.current"`,
            `if ! cmp -s "$tmp/${i}" "$tmp/${i}.current"; then`,
            `    docker cp "$tmp/${i}" ${c}:${q(next)}`,
            `    docker exec ${c} ${reload.check(next).map(q).join(" ")} || { echo "${container}: the program refused the new ${path}; the running config is unchanged" >&2; exit 1; }`,
            `    docker cp "$tmp/${i}" ${c}:${q(path)}`,
            "    changed=1",
            "fi",
        );
    });
    lines.push(`[ "$changed" = 0 ] || docker kill --signal ${reload.signal} ${c} >/dev/null`);
    return `${lines.join("\n")}\n`;
}

export class DockerTarget extends pulumi.ComponentResource implements Target {
    readonly network?: docker.Network;
    readonly plan: PlatformPlan;
    private readonly spec: PlatformSpec;
    private readonly topology: Topology;
    private readonly providers = new Map<string, docker.Provider>();
    private readonly anchors = new Map<string, docker.Container>();
    private readonly images = new Map<string, docker.RemoteImage>();
    private readonly facts = new Map<string, pulumi.Output<ImageFacts>>();
    /** The last rollout step of each role's service: the next replica waits for it. */
    private readonly lastRollout = new Map<string, command.local.Command>();
    /** Every rollout step, with the balancers in front of its replica. */
    private readonly rollouts: { step: command.local.Command; balancers: string[] }[] = [];
    /** Balancer reload steps, created once every replica they balance is known (complete). */
    private readonly pendingReloads: (() => void)[] = [];
    /** Keys the files digest, so that a label never carries a plain hash of a private key. */
    private readonly digestKey: pulumi.Output<string>;
    /** Each remote Docker host's step (its firewall), by node name: its services start after it. */
    readonly hostSteps = new Map<string, command.local.Command>();

    constructor(name: string, args: DockerTargetArgs, opts?: pulumi.ComponentResourceOptions) {
        // Checked before super(): a refused target registers nothing.
        const plan = requirePlan("DockerTarget", name, args, "docker");
        claimPhysical(`DockerTarget ${name}`, plan, "target", "args.plan.");
        super(componentType("DockerTarget"), name, {}, withPreviousToken("gateway-ha:targets:DockerTarget", opts));
        const { spec, topology } = plan;
        this.plan = plan;
        this.spec = spec;
        this.topology = topology;
        const child = { parent: this };
        this.digestKey = new random.RandomPassword(`${name}-files-digest-key`, { length: 32, special: false }, child).result;

        for (const node of topology.nodes) {
            const host = sshHost(node);
            if (host)
                this.providers.set(node.name, new docker.Provider(`${name}-${node.name}`, { host, sshOpts: ["-o", "BatchMode=yes"] }, child));
        }
        // Remote hosts run every service on host networking: each gets target ssh's firewall from the port matrix.
        const remote = topology.nodes.filter((n) => n.ssh);
        if (remote.length) {
            if (!spec.hostFirewall) throw new Error(`DockerTarget ${name}: remote Docker hosts need the spec's host firewall sources (docker.firewall)`);
            const rules = hostFirewallRules(topology, spec.hostFirewall);
            for (const node of remote) {
                const create = onDockerHost(node, stdinCommand(node.ssh!.user));
                this.hostSteps.set(
                    node.name,
                    new command.local.Command(
                        `${name}-${node.name}-host`,
                        {
                            create,
                            update: create,
                            stdin: renderDockerHostStep({ node: node.name, firewallScript: renderFirewallScript(hostFirewall(topology, node, rules)) }),
                            delete: onDockerHost(node, inlineCommand(node.ssh!.user, renderDockerHostRemoval())),
                        },
                        child,
                    ),
                );
            }
        }

        const local = topology.nodes.filter((n) => !n.ssh);
        if (local.length > 0) {
            this.network = new docker.Network(
                `${name}-network`,
                {
                    name: spec.docker.networkName,
                    driver: "bridge",
                    ipamConfigs: [{ subnet: spec.docker.subnet }],
                    labels: [{ label: LABELS.stack, value: spec.instance }],
                },
                child,
            );
            const published = publishedPorts(spec, topology);
            for (const node of local) {
                const anchor = new docker.Container(
                    `${name}-${node.name}`,
                    {
                        name: this.containerName(node.name),
                        image: this.image(PAUSE_IMAGE, node).imageId,
                        hostname: node.name,
                        networksAdvanced: [{ name: this.network.name, ipv4Address: node.address, aliases: [node.name] }],
                        ports: (published.get(node.name) ?? []).map((p) => ({ ...p, ip: spec.docker.publishAddress, protocol: "tcp" })),
                        restart: "unless-stopped",
                        // The namespace is the node's: let non-root images (haproxy, apisix) bind 80 and 443 in it.
                        sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" },
                        labels: [
                            { label: LABELS.stack, value: spec.instance },
                            { label: LABELS.node, value: node.name },
                        ],
                    },
                    child,
                );
                this.anchors.set(node.name, anchor);
            }
        }
        this.registerOutputs({});
    }

    /** Published host ports for a local balancer node; a remote one is reached on its own address. */
    entryPoints(): EntryPoints {
        const { spec, topology } = this;
        const lb = topology.byRole["load-balancer"][0];
        const cpPort = controlPlanePorts(spec)[0].port;
        const runsControlPlane = topology.byRole["control-plane"].length > 0;
        if (!lb.ssh) {
            const host = spec.docker.publishAddress;
            const ports = new Map((publishedPorts(spec, topology).get(lb.name) ?? []).map((p) => [p.internal, p.external]));
            return {
                gatewayUrl: `http://${host}:${ports.get(spec.dataPlane.httpPort)}`,
                gatewayHttpsUrl: `https://${host}:${ports.get(spec.dataPlane.httpsPort)}`,
                controlPlaneUrl: runsControlPlane ? controlPlaneUrl(spec, host, ports.get(cpPort)) : "",
                gatewayBalancerHost: host,
                controlPlaneBalancerHost: host,
            };
        }
        return {
            gatewayUrl: `http://${lb.address}:${spec.dataPlane.httpPort}`,
            gatewayHttpsUrl: `https://${lb.address}:${spec.dataPlane.httpsPort}`,
            controlPlaneUrl: runsControlPlane ? controlPlaneUrl(spec, lb.address, cpPort) : "",
            gatewayBalancerHost: lb.address,
            controlPlaneBalancerHost: lb.address,
        };
    }

    /**
     * Containers are complete when created. A balancer's reload step waits for the rollout steps of
     * every replica behind it: a replica the change adds is healthy and ready before the balancer
     * sends it requests (nginx has no active check to hold it back).
     */
    complete(): void {
        for (const create of this.pendingReloads.splice(0)) create();
    }

    private containerName(service: string): string {
        return `${this.spec.instance}-${service}`;
    }

    private providerOpts(node: TopologyNode): pulumi.CustomResourceOptions {
        const provider = this.providers.get(node.name);
        return provider ? { provider } : {};
    }

    /** One pulled image per image reference and Docker host. */
    private image(ref: string, node: TopologyNode): docker.RemoteImage {
        const host = node.ssh ? node.name : "local";
        const key = `${host}|${ref}`;
        let img = this.images.get(key);
        if (!img) {
            const safe = ref.replace(/[^a-zA-Z0-9]+/g, "-");
            img = new docker.RemoteImage(`${this.spec.namePrefix}${host}-${safe}`, { name: ref, keepLocally: true }, { parent: this, ...this.providerOpts(node) });
            this.images.set(key, img);
        }
        return img;
    }

    /**
     * `<host>-<image>-facts`: the image's start and user, read where it was pulled (render/imageFacts.ts),
     * once per image and Docker host; read again when the tag points at another image.
     */
    private imageFacts(ref: string, node: TopologyNode): pulumi.Output<ImageFacts> {
        const host = node.ssh ? node.name : "local";
        const key = `${host}|${ref}`;
        let facts = this.facts.get(key);
        if (!facts) {
            const image = this.image(ref, node);
            const script = renderImageFactsScript(ref);
            const dockerHost = sshHost(node);
            const step = new command.local.Command(
                `${this.spec.namePrefix}${host}-${ref.replace(/[^a-zA-Z0-9]+/g, "-")}-facts`,
                { create: script, interpreter: ["/bin/sh", "-c"], ...(dockerHost ? { environment: { DOCKER_HOST: dockerHost } } : {}), triggers: [image.imageId] },
                { parent: this, dependsOn: [image] },
            );
            facts = step.stdout.apply((out) => parseImageFacts(ref, out));
            this.facts.set(key, facts);
        }
        return facts;
    }

    deployService(declared: ServiceSpec, opts: pulumi.CustomResourceOptions): DeployedService {
        const svc = withSecretEnvFiles(declared);
        const { node } = svc;
        const facts = svc.user === FROM_IMAGE || startsFromImage(svc) ? this.imageFacts(svc.image, node) : undefined;
        const owner: pulumi.Input<ImageUser> | undefined = svc.user === FROM_IMAGE ? facts!.apply((f) => f.user) : svc.user;
        const anchor = this.anchors.get(node.name);
        const hostStep = this.hostSteps.get(node.name);
        const onHost = hostStep ? [hostStep, ...this.hostSysctls(svc, hostStep)] : [];
        const resOpts = { ...opts, ...this.providerOpts(node), dependsOn: [...dependsOnList(opts.dependsOn), ...onHost] };
        const volumes = (svc.volumes ?? []).map((v) => {
            const volume = new docker.Volume(
                `${this.spec.namePrefix}${v.name}`,
                { name: this.containerName(v.name), labels: [{ label: LABELS.stack, value: this.spec.instance }] },
                // Deleting the stack must not silently destroy etcd's data: a destroy fails until
                // protectData is off, and then deletes it (a kept volume would meet new passwords).
                { ...resOpts, protect: this.spec.protectData },
            );
            return { volumeName: volume.name, containerPath: v.containerPath };
        });
        const chain = `${svc.role}/${svc.service}`;
        const previous = svc.rollout ? this.lastRollout.get(chain) : undefined;
        const hc = svc.healthCheck;
        const secretFiles = svc.files.filter((f) => f.secret).map((f) => f.path);
        // A reloadable service keeps its container when its uploads change (the reload step delivers the
        // file its program reloads); any other file of it (a renewed certificate) must replace it.
        const unreloaded = svc.reload ? svc.files.filter((f) => !svc.reload!.files.includes(f.path)) : [];
        const filesDigest = unreloaded.length
            ? pulumi.unsecret(
                  pulumi.all([this.digestKey, ...unreloaded.map(fileContent)]).apply(([key, ...contents]) => {
                      const h = createHmac("sha256", key);
                      unreloaded.forEach((f, i) => h.update(`${f.path}\0${contents[i]}\0`));
                      return h.digest("hex").slice(0, 20);
                  }),
              )
            : undefined;
        const container = new docker.Container(
            `${this.spec.namePrefix}${svc.name}`,
            {
                name: this.containerName(svc.name),
                image: this.image(svc.image, node).imageId,
                ...(svc.entrypoint ? { entrypoints: svc.entrypoint } : {}),
                command: startsFromImage(svc) ? facts!.apply((f) => f.start) : svc.command,
                envs: svc.env ? Object.entries(svc.env).map(([k, v]) => pulumi.interpolate`${k}=${v}`) : undefined,
                uploads: svc.files.map((f) => ({
                    file: f.path,
                    content: f.secret ? pulumi.secret(fileContent(f)) : fileContent(f),
                    // The image's own user alone reads a secret, where the stack knows who that is.
                    ...(f.secret && owner
                        ? { permissions: "0400", owner: pulumi.output(owner).apply((u) => String(u.uid)), group: pulumi.output(owner).apply((u) => String(u.gid)) }
                        : {}),
                })),
                volumes,
                networkMode: anchor ? pulumi.interpolate`container:${anchor.id}` : "host",
                restart: "unless-stopped",
                ...(svc.capabilities?.length ? { capabilities: { adds: svc.capabilities } } : {}),
                // A remote host's services share its namespace, whose parameters its host step sets.
                ...(anchor && svc.sysctls && Object.keys(svc.sysctls).length ? { sysctls: svc.sysctls } : {}),
                memory: node.memoryGb * 1024,
                cpus: String(node.cpus),
                healthcheck: hc && {
                    tests: ["CMD", ...hc.command],
                    interval: seconds(hc.intervalSeconds),
                    timeout: seconds(hc.timeoutSeconds),
                    retries: hc.retries,
                    startPeriod: seconds(hc.startPeriodSeconds),
                },
                // With a health check, `pulumi up` waits for it and fails if the service never turns healthy
                // (unless its steps gate it: an etcd member).
                wait: hc !== undefined && (svc.waitHealthy ?? true),
                waitTimeout: 180,
                ...(svc.stopGraceSeconds ? { destroyGraceSeconds: svc.stopGraceSeconds } : {}),
                labels: [
                    ...Object.entries(serviceLabels(this.spec.instance, svc)).map(([label, value]) => ({ label, value })),
                    ...(secretFiles.length ? [{ label: LABELS.secretFiles, value: secretFiles.join(",") }] : []),
                    ...(filesDigest ? [{ label: LABELS.filesDigest, value: filesDigest }] : []),
                ],
            },
            {
                ...resOpts,
                // Names and addresses are fixed: the old container must go before its replacement starts.
                deleteBeforeReplace: true,
                // One replica of a role at a time: this one stops only once the previous is back in rotation.
                dependsOn: [...dependsOnList(resOpts.dependsOn), ...(previous ? [previous] : [])],
                // A reloadable file's change reaches the running container through its reload step.
                ...(svc.reload ? { ignoreChanges: ["uploads"] } : {}),
            },
        );
        if (svc.rollout) {
            const step = this.rolloutStep(svc, svc.rollout, container, resOpts);
            this.lastRollout.set(chain, step);
            this.rollouts.push({ step, balancers: svc.rollout.balancers.map((b) => b.name) });
        }
        const reload = svc.reload;
        if (reload)
            this.pendingReloads.push(() => {
                const behind = this.rollouts.filter((r) => r.balancers.includes(svc.name)).map((r) => r.step);
                this.reloadStep(svc, reload, container, { ...resOpts, dependsOn: [...dependsOnList(resOpts.dependsOn), ...behind] });
            });
        return { spec: svc, resource: container };
    }

    /**
     * `<service>-sysctls`: a service on a remote host shares the host's namespace, so its kernel
     * parameters are the host's, written by a step over ssh (a local node's container sets them).
     */
    private hostSysctls(svc: ServiceSpec, hostStep: command.local.Command): command.local.Command[] {
        if (!svc.sysctls || Object.keys(svc.sysctls).length === 0) return [];
        const create = onDockerHost(svc.node, stdinCommand(svc.node.ssh!.user));
        return [
            new command.local.Command(
                `${this.spec.namePrefix}${svc.name}-sysctls`,
                { create, update: create, stdin: renderHostSysctls(svc.name, svc.sysctls), delete: onDockerHost(svc.node, inlineCommand(svc.node.ssh!.user, renderHostSysctlRemoval(svc.name))) },
                { parent: this, dependsOn: [hostStep] },
            ),
        ];
    }

    /**
     * `<service>-rollout`, replaced with its container (its trigger is the container's ID): deleted
     * first, it drains the replica and stops it gracefully; created after the new container, it waits
     * until the replica is healthy and back in rotation (render/rollout.ts).
     */
    private rolloutStep(svc: ServiceSpec, rollout: RolloutSpec, container: docker.Container, opts: pulumi.CustomResourceOptions): command.local.Command {
        const at = (s: { name: string; node: TopologyNode }) => ({ dockerHost: sshHost(s.node), container: this.containerName(s.name) });
        const self = at(svc);
        const balancers = rollout.balancers.map(at);
        const ready = renderRolloutReadyScript(rollout, self, svc.node.name, balancers);
        return new command.local.Command(
            `${this.spec.namePrefix}${svc.name}-rollout`,
            {
                create: ready,
                update: ready,
                delete: renderRolloutDrainScript(rollout, self, svc.node.name, balancers),
                interpreter: ["/bin/sh", "-c"],
                environment: { [ROLLOUT_CONTAINER_ENV]: self.container },
                triggers: [container.id],
            },
            { ...opts, dependsOn: [container] },
        );
    }

    /** `<service>-reload`: runs whenever a reloadable file or the container changes (see renderReloadScript). */
    private reloadStep(svc: ServiceSpec, reload: ReloadSpec, container: docker.Container, opts: pulumi.CustomResourceOptions): command.local.Command {
        const files = reload.files.map((path) => {
            const f = svc.files.find((x) => x.path === path);
            if (!f || f.secret) throw new Error(`DockerTarget: ${svc.name} reloads ${path}, which is not one of its non-secret files`);
            return fileContent(f);
        });
        const script = renderReloadScript(this.containerName(svc.name), reload);
        const host = sshHost(svc.node);
        return new command.local.Command(
            `${this.spec.namePrefix}${svc.name}-reload`,
            {
                create: script,
                update: script,
                interpreter: ["/bin/sh", "-c"],
                environment: { ...Object.fromEntries(files.map((c, i) => [reloadFileVar(i), c])), ...(host ? { DOCKER_HOST: host } : {}) },
                triggers: [container.id, ...files],
            },
            { ...opts, dependsOn: [...dependsOnList(opts.dependsOn), container] },
        );
    }

    /**
     * A step on the deployer whose \`tool\` runs in the first of `runInAny`'s containers that is running,
     * so it works while any member is down. A record (keepOutput) prints its first stdout on updates.
     */
    runStep(step: StepSpec, opts: pulumi.CustomResourceOptions): StepResult {
        const forward = step.toolEnv.map((e) => `-e ${e}`).join(" ");
        const quoted = step.toolArgv.map(q).join(" ");
        // host|container per candidate: members may sit on different remote Docker hosts.
        const candidates = step.runInAny.map((s) => q(`${sshHost(s.node) ?? ""}|${this.containerName(s.name)}`)).join(" ");
        const prelude = `set -eu
tool() {
    for c in ${candidates}; do
        h=\${c%%|*}
        c=\${c#*|}
        if [ "$(env \${h:+DOCKER_HOST=$h} docker container inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ]; then
            env \${h:+DOCKER_HOST=$h} docker exec -i ${forward} "$c" ${quoted} "$@"
            return
        fi
    done
    echo "gateway-ha: none of ${step.runInAny.map((s) => this.containerName(s.name)).join(", ")} is running" >&2
    return 3
}
`;
        const cmd = deployerStep(`${this.spec.namePrefix}${step.name}`, step, (script) => `${prelude}${script}`, step.env, opts);
        return { resource: cmd, stdout: cmd.stdout };
    }

    runTask(task: TaskSpec, opts: pulumi.CustomResourceOptions): command.local.Command {
        const container = this.containerName(task.runIn.name);
        const forward = task.toolEnv.map((e) => `-e ${e}`).join(" ");
        const quoted = task.toolArgv.map(q).join(" ");
        const script = `set -eu\ntool() { docker exec -i ${forward} ${container} ${quoted} "$@"; }\n${task.script}`;
        const host = sshHost(task.runIn.node);
        return new command.local.Command(
            `${this.spec.namePrefix}${task.name}`,
            {
                create: script,
                update: script,
                interpreter: ["/bin/sh", "-c"],
                environment: { ...task.env, ...(host ? { DOCKER_HOST: host } : {}) },
                triggers: task.triggers,
            },
            opts,
        );
    }
}
