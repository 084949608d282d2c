// Target-neutral description of what runs on a node. Components build these;
// a target adapter (components/targets/*) turns them into resources.
import { rootCertificates } from "node:tls";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { parseIpv4 } from "./config/net";
import type { Role } from "./config/schema";
import type { TopologyNode } from "./topology/types";
import type { PlatformPlan } from "./plan";

/** Labels every target puts on a service's container: `docker ps --filter label=gateway-ha.role=data-plane` works on any host. */
export const LABELS = {
    stack: "gateway-ha.stack",
    node: "gateway-ha.node",
    role: "gateway-ha.role",
    service: "gateway-ha.service",
    /** Comma-separated paths of uploaded files that hold secrets (for offline review tools). */
    secretFiles: "gateway-ha.secret-files",
    /** `running`: a health gate waits for the service to run only, as its steps establish its health (ServiceSpec.waitHealthy). */
    wait: "gateway-ha.wait",
    /**
     * A keyed digest of the files a reloadable service's program does not reload (its certificates):
     * their change replaces the container, whose uploads are otherwise left as they are.
     */
    filesDigest: "gateway-ha.files-digest",
} as const;

/** A service's identifying labels (stack, node, role, service). */
export function serviceLabels(stack: string, svc: Pick<ServiceSpec, "node" | "role" | "service">): Record<string, string> {
    return { [LABELS.stack]: stack, [LABELS.node]: svc.node.name, [LABELS.role]: svc.role, [LABELS.service]: svc.service };
}

/** A record step's update: it prints what its creation printed, so the record survives later updates. */
export const PRINT_RECORD = `printf '%s\\n' "$PULUMI_COMMAND_STDOUT"`;

/** A rendered configuration file a service receives. */
export interface FileSpec {
    /** Absolute path inside the service's filesystem. */
    path: string;
    content: pulumi.Input<string>;
    /** Holds key material or credentials: the target keeps it a Pulumi secret. */
    secret?: boolean;
    /**
     * `content` is extra CA certificates: the file the service reads is the system's public roots
     * followed by them (systemRootsBundle). For programs whose one CA file replaces the system
     * bundle (APISIX's ssl_trusted_certificate).
     */
    systemRoots?: boolean;
}

/**
 * The public roots the deployer's Node.js trusts (Mozilla's CA store, built into Node) followed by
 * `extra`. The docker and ssh targets ship this; AWS nodes build it at boot from the host's own
 * bundle instead, as user data is limited to 16 KiB (about 220 KB of roots would not fit).
 */
export function systemRootsBundle(extra: string): string {
    return `${rootCertificates.join("\n")}\n${extra}`;
}

/** A file's content as the service reads it (system roots prepended where asked). */
export function fileContent(f: FileSpec): pulumi.Input<string> {
    return f.systemRoots ? pulumi.output(f.content).apply(systemRootsBundle) : f.content;
}

/** Numeric, as a container's files are owned: the image's names mean nothing on the host. */
export interface ImageUser {
    uid: number;
    gid: number;
}

/**
 * The user a service's program runs as: an image's USER the stack knows from its Dockerfile, or
 * FROM_IMAGE, which the target reads from the image where it runs (render/imageFacts.ts).
 */
export type ServiceUser = ImageUser | typeof FROM_IMAGE;

/** A fact (the image's start, its user) the target reads from the pulled image itself: for images whose Dockerfile is not public. */
export const FROM_IMAGE = "from-image";

/** Where a service's secret environment variables are, one file each, named after the variable. */
export const SECRET_ENV_DIR = "/run/gateway-ha/env";

/** The wrapper's `$0`, which also marks a command as one (secretEnvWrapperOf). */
export const SECRET_ENV_WRAPPER = "gateway-ha-env";

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** The wrapper: each variable read from its file (a missing or unreadable one stops the start), then the image's start. */
export function renderSecretEnvWrapper(names: string[]): string {
    for (const n of names) if (!ENV_NAME.test(n)) throw new Error(`renderSecretEnvWrapper: ${n} is not an environment variable name`);
    return [
        "# gateway-ha: secrets as files, exported for a program that reads only its environment.",
        "set -e",
        ...names.flatMap((n) => [`${n}=$(cat ${SECRET_ENV_DIR}/${n})`, `export ${n}`]),
        'exec "$@"',
    ].join("\n");
}

