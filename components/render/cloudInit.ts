// Cloud-init user data for one EC2 node, pure: a `#cloud-config` document that installs Docker,
// writes the node's Docker Compose file (the same ServiceSpecs the Docker target runs) and its
// non-secret files, mounts its EBS data volumes, fetches its secrets from SSM Parameter Store with
// the instance role, starts the services and runs the node's tasks.
//
// No secret is ever in user data: AWS shows it to anyone with ec2:DescribeInstanceAttribute and to
// every process on the instance. Secrets live in SecureString parameters; the boot script writes
// them to /run (tmpfs), so they never reach the disk.
import { gzipSync } from "node:zlib";
import { stringify } from "yaml";
import type { HealthCheckSpec } from "../service";

/** AWS rejects user data above 16 KiB (before base64). */
export const USER_DATA_LIMIT = 16 * 1024;

/** Where things live on the node. */
export const NODE_PATHS = {
    root: "/opt/gateway-ha",
    compose: "/opt/gateway-ha/compose.yaml",
    apply: "/opt/gateway-ha/apply.sh",
    secretsManifest: "/opt/gateway-ha/secrets.json",
    fetchSecrets: "/opt/gateway-ha/fetch-secrets.py",
    imageFactsManifest: "/opt/gateway-ha/image-facts.json",
    imageFacts: "/opt/gateway-ha/image-facts.py",
    /** Written at boot from the images' own starts (IMAGE_FACTS_PY): merged over compose.yaml. */
    composeImageStarts: "/run/gateway-ha/compose.image-starts.yaml",
    files: "/opt/gateway-ha/files",
    tasks: "/opt/gateway-ha/tasks",
    /** tmpfs: secrets never touch the disk. */
    run: "/run/gateway-ha",
    secrets: "/run/gateway-ha/secrets",
    env: "/run/gateway-ha/env",
    volumes: "/var/lib/gateway-ha/volumes",
    perBoot: "/var/lib/cloud/scripts/per-boot/gateway-ha.sh",
    /** This boot made a data volume's filesystem (tmpfs: this boot only): a new etcd member, whose cluster may still be forming. */
    freshVolume: "/run/gateway-ha/fresh",
    /** This boot's apply step has started the services. */
    servicesUp: "/run/gateway-ha/up",
} as const;

/** Compose project: container names are the services' names, which are unique across the platform. */
export const COMPOSE_PROJECT = "gateway-ha";

/** The owner of a secret file that the boot reads from the image (IMAGE_FACTS_PY). */
export const OWNER_FROM_IMAGE = "image";

/** A value held in a SecureString parameter. */
export interface SecretRef {
    parameter: string;
    /**
     * `uid:gid`, the image's user, or OWNER_FROM_IMAGE (read from the image at boot): the file is then
     * 0400 and its own (else 0644, in a root-only directory).
     */
    owner?: string;
}

export interface NodeService {
    /** Unique across the platform; also the container name. */
    name: string;
    image: string;
    /** Replaces the image's entrypoint; without `command`, the boot gives it the image's own start (IMAGE_FACTS_PY). */
    entrypoint?: string[];
    command?: string[];
    /** Environment variables, every one from a parameter. */
    env: { name: string; parameter: string }[];
    /** `systemRoots`: the host's CA bundle goes before `content` at boot (see SYSTEM_ROOTS_SUFFIX). */
    files: ({ path: string; content: string; systemRoots?: boolean } | ({ path: string } & SecretRef))[];
    /** Persistent data: an EBS volume each, mounted on the node and bound into the container. */
    volumes: { name: string; containerPath: string; volumeId: string }[];
    healthCheck?: HealthCheckSpec;
    labels: Record<string, string>;
}

export interface NodeTask {
    name: string;
    /** Container the task's `tool` runs in. */
    container: string;
    toolArgv: string[];
    /** Variables the script sets that `tool` forwards into the container. */
    toolEnv: string[];
    script: string;
    env: { name: string; parameter: string }[];
}

export interface NodeBoot {
    node: string;
    region: string;
    /** Cap per service container, as on the Docker target. */
    cpus: number;
    memoryGb: number;
    services: NodeService[];
    tasks: NodeTask[];
    /** A digest of the versions of the node's SSM parameters (no value): a rotated secret changes the user data. */
    secretsVersion?: string;
}

