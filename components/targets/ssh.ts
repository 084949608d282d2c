// SSH target: existing hosts (on-prem VMs), one per topology node, prepared and driven over SSH.
// Each host gets Docker and the Compose plugin, its directories and a firewall with exactly its
// ports from the port matrix; each service runs from a Compose file of its own with host
// networking, as in seed 001.
//
// Every step is a `command.remote.Command` (@pulumi/command) on its node's connection: the host key
// pinned from ssh.knownHosts (without one the provider would accept any key), and the configured
// key or else the deployer's SSH agent. A step sends its script on stdin to `sh -s` as root
// (through `sudo -n` for any other user), so a password travels inside a secret input and never
// on a command line.
//
// Rendered files go with `command.remote.CopyToRemote`, one per file: SFTP writes as the login
// user, so each lands in a staging directory of that user's (mode 0700), under a keyed digest of
// its content, and a files step installs the service's files from there as root, atomically. A
// secret file's copy has a secret source, so its content stays encrypted in the state; the install
// script names staged paths only and stays plain, so `pulumi preview` shows which files change.
//
// Per service: copies and a files step put its Compose file, rendered files and env file in place;
// a run step restarts it and waits for it to turn healthy. The run step's trigger is a keyed hash
// of all of that, so a change restarts exactly the services that read it. Run steps of one role
// form a dependsOn chain, so an update replaces one gateway, control-plane node or etcd member at a time.
import { createHash, createHmac } from "node:crypto";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { hostFirewall, hostFirewallRules, renderFirewallScript } from "../render/hostFirewall";
import {
    SSH_LAYOUT,
    WARNING_PREFIX,
    composePath,
    inlineCommand,
    renderEnvFile,
    renderHostBootstrap,
    renderHostSysctlRemoval,
    renderHostSysctls,
    renderHostPurge,
    renderRemoveScript,
    renderRunScript,
    renderServiceCompose,
    renderTaskOnHost,
    renderVerifyScript,
    renderInstallFiles,
    renderReloadOnHost,
    remoteScript,
    stdinCommand,
    verifyPlans,
    stagedPath,
} from "../render/ssh";
import { parseImageFacts, renderImageFactsScript, type ImageFacts } from "../render/imageFacts";
import { renderBalancerDrainScript, renderBalancerReturnScript } from "../render/rollout";
import type { ComposeService } from "../render/cloudInit";
import { knownHostsLine, renderSshToolPrelude, SSH_KEY_ENV, SSH_KNOWN_HOSTS_ENV } from "../render/sshStep";
import {
    dependsOnList,
    deployerStep,
    fileContent,
    FROM_IMAGE,
    serviceLabels,
    startsFromImage,
    withSecretEnvFiles,
    type DeployedService,
    type EntryPoints,
    type ImageUser,
    type ServiceSpec,
    type StepResult,
    type StepSpec,
    type Target,
    type TaskSpec,
} from "../service";
import type { Role } from "../config/schema";
import { pinnedHostKey } from "../config/knownHosts";
import type { PlatformSpec } from "../config/types";
import { controlPlaneUrl } from "../topology/ports";
import type { Topology, TopologyNode } from "../topology/types";
import { componentType, withPreviousToken } from "../tokens";
import { requirePlan } from "../blockArgs";
import { claimPhysical } from "../claims";
import type { PlatformPlan } from "../plan";

/** `docker stop`'s grace for a service that sets none (Docker's own default is 10 s; etcd sets 30). */
const DEFAULT_STOP_GRACE_SECONDS = 10;

export interface SshTargetArgs {
    /** The platform it deploys (planPlatform); its secret ssh.privateKey is the deployer's key, absent: the SSH agent. */
    plan: PlatformPlan;
}

/** One of a service's files on its host; content may be secret (a secret file's always is). */
interface HostFile {
    /** The name of the CopyToRemote that stages it. */
    copy: string;
    path: string;
    mode: "0644" | "0600" | "0400";
    /** The service's user's alone (ServiceSpec.user). */
    owned?: boolean;
    secret: boolean;
    content: pulumi.Output<string>;
    /** Its path inside the container, where the service's program reloads it (ServiceSpec.reload). */
    reloadedAt?: string;
}

/** A service as the target ran it: its run step and its restart trigger. */
interface RunningService {
    spec: ServiceSpec;
    run: command.remote.Command;
    /** Its steps putting it back in the balancers in front of it (haproxy). */
    returns: command.remote.Command[];
    trigger: pulumi.Output<string>;
}