/**
 * A service with its `secretEnv` as secret files and its start wrapped: `sh -c WRAPPER` before
 * the image's start. A known start is the command, the image's entrypoint staying (an entrypoint
 * runs a command it does not know as given: apache/apisix's `exec "$@"`). A start FROM_IMAGE makes
 * the wrapper the entrypoint, and the target gives it the image's own Entrypoint and Cmd as the
 * command. Every target deploys what this returns.
 */
export function withSecretEnvFiles(svc: ServiceSpec): ServiceSpec {
    const secretEnv = svc.secretEnv;
    if (!secretEnv) return svc;
    if (!svc.user) throw new Error(`${svc.name}: secretEnv needs the image's user, who alone may read the files`);
    if (svc.command || svc.entrypoint) throw new Error(`${svc.name}: secretEnv runs the image's start (secretEnv.start), not a command of its own`);
    const names = Object.keys(secretEnv.values).sort();
    const clash = names.find((n) => svc.env && n in svc.env);
    if (clash) throw new Error(`${svc.name}: ${clash} is in both env and secretEnv`);
    const { secretEnv: _, ...rest } = svc;
    const wrapper = ["/bin/sh", "-c", renderSecretEnvWrapper(names), SECRET_ENV_WRAPPER];
    return {
        ...rest,
        files: [...svc.files, ...names.map((n) => ({ path: `${SECRET_ENV_DIR}/${n}`, content: pulumi.secret(secretEnv.values[n]), secret: true }))],
        ...(secretEnv.start === FROM_IMAGE ? { entrypoint: wrapper } : { command: [...wrapper, ...secretEnv.start] }),
    };
}

/** Whether a target must read the image's start where it runs: an entrypoint of the stack's own before it, no command. */
export const startsFromImage = (svc: ServiceSpec): boolean => svc.entrypoint !== undefined && svc.command === undefined;

/** A wrapped start's parts, from the container's entrypoint and command (for the lab, which runs the wrapper before its stand-in). */
export function secretEnvWrapperOf(command: string[]): { script: string; start: string[] } | undefined {
    return command[0] === "/bin/sh" && command[1] === "-c" && command[3] === SECRET_ENV_WRAPPER ? { script: command[2], start: command.slice(4) } : undefined;
}

export interface HealthCheckSpec {
    /** Exec-form command run inside the service (images may have no shell). */
    command: string[];
    intervalSeconds: number;
    timeoutSeconds: number;
    retries: number;
    startPeriodSeconds: number;
}

export interface ServiceSpec {
    /** Unique across the platform: `${node}-${service}`. */
    name: string;
    node: TopologyNode;
    role: Role;
    /** e.g. `etcd`, `gateway`, `dashboard`, `dp-manager`, `apisix-cp`, `gateway-lb`, `control-plane-lb`. */
    service: string;
    image: string;
    /** Known at plan time, except where a step decides it (etcd's first-start flags). */
    command?: string[] | pulumi.Output<string[]>;
    /**
     * Whether `pulumi up` waits for the health check when the service is created (default true): false
     * for an etcd member, whose steps establish its health (a founder alone is never healthy, a learner
     * not until promoted). Not a replacing input of a Docker container: changing it updates in place.
     */
    waitHealthy?: boolean;
    /** Plain environment variables; a secret goes in `secretEnv`. */
    env?: Record<string, pulumi.Input<string>>;
    /**
     * Secrets the program reads only from its environment (APISIX's `${{VAR}}`). They never enter
     * the container's configuration (`docker inspect`, Compose and env files, /proc/1/environ):
     * each reaches the service as a secret file, and its command becomes a wrapper that exports
     * them and execs `start`, the image's own start (withSecretEnvFiles). Needs `user`.
     */
    secretEnv?: { values: Record<string, pulumi.Input<string>>; start: string[] | typeof FROM_IMAGE };
    /**
     * The user the image runs its program as (its Dockerfile's USER, or FROM_IMAGE: read from the
     * image where it runs): the service's secret files are then mode 0400 and owned by it. Without,
     * they are 0644 in the container (in a root-only directory on the host): readable by whatever runs in it.
     */
    user?: ServiceUser;
    /**
     * Replaces the image's entrypoint (only withSecretEnvFiles sets it: the secrets wrapper). Without
     * a `command`, the command is then the image's own start, its Entrypoint and Cmd, which the
     * target reads from the image where it runs (startsFromImage).
     */
    entrypoint?: string[];
    files: FileSpec[];
    /** Persistent named volumes: survive container replacement. */
    volumes?: { name: string; containerPath: string }[];
    healthCheck?: HealthCheckSpec;
    /**
     * Seconds its removal waits after SIGTERM before it is killed (an etcd member hands its leadership
     * over on SIGTERM). Docker's provider otherwise removes a container by force; Compose waits 10 s.
     */
    stopGraceSeconds?: number;
    /** Linux capabilities added to the defaults, e.g. NET_ADMIN for keepalived. */
    capabilities?: string[];
    /**
     * Kernel parameters of the node's network namespace the service needs (an LVS real server's ARP
     * behaviour). A target sets them where the service has a namespace of its own (docker's node
     * containers), else its host step writes them to the host (ssh, remote Docker hosts): no
     * service runs privileged to write /proc/sys.
     */
    sysctls?: Record<string, string>;
    /**
     * The running program re-reads these files on a signal to its PID 1 (a balancer): a target
     * that can (docker) delivers a change to them in place, checks it and signals, instead of
     * replacing the service and resetting its connections.
     */
    reload?: ReloadSpec;
    /**
     * A replica of a role behind balancers: a target that can (docker) replaces the role's replicas
     * one at a time, each drained before it stops and back in rotation before the next (render/rollout.ts).
     */
    rollout?: RolloutSpec;
}