/** Task attempts, and seconds between them: the other members may boot minutes later. */
export const TASK_ATTEMPTS = 20;
export const TASK_RETRY_SECONDS = 15;
/** How long the boot waits for an EBS volume to appear (the attachment follows the instance). */
export const VOLUME_WAIT_SECONDS = 600;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const secs = (n: number) => `${n}s`;
const isSecret = (f: NodeService["files"][number]): f is { path: string } & SecretRef => "parameter" in f;

/** Nitro instances expose each EBS volume as NVMe with the volume ID (no dash) as its serial. */
export function ebsDevice(volumeId: string): string {
    return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;
}

export const volumeMountPoint = (name: string) => `${NODE_PATHS.volumes}/${name}`;
const plainFilePath = (svc: string, path: string) => `${NODE_PATHS.files}/${svc}${path}`;

/**
 * A plain file whose user-data name ends in this is written without it, after the host's CA
 * bundle (Ubuntu's /etc/ssl/certs/ca-certificates.crt): the public roots are too big for user data.
 */
export const SYSTEM_ROOTS_SUFFIX = ".with-system-roots";
export const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const secretFilePath = (svc: string, path: string) => `${NODE_PATHS.secrets}/${svc}${path}`;
const envFile = (owner: string) => `${NODE_PATHS.env}/${owner}.env`;
const taskFile = (task: string) => `${NODE_PATHS.tasks}/${task}.sh`;

/** What a Compose file needs to know of a service: which files are secret, whether it has env, its volumes. */
export interface ComposeService {
    name: string;
    image: string;
    /** Replaces the image's entrypoint (the secrets wrapper, before the image's start as the command). */
    entrypoint?: string[];
    command?: string[];
    files: { path: string; secret: boolean }[];
    hasEnv: boolean;
    volumes: { name: string; containerPath: string }[];
    healthCheck?: HealthCheckSpec;
    /** Added Linux capabilities (keepalived and LVS real servers need NET_ADMIN). */
    capabilities?: string[];
    labels: Record<string, string>;
}

/** Where a host keeps each service's plain files, secret files, env file and volume data. */
export interface HostLayout {
    plainFile(svc: string, path: string): string;
    secretFile(svc: string, path: string): string;
    envFile(svc: string): string;
    volumeData(volume: string): string;
    /** Relabel bind mounts for SELinux (`z`): hosts we did not build may enforce it. */
    selinuxRelabel: boolean;
}

/** EC2 nodes: secrets and env on tmpfs (fetched at every boot), data on the EBS volumes' mount points. */
export const AWS_LAYOUT: HostLayout = {
    plainFile: plainFilePath,
    secretFile: secretFilePath,
    envFile,
    volumeData: (name) => `${volumeMountPoint(name)}/data`,
    selinuxRelabel: false,
};

/** A Compose file: host networking as on a host, restart unless stopped, exec-form health checks. */
export function composeFile(services: ComposeService[], limits: { cpus: number; memoryGb: number }, layout: HostLayout): string {
    const bind = layout.selinuxRelabel ? { bind: { selinux: "z" } } : {};
    const doc = Object.fromEntries(
        services.map((s) => {
            const hc = s.healthCheck;
            return [
                s.name,
                {
                    image: s.image,
                    container_name: s.name,
                    ...(s.entrypoint ? { entrypoint: s.entrypoint } : {}),
                    ...(s.command ? { command: s.command } : {}),
                    network_mode: "host",
                    restart: "unless-stopped",
                    labels: s.labels,
                    ...(s.capabilities?.length ? { cap_add: s.capabilities } : {}),
                    ...(s.hasEnv ? { env_file: [layout.envFile(s.name)] } : {}),
                    volumes: [
                        ...s.files.map((f) => ({
                            type: "bind",
                            source: f.secret ? layout.secretFile(s.name, f.path) : layout.plainFile(s.name, f.path),
                            target: f.path,
                            read_only: true,
                            ...bind,
                        })),
                        ...s.volumes.map((v) => ({ type: "bind", source: layout.volumeData(v.name), target: v.containerPath, ...bind })),
                    ],
                    ...(hc
                        ? {
                              healthcheck: {
                                  test: ["CMD", ...hc.command],
                                  interval: secs(hc.intervalSeconds),
                                  timeout: secs(hc.timeoutSeconds),
                                  retries: hc.retries,
                                  start_period: secs(hc.startPeriodSeconds),
                              },
                          }
                        : {}),
                    cpus: limits.cpus,
                    mem_limit: `${Math.round(limits.memoryGb * 1024)}m`,
                },
            ];
        }),
    );
    return stringify({ name: COMPOSE_PROJECT, services: doc });
}