type Connection = command.types.input.remote.ConnectionArgs;

/** How steps reach a node: its connection, and the user whose shell decides on sudo. */
interface HostAccess {
    connection: Connection;
    user: string;
    /** The pinned host key, `<type> <base64>`. */
    hostKey: string;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export class SshTarget extends pulumi.ComponentResource implements Target {
    readonly plan: PlatformPlan;
    /** Each node's preparation step (Docker, directories, firewall), by node name. */
    readonly hosts: Record<string, command.remote.Command>;
    /** Per node, what the node's files and tasks wait for, so a destroy deletes it (the purge) after them. */
    private readonly purges: Record<string, command.remote.Command> = {};
    /** The post-deploy verification, by node name, for the nodes with checks; created by complete(). */
    readonly verify: Record<string, command.remote.Command> = {};
    private readonly targetName: string;
    private readonly spec: PlatformSpec;
    private readonly topology: Topology;
    private readonly access: Record<string, HostAccess>;
    private readonly triggerKey: pulumi.Output<string>;
    private readonly hostDigests: string[] = [];
    private readonly services: RunningService[] = [];
    private readonly tasks: pulumi.CustomResource[] = [];
    private readonly privateKey?: pulumi.Output<string>;
    /** Reload steps, created once every replica they balance is known (complete). */
    private readonly pendingReloads: (() => command.remote.Command)[] = [];
    /** What the next replica of a role waits for: the previous one's run step, or its returns to the balancers. */
    private readonly lastOfRole = new Map<Role, command.remote.Command[]>();
    private completed = false;
    private readonly facts = new Map<string, pulumi.Output<ImageFacts>>();

    constructor(name: string, args: SshTargetArgs, opts?: pulumi.ComponentResourceOptions) {
        // Checked before super(): a refused target registers nothing.
        const plan = requirePlan("SshTarget", name, args, "ssh");
        const { spec, topology } = plan;
        if (spec.ssh.hasPrivateKey !== (plan.secrets.sshPrivateKey !== undefined)) throw new Error(`SshTarget ${name}: the plan says ssh.privateKey is configured but holds no key (or the other way round)`);
        claimPhysical(`SshTarget ${name}`, plan, "target", "args.plan.");
        super(componentType("SshTarget"), name, {}, withPreviousToken("gateway-ha:targets:SshTarget", opts));
        this.plan = plan;
        this.targetName = name;
        this.spec = spec;
        this.topology = topology;
        const privateKey = plan.secrets.sshPrivateKey !== undefined ? pulumi.secret(plan.secrets.sshPrivateKey) : undefined;
        this.privateKey = privateKey;
        this.access = Object.fromEntries(
            topology.nodes.map((node): [string, HostAccess] => {
                if (!node.ssh) throw new Error(`SshTarget ${name}: node ${node.name} has no sshUser`);
                const hostKey = pinnedHostKey(spec.ssh.knownHosts ?? [], node.address, node.ssh.port);
                if (!hostKey) throw new Error(`SshTarget ${name}: ssh.knownHosts pins no key for node ${node.name}`);
                const connection: Connection = {
                    host: node.address,
                    port: node.ssh.port,
                    user: node.ssh.user,
                    hostKey,
                    perDialTimeout: spec.ssh.connectTimeoutSeconds,
                    // Without a key the provider authenticates with the agent at SSH_AUTH_SOCK, its
                    // documented default for agentSocketPath.
                    ...(privateKey ? { privateKey } : {}),
                };
                return [node.name, { connection, user: node.ssh.user, hostKey }];
            }),
        );
        // Keyed, so a trigger over secret content reveals nothing and can stay plain for review in `pulumi preview`.
        this.triggerKey = new random.RandomPassword(`${name}-trigger-key`, { length: 32, special: false }, { parent: this }).result;

        if (!spec.hostFirewall) throw new Error(`SshTarget ${name}: the spec has no host firewall sources (ssh.firewall)`);
        const rules = hostFirewallRules(topology, spec.hostFirewall);
        // The host step is the first to reach a host, perhaps one still booting: the provider retries
        // the dial (every failure, a wrong host key too), each attempt up to connectTimeoutSeconds, so
        // a host that never answers is given about waitSeconds; one that refuses at once is retried
        // after the provider's backoff (up to 5 s). waitSeconds 0: one attempt. Later steps keep the
        // provider's 10 retries: their host has answered, and those ride over a dropped connection or
        // sshd's MaxStartups throttling while a host's steps dial in parallel.
        const dialErrorLimit = Math.ceil(spec.ssh.waitSeconds / spec.ssh.connectTimeoutSeconds);
        this.hosts = {};
        for (const node of topology.nodes) {
            const script = renderHostBootstrap({ node: node.name, user: node.ssh!.user, firewallScript: renderFirewallScript(hostFirewall(topology, node, rules)) });
            this.hostDigests.push(sha256(script));
            const connection = { ...this.access[node.name].connection, dialErrorLimit };
            const host = this.command(`${name}-${node.name}`, node, script, { connection });
            // Hosts print warnings (SELinux enforcing, a port open to everyone): show them in `pulumi up`.
            host.stdout.apply((out) => out.split("\n").filter((l) => l.startsWith(WARNING_PREFIX)).forEach((l) => pulumi.log.warn(l, host)));
            host.stderr.apply((err) => err.split("\n").filter((l) => l.startsWith(WARNING_PREFIX)).forEach((l) => pulumi.log.warn(l, host)));
            this.hosts[node.name] = host;
            // Always present, so turning purgeOnDestroy off updates it (no delete command) instead of deleting it (a purge).
            const purge = spec.ssh.purgeOnDestroy;
            this.purges[node.name] = this.command(
                `${name}-purge-${node.name}`,
                node,
                remoteScript(`echo "gateway-ha: ${node.name}: purge on destroy ${purge ? `on${spec.protectData ? ", data kept" : ", data included"}` : "off"}"`),
                purge ? { delete: inlineCommand(node.ssh!.user, renderHostPurge({ node: node.name, stack: spec.instance, keepData: spec.protectData })) } : {},
                { parent: this, dependsOn: [host] },
            );
        }
        this.registerOutputs({});
    }

    /** A remote command on `node` running `stdin` as root (`sh -s`). */
    private command(
        name: string,
        node: TopologyNode,
        stdin: pulumi.Input<string>,
        extra: { connection?: Connection; delete?: string; triggers?: pulumi.Input<unknown>[] },
        opts: pulumi.CustomResourceOptions = { parent: this },
    ): command.remote.Command {
        const access = this.access[node.name];
        return new command.remote.Command(
            name,
            {
                connection: extra.connection ?? access.connection,
                create: stdinCommand(access.user),
                stdin,
                ...(extra.delete ? { delete: extra.delete } : {}),
                ...(extra.triggers ? { triggers: extra.triggers } : {}),
                // The scripts read no previous output, and sshd refuses variables it does not
                // AcceptEnv, which the provider would warn about on every update.
                addPreviousOutputInEnv: false,
            },
            opts,
        );
    }

    /**
     * Where one file is staged: a keyed digest of its destination and content, so the name reveals
     * nothing of a secret, a change gives a new name (and a new copy), and the name identifies the version.
     */
    private stagedName(svc: ServiceSpec, f: HostFile): pulumi.Output<string> {
        const digest = pulumi.all([this.triggerKey, f.content]).apply(([key, c]) => createHmac("sha256", key).update(`${f.path}\0${c}`).digest("hex").slice(0, 20));
        return pulumi.unsecret(digest.apply((d) => stagedPath(svc.name, d)));
    }

    /** Copies one file to its staged name over SFTP: as the login user, hence staged, for root to install. */
    private stage(svc: ServiceSpec, f: HostFile, remotePath: pulumi.Output<string>, opts: pulumi.CustomResourceOptions): command.remote.CopyToRemote {
        const asset = f.content.apply((c) => new pulumi.asset.StringAsset(c));
        return new command.remote.CopyToRemote(`${this.spec.namePrefix}${f.copy}`, { connection: this.access[svc.node.name].connection, source: f.secret ? pulumi.secret(asset) : asset, remotePath }, opts);
    }

    private host(node: TopologyNode, what: string): command.remote.Command {
        if (this.completed) throw new Error(`SshTarget: ${what} after complete()`);
        const host = this.hosts[node.name];
        if (!host) throw new Error(`SshTarget: ${what} on unknown node ${node.name}`);
        return host;
    }

    /** `<node>-<image>-facts`: the image's start and user, read on the host (render/imageFacts.ts), once per image and host. */
    private imageFacts(ref: string, node: TopologyNode, host: command.remote.Command): pulumi.Output<ImageFacts> {
        const key = `${node.name}|${ref}`;
        let facts = this.facts.get(key);
        if (!facts) {
            const step = this.command(`${this.spec.namePrefix}${node.name}-${ref.replace(/[^a-zA-Z0-9]+/g, "-")}-facts`, node, renderImageFactsScript(ref), { triggers: [ref] }, { parent: this, dependsOn: [host] });
            facts = step.stdout.apply((out) => parseImageFacts(ref, out));
            this.facts.set(key, facts);
        }
        return facts;
    }

    deployService(declared: ServiceSpec, opts: pulumi.CustomResourceOptions): DeployedService {
        const svc = withSecretEnvFiles(declared);
        const host = this.host(svc.node, `deployService(${svc.name})`);
        const facts = svc.user === FROM_IMAGE || startsFromImage(svc) ? this.imageFacts(svc.image, svc.node, host) : undefined;
        const owner: pulumi.Output<ImageUser | undefined> = svc.user === FROM_IMAGE ? facts!.apply((f) => f.user) : pulumi.output(svc.user as ImageUser | undefined);
        const env = svc.env ?? {};
        const hasEnv = Object.keys(env).length > 0;
        const composeSpec: Omit<ComposeService, "command"> = {
            name: svc.name,
            image: svc.image,
            ...(svc.entrypoint ? { entrypoint: svc.entrypoint } : {}),
            files: svc.files.map((f) => ({ path: f.path, secret: f.secret === true })),
            hasEnv,
            volumes: svc.volumes ?? [],
            healthCheck: svc.healthCheck,
            capabilities: svc.capabilities,
            labels: serviceLabels(this.spec.instance, svc),
        };
        // A command a step decides (etcd's first-start flags) makes the Compose file wait for that step.
        const command = startsFromImage(svc) ? facts!.apply((f) => f.start) : pulumi.output(svc.command);
        const compose = command.apply((cmd) => renderServiceCompose({ ...composeSpec, command: cmd }, svc.node));
        // Every env value is treated as secret: components pass credentials there.
        const envValues = hasEnv ? pulumi.secret(pulumi.all(env)) : undefined;
        const hostFiles: HostFile[] = [
            { copy: `${svc.name}-copy-compose`, path: composePath(svc.name), mode: "0644", secret: false, content: compose },
            ...svc.files.map((f): HostFile => {
                const path = f.secret ? SSH_LAYOUT.secretFile(svc.name, f.path) : SSH_LAYOUT.plainFile(svc.name, f.path);
                const reloaded = svc.reload?.files.includes(f.path) === true;
                if (reloaded && f.secret) throw new Error(`SshTarget: ${svc.name} reloads ${f.path}, which is secret`);
                // Bind-mounted as they are: the image's user alone reads a secret, where the stack knows who that is.
                const own = f.secret && svc.user ? { mode: "0400" as const, owned: true } : { mode: "0644" as const };
                return {
                    copy: `${svc.name}-copy${f.path.replace(/[^A-Za-z0-9.]+/g, "-")}`,
                    path,
                    ...own,
                    secret: f.secret === true,
                    content: pulumi.output(fileContent(f)),
                    ...(reloaded ? { reloadedAt: f.path } : {}),
                };
            }),
            ...(envValues ? [{ copy: `${svc.name}-copy-env`, path: SSH_LAYOUT.envFile(svc.name), mode: "0600" as const, secret: true, content: envValues.apply((e) => renderEnvFile(svc.name, e)) }] : []),
        ];
        const parentOpts = { parent: opts.parent ?? this };
        const staged = pulumi.all(hostFiles.map((f) => this.stagedName(svc, f)));
        const copies = hostFiles.map((f, i) => this.stage(svc, f, staged.apply((names) => names[i]), { ...parentOpts, dependsOn: [host] }));
        const dirs = (svc.volumes ?? []).map((v) => SSH_LAYOUT.volumeData(v.name));
        const script = pulumi.all([staged, owner]).apply(([names, user]) =>
            renderInstallFiles(svc.name, hostFiles.map((f, i) => ({ staged: names[i], path: f.path, mode: f.mode, copy: f.copy, ...(f.owned && user ? { owner: user } : {}), ...(f.reloadedAt ? { reloaded: true } : {}) })), dirs, svc.image),
        );
        const files = this.command(`${this.spec.namePrefix}${svc.name}-files`, svc.node, script, {}, { ...parentOpts, dependsOn: [host, this.purges[svc.node.name], ...copies] });
        // The service shares the host's namespace: its kernel parameters are the host's.
        const sysctls =
            svc.sysctls && Object.keys(svc.sysctls).length
                ? [
                      this.command(`${this.spec.namePrefix}${svc.name}-sysctls`, svc.node, renderHostSysctls(svc.name, svc.sysctls), { delete: inlineCommand(this.access[svc.node.name].user, renderHostSysctlRemoval(svc.name)) }, {
                          ...parentOpts,
                          dependsOn: [host, this.purges[svc.node.name]],
                      }),
                  ]
                : [];

        // What the service reads (Compose file with image, command, health check and limits; files;
        // env), through the staged names, which are keyed digests of each file's path and content.
        // Not the files its program reloads: their reload step delivers them to the running service.
        // And an owner read from the image: a file installed anew for another user is a new file, which a running container does not see.
        const trigger = pulumi.all([staged, owner]).apply(([names, user]) => {
            const read = names.filter((_, i) => !hostFiles[i].reloadedAt);
            return sha256(JSON.stringify(svc.user === FROM_IMAGE ? [read, user] : read));
        });
        const previous = this.lastOfRole.get(svc.role);
        const run = this.command(
            `${this.spec.namePrefix}${svc.name}`,
            svc.node,
            trigger.apply((t) =>
                renderRunScript({
                    name: svc.name,
                    trigger: t,
                    volumes: (svc.volumes ?? []).map((v) => v.name),
                    healthCheck: svc.healthCheck,
                    waitHealthy: svc.waitHealthy ?? true,
                    timeoutSeconds: this.spec.ssh.healthTimeoutSeconds,
                    rotationSeconds: svc.rollout?.rotationSeconds,
                }),
            ),
            // The provider runs a delete with the create's stdin (the run script): it gets a command line of its own.
            {
                delete: inlineCommand(this.access[svc.node.name].user, renderRemoveScript(svc.name, { signal: svc.rollout?.stopSignal, graceSeconds: svc.rollout?.stopGraceSeconds ?? svc.stopGraceSeconds ?? DEFAULT_STOP_GRACE_SECONDS })),
                triggers: [trigger],
            },
            {
                ...opts,
                parent: opts.parent ?? this,
                // The previous member of the role is healthy (and back in its balancers) before this one restarts: one at a time.
                dependsOn: [files, ...sysctls, ...(previous ?? []), ...dependsOnList(opts.dependsOn)],
                // A replacement (new trigger) must stop the old container before starting the new one,
                // or the old step's delete would remove the container the new step just started.
                deleteBeforeReplace: true,
            },
        );
        const returns = this.balancerReturns(svc, run, parentOpts.parent);
        this.lastOfRole.set(svc.role, returns.length ? returns : [run]);
        this.services.push({ spec: svc, run, trigger, returns });
        const reload = svc.reload;
        if (reload)
            this.pendingReloads.push(() => {
                const reloaded = hostFiles.map((f, i) => ({ f, i })).filter(({ f }) => f.reloadedAt);
                const stdin = staged.apply((names) =>
                    renderReloadOnHost({
                        container: svc.name,
                        files: reloaded.map(({ f, i }) => ({ staged: names[i], path: f.path, containerPath: f.reloadedAt!, copy: f.copy })),
                        check: reload.check,
                        signal: reload.signal,
                    }),
                );
                // After the replicas it balances: one the change adds is healthy before it gets requests.
                const behind = this.services.filter((r) => r.spec.rollout?.balancers.some((b) => b.name === svc.name)).flatMap((r) => [r.run, ...r.returns]);
                return this.command(`${this.spec.namePrefix}${svc.name}-reload`, svc.node, stdin, { triggers: [run.id] }, { ...parentOpts, dependsOn: [files, run, ...behind] });
            });
        return { spec: svc, resource: run };
    }

    /**
     * A replica behind haproxy: one step per balancer node, on that node's host, after the replica's
     * run step. Its creation puts the replica back in that haproxy once healthy (state ready, then
     * UP by haproxy's own checks); its deletion drains it there first. The engine deletes it before
     * the run step it depends on (a delete-before-replace, a scale-down, a destroy), so a replica is
     * drained everywhere before it stops, and the next replica waits until this one is back.
     */
    private balancerReturns(svc: ServiceSpec, run: command.remote.Command, parent: pulumi.Resource): command.remote.Command[] {
        const rollout = svc.rollout;
        if (!rollout || rollout.balancerKind !== "haproxy") return [];
        return rollout.balancers.map((b) =>
            this.command(
                `${this.spec.namePrefix}${svc.name}-in-${b.name}`,
                b.node,
                remoteScript(renderBalancerReturnScript(rollout, svc.node.name, b.name)),
                { delete: inlineCommand(this.access[b.node.name].user, remoteScript(renderBalancerDrainScript(rollout, svc.node.name, b.name))), triggers: [run.id] },
                { parent, dependsOn: [run, this.host(b.node, `deployService(${svc.name})`)] },
            ),
        );
    }

    /** Runs on its service's host, after it; secrets in the task's env reach the host inside the (secret) script. */
    runTask(task: TaskSpec, opts: pulumi.CustomResourceOptions): command.remote.Command {
        const host = this.host(task.runIn.node, `runTask(${task.name})`);
        const script = pulumi
            .all(task.env)
            .apply((env) => renderTaskOnHost({ container: task.runIn.name, toolArgv: task.toolArgv, toolEnv: task.toolEnv, script: task.script, env }));
        const cmd = this.command(`${this.spec.namePrefix}${task.name}`, task.runIn.node, Object.keys(task.env).length ? pulumi.secret(script) : script, { triggers: task.triggers }, {
            ...opts,
            dependsOn: [host, this.purges[task.runIn.node.name], ...dependsOnList(opts.dependsOn)],
        });
        this.tasks.push(cmd);
        return cmd;
    }

    /**
     * A step on the deployer (render/sshStep.ts): its \`tool\` reaches the first of `runInAny`'s hosts
     * whose container is running, over ssh with the pinned host keys, so it works while any member
     * is down, and its delete gets its last stdout. A record (keepOutput) prints its first stdout on updates.
     */
    runStep(step: StepSpec, opts: pulumi.CustomResourceOptions): StepResult {
        for (const s of step.runInAny) this.host(s.node, `runStep(${step.name})`);
        const candidates = step.runInAny.map((s) => ({ node: s.node.name, address: s.node.address, port: s.node.ssh!.port, user: s.node.ssh!.user, container: s.name }));
        const prelude = renderSshToolPrelude({ candidates, toolArgv: step.toolArgv, toolEnv: step.toolEnv, connectTimeoutSeconds: this.spec.ssh.connectTimeoutSeconds });
        const knownHosts = [...new Set(step.runInAny.map((s) => knownHostsLine(s.node.address, s.node.ssh!.port, this.access[s.node.name].hostKey)))].join("\n");
        const cmd = deployerStep(`${this.spec.namePrefix}${step.name}`, step, (script) => `${prelude}${script}`, { ...step.env, [SSH_KNOWN_HOSTS_ENV]: knownHosts, ...(this.privateKey ? { [SSH_KEY_ENV]: this.privateKey } : {}) }, opts);
        this.tasks.push(cmd);
        return { resource: cmd, stdout: cmd.stdout };
    }

    /** The gateway balancer on the first balancer node's own address, as on remote Docker hosts. */
    entryPoints(): EntryPoints {
        const { spec, topology } = this;
        const lb = topology.byRole["load-balancer"][0];
        return {
            gatewayUrl: `http://${lb.address}:${spec.dataPlane.httpPort}`,
            gatewayHttpsUrl: `https://${lb.address}:${spec.dataPlane.httpsPort}`,
            controlPlaneUrl: controlPlaneUrl(spec, lb.address),
            gatewayBalancerHost: lb.address,
            controlPlaneBalancerHost: lb.address,
        };
    }

    /**
     * The post-deploy verification, one step per host with checks: after every service and task,
     * and again whenever any service, host or task changes (its triggers are theirs), so a broken
     * `pulumi up` fails.
     */
    complete(): void {
        if (this.completed) throw new Error("SshTarget: complete() called twice");
        for (const create of this.pendingReloads.splice(0)) this.tasks.push(create());
        this.completed = true;
        const { spec, topology } = this;
        const checks = this.services.flatMap((s) => (s.spec.healthCheck ? [{ node: s.spec.node.name, container: s.spec.name, command: s.spec.healthCheck.command }] : []));
        const triggers = [...this.hostDigests, ...this.services.flatMap((s) => [s.trigger, s.run.id]), ...this.tasks.map((t) => t.id)];
        const after = [...this.services.map((s) => s.run), ...this.tasks];
        for (const plan of verifyPlans(spec, topology, checks)) {
            const node = topology.nodes.find((n) => n.name === plan.node)!;
            this.verify[plan.node] = this.command(`${this.targetName}-verify-${plan.node}`, node, renderVerifyScript(plan), { triggers }, { parent: this, dependsOn: after });
        }
    }
}