export interface RolloutSpec {
    /** The balancers in front of the replica, by service name and node (none: keepalived/IPVS, or no balancer). */
    balancers: { name: string; node: TopologyNode }[];
    /** haproxy: drained and put back through its runtime API. passive: nothing to set, `rotationSeconds` waited. */
    balancerKind: "haproxy" | "passive";
    /** The haproxy backends that list the replica (its server is named after its node). */
    backends: string[];
    /** After the replica is healthy, until a passive balancer sends it traffic again. */
    rotationSeconds: number;
    /** The program's graceful stop signal (APISIX: QUIT, nginx's graceful shutdown). */
    stopSignal: string;
    /** At most this long for its sessions to end once drained. */
    drainSeconds: number;
    /** `docker stop` kills it after this: above the program's own shutdown timeout. */
    stopGraceSeconds: number;
    /** Healthy, then marked up by each balancer, within this each, or `pulumi up` fails. */
    readyTimeoutSeconds: number;
}

export interface ReloadSpec {
    /** Paths of `files` (none secret) that the signal makes the program read again. */
    files: string[];
    /** Exec-form check of a candidate file inside the service (`haproxy -c -f`, `nginx -t -c`); non-zero refuses it. */
    check(candidatePath: string): string[];
    /** What PID 1 reloads on, without dropping established connections. */
    signal: "HUP" | "USR2";
}

/** Probe for APISIX-based images, which ship curl; any HTTP answer counts unless `failOnError`. */
export function httpHealthCheck(port: number, path: string, failOnError = false): HealthCheckSpec {
    return {
        command: ["curl", failOnError ? "-fsS" : "-sS", "-o", "/dev/null", "--max-time", "2", `http://127.0.0.1:${port}${path}`],
        intervalSeconds: 5,
        timeoutSeconds: 3,
        retries: 5,
        startPeriodSeconds: 15,
    };
}

/**
 * An HTTPS check of a service on this node: its certificate verified against `caPath` under `name`,
 * reached on loopback (`--resolve`), so the check fails as clients would on a wrong certificate.
 */
export function httpsHealthCheck(port: number, path: string, name: string, caPath: string): HealthCheckSpec {
    const check = httpHealthCheck(port, path);
    const url = check.command.length - 1;
    // --resolve applies to names only; an address the certificate names is redirected with --connect-to.
    const local = parseIpv4(name) !== undefined ? ["--connect-to", `${name}:${port}:127.0.0.1:${port}`] : ["--resolve", `${name}:${port}:127.0.0.1`];
    return {
        ...check,
        command: [...check.command.slice(0, url), "--cacert", caPath, ...local, `https://${name}:${port}${path}`],
    };
}

/**
 * A one-shot script run after services are up, e.g. etcd's auth bootstrap and the
 * post-deploy cluster health check. The script calls `tool`, a shell function the
 * target defines to run `toolArgv` inside service `runIn`; it fails the deployment
 * by exiting non-zero.
 */