/** The node's Compose file, from the services cloud-init collected. */
export function renderCompose(boot: NodeBoot): string {
    const services = boot.services.map(
        (s): ComposeService => ({ ...s, files: s.files.map((f) => ({ path: f.path, secret: isSecret(f) })), hasEnv: s.env.length > 0 }),
    );
    return composeFile(services, boot, AWS_LAYOUT);
}

/** What the boot fetches: each parameter and where its value goes (a file, or a line of an env file). */
export function secretsManifest(boot: NodeBoot): ({ parameter: string; file: string; owner?: string } | { parameter: string; envFile: string; name: string })[] {
    return [
        ...boot.services.flatMap((s) => [
            // An owner read from the image: root's until the boot reads it (IMAGE_FACTS_PY), before anything starts.
            ...s.files.filter(isSecret).map((f) => ({ parameter: f.parameter, file: secretFilePath(s.name, f.path), ...(f.owner ? { owner: f.owner === OWNER_FROM_IMAGE ? "0:0" : f.owner } : {}) })),
            ...s.env.map((e) => ({ parameter: e.parameter, envFile: envFile(s.name), name: e.name })),
        ]),
        ...boot.tasks.flatMap((t) => t.env.map((e) => ({ parameter: e.parameter, envFile: envFile(t.name), name: e.name }))),
    ];
}

/**
 * Fetches the manifest's parameters (10 per call, the API's maximum) with the instance role and
 * writes them. Values are written byte for byte; env files use single quotes, which both Compose
 * and sh read literally. Retries: the role's policy is created right after the instance.
 */
export const FETCH_SECRETS_PY = `import json, os, subprocess, sys, time
region, manifest = sys.argv[1], json.load(open(sys.argv[2]))
names = sorted({m["parameter"] for m in manifest})
values = {}
for i in range(0, len(names), 10):
    for attempt in range(60):
        r = subprocess.run(["aws", "ssm", "get-parameters", "--region", region, "--with-decryption", "--output", "json", "--names", *names[i:i + 10]], capture_output=True, text=True)
        out = json.loads(r.stdout) if r.returncode == 0 else {}
        if r.returncode == 0 and not out.get("InvalidParameters"):
            values.update({p["Name"]: p["Value"] for p in out["Parameters"]})
            break
        print("gateway-ha: waiting for parameters:", r.stderr.strip() or out.get("InvalidParameters"), file=sys.stderr)
        time.sleep(10)
    else:
        sys.exit("gateway-ha: could not read parameters " + " ".join(names[i:i + 10]))
envs = {}
for m in manifest:
    v = values[m["parameter"]]
    if "file" in m:
        os.makedirs(os.path.dirname(m["file"]), exist_ok=True)
        with open(m["file"], "w") as f:
            f.write(v)
        if "owner" in m:  # the image's user alone
            os.chown(m["file"], *map(int, m["owner"].split(":")))
            os.chmod(m["file"], 0o400)
        else:  # an image whose user is not known; the directory keeps the host's others out
            os.chmod(m["file"], 0o644)
    else:
        if "'" in v or "\\n" in v:
            sys.exit("gateway-ha: " + m["parameter"] + " holds a quote or newline; an env value cannot")
        envs.setdefault(m["envFile"], []).append(m["name"] + "='" + v + "'\\n")
for path, lines in envs.items():
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.writelines(lines)
`;

/** What the boot reads from images (render/imageFacts.ts, here in the boot's Python): each service's start, its secret files' owner. */
export function imageFactsManifest(boot: NodeBoot): { service: string; image: string; start: boolean; files: string[] }[] {
    return boot.services.flatMap((s) => {
        const start = s.entrypoint !== undefined && s.command === undefined;
        const files = s.files.filter(isSecret).filter((f) => f.owner === OWNER_FROM_IMAGE).map((f) => secretFilePath(s.name, f.path));
        return start || files.length ? [{ service: s.name, image: s.image, start, files }] : [];
    });
}

/**
 * The image facts of render/imageFacts.ts, read at boot: each image's Entrypoint then Cmd becomes
 * its service's command in a Compose file merged over the node's, and its user (\`id\` in a
 * container of it, without network) the owner of the service's secret files.
 */
export const IMAGE_FACTS_PY = `import json, os, subprocess, sys
manifest, out = json.load(open(sys.argv[1])), sys.argv[2]
run = lambda *a: subprocess.run(["docker", *a], check=True, capture_output=True, text=True).stdout
services = {}
for m in manifest:
    image = m["image"]
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode:
        run("pull", "-q", image)
    config = json.loads(run("image", "inspect", image))[0]["Config"]
    if m["start"]:
        start = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
        if not start:
            sys.exit("gateway-ha: image " + image + " has neither an entrypoint nor a command")
        services[m["service"]] = {"command": start}
    if m["files"]:
        uid, gid = map(int, run("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", "id -u; id -g").split())
        for f in m["files"]:
            os.chown(f, uid, gid)
            os.chmod(f, 0o400)
with open(out, "w") as f:
    json.dump({"services": services}, f)
`;

/** The shell function a task's script calls: toolArgv inside the container, forwarding the named variables. */
export function toolFunction(task: Pick<NodeTask, "container" | "toolArgv" | "toolEnv">): string {
    const forward = task.toolEnv.map((e) => `-e ${e} `).join("");
    return `tool() { docker exec -i ${forward}${q(task.container)} ${task.toolArgv.map(q).join(" ")} "$@"; }`;
}

/** A task as a script: its env from the fetched env file, \`tool\` running toolArgv in its container. */
export function renderTaskScript(task: NodeTask): string {
    return ["#!/bin/sh", "set -eu", ...(task.env.length ? [`set -a; . ${envFile(task.name)}; set +a`] : []), toolFunction(task), task.script].join("\n");
}

/** The node's apply step, run on every boot: volumes, secrets, services, tasks. */
export function renderApplyScript(boot: NodeBoot): string {
    const volumes = boot.services.flatMap((s) => s.volumes);
    const hasSecrets = secretsManifest(boot).length > 0;
    const fromImages = imageFactsManifest(boot).length > 0;
    return [
        "#!/bin/sh",
        `# gateway-ha node ${boot.node}: mount data volumes, fetch secrets, start services, run tasks.`,
        // A rotated secret changes this line, so the node restarts (user data near AWS's limit: kept short).
        ...(boot.secretsVersion ? [`# secrets ${boot.secretsVersion}`] : []),
        "set -eu",
        "umask 077",
        "export PATH=$PATH:/snap/bin",
        `mkdir -p ${NODE_PATHS.run}`,
        ...(volumes.length
            ? [
                  // mkfs only when blkid finds no filesystem: a retained volume keeps its data.
                  "mount_volume() {",
                  `  dev=$1; mnt=$2; waited=0`,
                  `  until [ -b "$dev" ]; do`,
                  `    [ $waited -lt ${VOLUME_WAIT_SECONDS} ] || { echo "gateway-ha: $dev not attached after ${VOLUME_WAIT_SECONDS}s" >&2; exit 1; }`,
                  "    sleep 5; waited=$((waited + 5))",
                  "  done",
                  `  blkid "$dev" >/dev/null || { mkfs.ext4 -q "$dev"; : >${NODE_PATHS.freshVolume}; }`,
                  `  uuid=$(blkid -s UUID -o value "$dev")`,
                  `  mkdir -p "$mnt"`,
                  `  grep -q "^UUID=$uuid " /etc/fstab || echo "UUID=$uuid $mnt ext4 defaults,nofail 0 2" >> /etc/fstab`,
                  `  mountpoint -q "$mnt" || mount "$mnt"`,
                  `  mkdir -p "$mnt/data"`,
                  "}",
                  ...volumes.map((v) => `mount_volume ${ebsDevice(v.volumeId)} ${volumeMountPoint(v.name)}`),
              ]
            : []),
        ...(hasSecrets ? [`python3 ${NODE_PATHS.fetchSecrets} ${q(boot.region)} ${NODE_PATHS.secretsManifest}`] : []),
        ...(fromImages ? [`python3 ${NODE_PATHS.imageFacts} ${NODE_PATHS.imageFactsManifest} ${NODE_PATHS.composeImageStarts}`] : []),
        // Recreate: Docker restarted the containers at boot with the files of the previous user data.
        `docker compose -f ${NODE_PATHS.compose}${fromImages ? ` -f ${NODE_PATHS.composeImageStarts}` : ""} up -d --force-recreate --remove-orphans`,
        `: >${NODE_PATHS.servicesUp}`,
        ...boot.tasks.map(
            (t) =>
                `n=0; until sh ${taskFile(t.name)}; do n=$((n + 1)); [ $n -lt ${TASK_ATTEMPTS} ] || { echo "gateway-ha: task ${t.name} failed ${TASK_ATTEMPTS} times" >&2; exit 1; }; sleep ${TASK_RETRY_SECONDS}; done`,
        ),
        "",
    ].join("\n");
}