export interface TaskSpec {
    name: string;
    runIn: ServiceSpec;
    toolArgv: string[];
    script: string;
    /** The script's environment (secrets go here, never on a command line). */
    env: Record<string, pulumi.Input<string>>;
    /** Names of variables the script sets that `tool` forwards into the service, e.g. ETCDCTL_USER. */
    toolEnv: string[];
    /** Changes to any of these re-run the task. */
    triggers: pulumi.Input<unknown>[];
}

/**
 * A step run where `pulumi up` runs, with \`tool\` reaching the first running service of
 * `runInAny` (any healthy member, not a fixed one). Its stdout is an output other resources use.
 */
export interface StepSpec {
    name: string;
    runInAny: ServiceSpec[];
    toolArgv: string[];
    toolEnv: string[];
    script: string;
    env: Record<string, pulumi.Input<string>>;
    /**
     * Names in `env` whose values are secrets. A target whose step runs elsewhere than the deployer
     * (aws: on an instance, through SSM) keeps them apart from the command; the others must be plain.
     */
    secretEnv?: string[];
    /** A change to any of these runs the step anew (a replacement). */
    triggers: pulumi.Input<unknown>[];
    /** Runs when the step is deleted, before what it depends on goes; PULUMI_COMMAND_STDOUT holds its last stdout. */
    deleteScript?: string;
    /**
     * A record: the first run's stdout is kept through every later update (changed env or script)
     * and only a replacement runs the script again.
     */
    keepOutput?: boolean;
}

export interface StepResult {
    resource: pulumi.CustomResource;
    stdout: pulumi.Output<string>;
}

/**
 * A step as a command on the deployer: `wrap` makes the target's script of the step's script and of
 * its delete script (its \`tool\` before it, or a run elsewhere); the target adds what it reads to the environment.
 */
export function deployerStep(
    name: string,
    step: StepSpec,
    wrap: (script: string) => pulumi.Input<string>,
    env: pulumi.Input<Record<string, pulumi.Input<string>>>,
    opts: pulumi.CustomResourceOptions,
): command.local.Command {
    const create = wrap(step.script);
    return new command.local.Command(
        name,
        {
            create,
            update: step.keepOutput ? PRINT_RECORD : create,
            ...(step.deleteScript ? { delete: wrap(step.deleteScript) } : {}),
            interpreter: ["/bin/sh", "-c"],
            environment: env,
            triggers: step.triggers,
        },
        opts,
    );
}

export interface DeployedService {
    spec: ServiceSpec;
    resource: pulumi.CustomResource;
}

/** A resource option's dependsOn as a list. */
export function dependsOnList(d: pulumi.CustomResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] {
    if (d === undefined) return [];
    return Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];
}

/** Where clients and operators reach the balancers; each target knows how it exposes them. */
export interface EntryPoints {
    gatewayUrl: pulumi.Input<string>;
    gatewayHttpsUrl: pulumi.Input<string>;
    /** Empty where the plan runs no control plane (planPlatform's roles). */
    controlPlaneUrl: pulumi.Input<string>;
    /** Host names of the two balancers: the NLBs' DNS names on aws, the published host or node address on docker. */
    gatewayBalancerHost: pulumi.Input<string>;
    controlPlaneBalancerHost: pulumi.Input<string>;
}

/** Node roles whose processes may be granted cloud permissions (the fallback buckets). */
export type WorkloadRole = "control-plane" | "data-plane";

export interface Target {
    /** The platform the target deploys: every block on it deploys its part of this plan. */
    readonly plan: PlatformPlan;
    deployService(svc: ServiceSpec, opts: pulumi.CustomResourceOptions): DeployedService;
    runTask(task: TaskSpec, opts: pulumi.CustomResourceOptions): pulumi.CustomResource;
    /** A step run when `pulumi up` reaches it, whose \`tool\` reaches any running member (etcd membership). */
    runStep(step: StepSpec, opts: pulumi.CustomResourceOptions): StepResult;
    /**
     * How long a node may take from its creation to its services running, where that is longer than
     * a container's start (aws: boot, Docker, image pulls): a step that waits for another member
     * (the first deployment's gate waits for the quorum the next member's start makes) waits at least this long.
     */
    readonly nodeStartSeconds?: number;
    entryPoints(): EntryPoints;
    /**
     * The IAM roles of the nodes that carry a workload role, when the target gives nodes one (aws
     * instance profiles, one per node). Permissions are granted to them instead of creating access keys.
     */
    workloadRoles?(role: WorkloadRole): { node: string; role: pulumi.Output<string> }[];
    /** Called once, after every component has handed over its services and tasks. */
    complete(): void;
}