/**
 * Runs on every boot. cloud-init writes files once per instance, but the provider changes user
 * data in place (stop, modify, start), so this re-reads the current user data from IMDSv2,
 * rewrites its files and runs the apply step.
 */
export const PER_BOOT_SCRIPT = `#!/bin/sh
set -eu
umask 077
mkdir -p ${NODE_PATHS.run}
imds=http://169.254.169.254/latest
token=$(curl -sSf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' $imds/api/token)
curl -sSf -H "X-aws-ec2-metadata-token: $token" $imds/user-data > ${NODE_PATHS.run}/user-data
python3 - ${NODE_PATHS.run}/user-data <<'EOF'
import base64, gzip, os, sys, yaml
for f in yaml.safe_load(open(sys.argv[1]))["write_files"]:
    c = f["content"]
    data = gzip.decompress(base64.b64decode(c)) if f.get("encoding") == "gz+b64" else c.encode()
    path = f["path"]
    if path.endswith("${SYSTEM_ROOTS_SUFFIX}"):
        path = path[: -len("${SYSTEM_ROOTS_SUFFIX}")]
        data = open("${HOST_CA_BUNDLE}", "rb").read() + b"\\n" + data
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(data)
    os.chmod(path, int(f["permissions"], 8))
EOF
exec ${NODE_PATHS.apply}
`;

/** gzip, then base64, byte-identical on every machine (gzip's header names the OS: fixed to Unix). */
export function gzipBase64(text: string): string {
    const gz = gzipSync(Buffer.from(text, "utf8"), { level: 9 });
    gz[9] = 3;
    return gz.toString("base64");
}

/**
 * The node's complete `#cloud-config` user data. Task scripts go compressed (`gz+b64`): etcd's
 * bootstrap alone is over 6 KB of the 16 KiB; its text is the renderer's, the same the Docker
 * target runs. So do the secrets fetcher and the per-boot script, the same on every node of every
 * stack (no diff to review; about 0.8 KB saved, which a compact layout's first node needs).
 * Everything else stays plain for review.
 */
export function renderCloudConfig(boot: NodeBoot): string {
    const file = (path: string, content: string, permissions = "0644") => ({ path, content, permissions, owner: "root:root" });
    const compressed = (path: string, content: string, permissions: string) => ({ path, encoding: "gz+b64", content: gzipBase64(content), permissions, owner: "root:root" });
    const doc = {
        package_update: true,
        // Docker and the Compose plugin from Ubuntu's archive; the AWS CLI (for SSM) as Canonical's snap.
        packages: ["docker.io", "docker-compose-v2"],
        snap: { commands: ["snap install aws-cli --classic"] },
        write_files: [
            file(NODE_PATHS.compose, renderCompose(boot)),
            ...boot.services.flatMap((s) =>
                s.files.flatMap((f) => (isSecret(f) ? [] : [file(plainFilePath(s.name, f.path) + (f.systemRoots ? SYSTEM_ROOTS_SUFFIX : ""), f.content)])),
            ),
            ...(secretsManifest(boot).length
                ? [
                      file(NODE_PATHS.secretsManifest, `[\n${secretsManifest(boot).map((m) => JSON.stringify(m)).join(",\n")}\n]\n`, "0600"),
                      compressed(NODE_PATHS.fetchSecrets, FETCH_SECRETS_PY, "0700"),
                  ]
                : []),
            ...(imageFactsManifest(boot).length
                ? [file(NODE_PATHS.imageFactsManifest, `${JSON.stringify(imageFactsManifest(boot))}\n`, "0600"), compressed(NODE_PATHS.imageFacts, IMAGE_FACTS_PY, "0700")]
                : []),
            ...boot.tasks.map((t) => compressed(taskFile(t.name), renderTaskScript(t), "0700")),
            file(NODE_PATHS.apply, renderApplyScript(boot), "0700"),
            compressed(NODE_PATHS.perBoot, PER_BOOT_SCRIPT, "0700"),
        ],
    };
    return `#cloud-config\n${stringify(doc, { lineWidth: 0, indentSeq: false })}`;
}

/** Fails naming the node when its user data is over AWS's limit. */
export function checkUserDataSize(node: string, userData: string): string {
    const size = Buffer.byteLength(userData, "utf8");
    if (size > USER_DATA_LIMIT)
        throw new Error(`node ${node}: its user data is ${size} bytes, over AWS's limit of ${USER_DATA_LIMIT} (16 KiB); fewer services or smaller files on this node`);
    return userData;
}
