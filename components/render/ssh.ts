// Scripts for target ssh, pure. Each step is a remote command (@pulumi/command) that runs `sh -s`
// as root on its host, directly or through passwordless sudo, with the step's script on stdin.
// Hosts run each service with Docker Compose and host networking, as in seed 001, from a Compose
// file of its own built by the same renderer the AWS target uses.
import { composeFile, toolFunction, type ComposeService, type HostLayout } from "./cloudInit";
import { LABELS, type HealthCheckSpec, type ImageUser } from "../service";
import { FIREWALLD_STATE, FIREWALL_CHAIN } from "./hostFirewall";
import { cidrContains, parseCidr, parseIpv4 } from "../config/net";
import type { PlatformSpec } from "../config/types";
import type { Topology, TopologyNode } from "../topology/types";

/** Where things live on a host. Secrets persist (mode 0700 directories): nothing re-fetches them at boot. */
export const HOST_PATHS = {
    root: "/opt/gateway-ha",
    services: "/opt/gateway-ha/services",
    files: "/opt/gateway-ha/files",
    secrets: "/opt/gateway-ha/secrets",
    env: "/opt/gateway-ha/env",
    firewall: "/opt/gateway-ha/firewall.sh",
    firewallUnit: "/etc/systemd/system/gateway-ha-firewall.service",
    volumes: "/var/lib/gateway-ha/volumes",
    /** Where CopyToRemote puts rendered files: SFTP writes as the login user, so root installs them from here. */
    staging: "/var/lib/gateway-ha/staging",
} as const;

export const SSH_LAYOUT: HostLayout = {
    plainFile: (svc, path) => `${HOST_PATHS.files}/${svc}${path}`,
    secretFile: (svc, path) => `${HOST_PATHS.secrets}/${svc}${path}`,
    envFile: (svc) => `${HOST_PATHS.env}/${svc}.env`,
    volumeData: (volume) => `${HOST_PATHS.volumes}/${volume}/data`,
    selinuxRelabel: true,
};

export const composePath = (svc: string) => `${HOST_PATHS.services}/${svc}/compose.yaml`;

/** A staged copy of one of a service's files, named by a digest of its destination and content. */
export const stagedPath = (svc: string, digest: string) => `${HOST_PATHS.staging}/${svc}.${digest}`;

/** Seed 001: Docker 20.10.7 or later (older releases fail on CentOS 7.2's kernel and below). */
export const MIN_DOCKER_VERSION = "20.10.7";

/** Lines hosts print for the operator; the target turns them into Pulumi warnings. */
export const WARNING_PREFIX = "gateway-ha: WARNING:";

export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Root's shell on a host: its own for root, else through passwordless sudo (`-n`: fail, never prompt). */
const rootShell = (user: string) => (user === "root" ? "sh" : "sudo -n sh");

/** A step's command: the script arrives on stdin, so no secret is ever on a command line. */
export const stdinCommand = (user: string) => `${rootShell(user)} -s`;

/**
 * A self-contained command line, for a delete: the provider runs it with the create's stdin, so it
 * must not read the script from there. Never for anything secret.
 */
export const inlineCommand = (user: string, script: string) => `${rootShell(user)} -c ${q(script)}`;

/**
 * Wraps a script for `sh -s`: the shell reads the whole function before running any of it, and
 * runs it with stdin from /dev/null, so no command in it can swallow the rest of the script.
 */
export function remoteScript(body: string): string {
    return `gateway_ha_main() {\n${body}\n}\ngateway_ha_main </dev/null\n`;
}

/** Installs Docker and the Compose plugin from Docker's repository when absent (RHEL/CentOS 7.6+, Debian, Ubuntu). */
export const INSTALL_DOCKER = `gateway_ha_install_docker() {
  . /etc/os-release
  case " \${ID} \${ID_LIKE:-} " in
    *" rhel "*|*" centos "*|*" fedora "*)
      command -v yum-config-manager >/dev/null 2>&1 || yum install -y yum-utils
      yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo
      yum install -y docker-ce docker-ce-cli containerd.io docker-compose-plugin curl ;;
    *" debian "*|*" ubuntu "*)
      case " \${ID} \${ID_LIKE:-} " in *" ubuntu "*) distro=ubuntu; codename=\${UBUNTU_CODENAME:-\$VERSION_CODENAME} ;; *) distro=debian; codename=\$VERSION_CODENAME ;; esac
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q ca-certificates curl
      install -m 0755 -d /etc/apt/keyrings
      curl -fsSL "https://download.docker.com/linux/\$distro/gpg" -o /etc/apt/keyrings/docker.asc
      echo "deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/\$distro \$codename stable" > /etc/apt/sources.list.d/docker.list
      apt-get update -q
      apt-get install -y -q docker-ce docker-ce-cli containerd.io docker-compose-plugin ;;
    *) echo "gateway-ha: cannot install Docker on \${PRETTY_NAME:-this OS}: install Docker ${MIN_DOCKER_VERSION}+ and its Compose plugin" >&2; exit 1 ;;
  esac
  systemctl enable --now docker
}`;

export interface HostBootstrap {
    node: string;
    /** The login user, who owns the staging directory that CopyToRemote writes to over SFTP. */
    user: string;
    firewallScript: string;
}

/**
 * A host's preparation, idempotent: Docker and Compose (installed when absent, version checked),
 * curl, the directories, the firewall (now and at every boot), and a warning when SELinux enforces.
 */
export function renderHostBootstrap(h: HostBootstrap): string {
    return remoteScript(
        [
            "set -eu",
            `# gateway-ha host ${h.node}: Docker, directories, firewall.`,
            INSTALL_DOCKER,
            "if ! command -v docker >/dev/null 2>&1 || ! docker compose version >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then gateway_ha_install_docker; fi",
            "systemctl is-active -q docker || systemctl start docker",
            "v=$(docker version --format '{{.Server.Version}}')",
            `if [ "$(printf '%s\\n' ${MIN_DOCKER_VERSION} "$v" | sort -V | head -n1)" != ${MIN_DOCKER_VERSION} ]; then echo "gateway-ha: ${h.node} runs Docker $v; the platform needs ${MIN_DOCKER_VERSION} or later (seed 001)" >&2; exit 1; fi`,
            `install -d -m 0755 ${HOST_PATHS.root} ${HOST_PATHS.services} ${HOST_PATHS.files} ${HOST_PATHS.volumes}`,
            `install -d -m 0700 ${HOST_PATHS.secrets} ${HOST_PATHS.env}`,
            // Staged secrets are readable by the login user alone, who can sudo anyway.
            `mkdir -p ${HOST_PATHS.staging} && chown ${q(h.user)} ${HOST_PATHS.staging} && chmod 0700 ${HOST_PATHS.staging}`,
            ...firewallInstallLines(h.firewallScript),
            `if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" = Enforcing ]; then echo "${WARNING_PREFIX} SELinux is enforcing on ${h.node}: the services' bind mounts are relabelled (:z); if one cannot read its files, see ausearch -m avc -ts recent"; fi`,
        ].join("\n"),
    );
}

/**
 * A remote Docker host's step (target docker, nodes with sshUser): target ssh's host firewall, now
 * and at every boot. Docker and the host are the operator's; the services reach it through Docker's API.
 */
export function renderDockerHostStep(h: { node: string; firewallScript: string }): string {
    return remoteScript(["set -eu", `# gateway-ha remote Docker host ${h.node}: firewall.`, `install -d -m 0755 ${HOST_PATHS.root}`, ...firewallInstallLines(h.firewallScript)].join("\n"));
}

/** What a remote Docker host's step undoes when it is deleted (the node leaves, or a destroy): the firewall. For `sh -c`. */
export function renderDockerHostRemoval(): string {
    return ["set -u", ...firewallRemovalLines(), `rm -rf ${FIREWALLD_STATE.replace(/\/[^/]+$/, "")}`, `rm -f ${HOST_PATHS.firewall}`, `rmdir ${HOST_PATHS.root} 2>/dev/null || true`].join("\n");
}

/** The firewall script installed, run now and by a boot unit before Docker starts. */
function firewallInstallLines(firewallScript: string): string[] {
    const unit = [
        "[Unit]",
        "Description=gateway-ha host firewall (port matrix)",
        "After=network-pre.target firewalld.service",
        "Before=docker.service",
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=/bin/sh ${HOST_PATHS.firewall}`,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ].join("\n");
    return [
        `cat > ${HOST_PATHS.firewall} <<'GATEWAY_HA_FIREWALL'`,
        firewallScript.replace(/\n$/, ""),
        "GATEWAY_HA_FIREWALL",
        `chmod 0700 ${HOST_PATHS.firewall}`,
        `cat > ${HOST_PATHS.firewallUnit} <<'GATEWAY_HA_UNIT'`,
        unit,
        "GATEWAY_HA_UNIT",
        "systemctl daemon-reload",
        "systemctl enable -q gateway-ha-firewall.service",
        `sh ${HOST_PATHS.firewall}`,
    ];
}

/** A file a service reads, as CopyToRemote staged it, and where root installs it. */
export interface StagedFile {
    staged: string;
    path: string;
    mode: "0644" | "0600" | "0400";
    /** Its owner, the image's user (a secret the service alone reads); root without. */
    owner?: ImageUser;
    /** The copy that staged it, named when the staged file has gone missing. */
    copy: string;
    /**
     * A file the running program reloads (a balancer's config): installed here only when absent;
     * later versions reach it through the service's reload step (renderReloadOnHost), checked first.
     */
    reloaded?: boolean;
}

/**
 * Installs a service's staged files, each atomically (a running container keeps the old one until
 * it restarts) and owned by root, creates its data directories, and removes the service's older
 * staged versions. Staged names change with content, so a staged file is this deployment's own.
 */
export function renderInstallFiles(svc: string, files: StagedFile[], dirs: string[], image?: string): string {
    return remoteScript(
        [
            "set -eu",
            "umask 022",
            ...(dirs.length ? [`mkdir -p ${dirs.map(q).join(" ")}`] : []),
            "gateway_ha_install() {",
            `  [ -f "$1" ] || { echo "gateway-ha: $1 is missing; run pulumi up --replace on its copy, $4" >&2; exit 1; }`,
            '  mkdir -p "$(dirname "$2")"',
            '  install -m "$3" -o "${5:-0}" -g "${6:-0}" "$1" "$2.new"',
            '  mv -f "$2.new" "$2"',
            "}",
            ...files.map((f) => `${f.reloaded ? `[ -e ${q(f.path)} ] || ` : ""}gateway_ha_install ${q(f.staged)} ${q(f.path)} ${f.mode} ${q(f.copy)}${f.owner ? ` ${f.owner.uid} ${f.owner.gid}` : ""}`),
            `for f in ${HOST_PATHS.staging}/${q(svc)}.*; do`,
            `  case "$f" in ${files.map((f) => q(f.staged)).join("|")}) ;; *) rm -f "$f" ;; esac`,
            "done",
            // Here, before the run step's replacement removes the running container: a registry
            // that cannot serve the new image fails `pulumi up` while the old one still serves.
            // Only when absent, as Compose's default pull policy (hosts with preloaded images).
            ...(image
                ? [`docker image inspect ${q(image)} >/dev/null 2>&1 || docker pull --quiet ${q(image)} >/dev/null || { echo "gateway-ha: pulling ${image} failed; ${svc} keeps running its current container" >&2; exit 1; }`]
                : []),
        ].join("\n"),
    );
}

export interface HostReload {
    container: string;
    /** Each reloaded file: staged, installed on the host (bind-mounted into the container), and its path inside. */
    files: { staged: string; path: string; containerPath: string; copy: string }[];
    /** Exec-form check of a candidate inside the container. */
    check(candidatePath: string): string[];
    signal: string;
}

/**
 * A reloadable service's reload step on its host. For each file whose staged version differs from
 * the installed one: the candidate is copied into the running container beside the file and
 * checked by the program itself (a refusal fails \`pulumi up\`; the running config is unchanged),
 * then written over the installed file in place: the container's bind mount holds the file's inode,
 * which a rename (as the install step does for files that restart their service) would leave
 * behind. After the last, PID 1 is signalled. Not running (yet): the file is updated for its next start.
 */
export function renderReloadOnHost(r: HostReload): string {
    const c = q(r.container);
    const lines = [
        "set -eu",
        "changed=0",
        "running=no",
        `[ "$(docker inspect -f '{{.State.Running}}' ${c} 2>/dev/null)" != true ] || running=yes`,
        "tmp=$(mktemp -d)",
        "trap 'rm -rf \"$tmp\"' EXIT",
    ];
    r.files.forEach((f, i) => {
        const next = `${f.containerPath}.next`;
        lines.push(
            `[ -f ${q(f.staged)} ] || { echo "gateway-ha: ${f.staged} is missing; run pulumi up --replace on its copy, ${f.copy}" >&2; exit 1; }`,
            `if ! cmp -s ${q(f.staged)} ${q(f.path)}; then`,
            '    if [ "$running" = yes ]; then',
            // Readable by an image's non-root user (haproxy's); docker cp makes root the owner.
            `        install -m 0644 ${q(f.staged)} "$tmp/${i}"`,
            `        docker cp "$tmp/${i}" ${c}:${q(next)}`,
            `        docker exec ${c} ${r.check(next).map(q).join(" ")} || { echo "gateway-ha: ${r.container}: the program refused the new ${f.containerPath}; the running config is unchanged" >&2; exit 1; }`,
            "    fi",
            `    cat ${q(f.staged)} > ${q(f.path)}`,
            "    changed=1",
            "fi",
        );
    });
    lines.push(
        'if [ "$changed" = 1 ] && [ "$running" = yes ]; then',
        `    docker kill --signal ${r.signal} ${c} >/dev/null`,
        `    echo "gateway-ha: ${r.container} reloaded"`,
        "fi",
    );
    return remoteScript(lines.join("\n"));
}

/** The files a script of renderInstallFiles installs, path → content, given the staged contents (for offline review). */
export function filesInstalled(script: string, staged: ReadonlyMap<string, string>): Map<string, string> {
    const out = new Map<string, string>();
    const unq = (s: string) => s.replace(/'\\''/g, "'");
    // A reloaded file's line starts with its absence test.
    for (const m of script.matchAll(/^(?:\[ -e '(?:[^']|'\\'')*' \] \|\| )?gateway_ha_install '((?:[^']|'\\'')*)' '((?:[^']|'\\'')*)' /gm)) {
        const content = staged.get(unq(m[1]));
        if (content === undefined) throw new Error(`nothing stages ${unq(m[1])}, which the script installs as ${unq(m[2])}`);
        out.set(unq(m[2]), content);
    }
    return out;
}

/** The firewall script a host bootstrap installs (for offline review). */
export function firewallInstalled(script: string): string | undefined {
    const m = /<<'GATEWAY_HA_FIREWALL'\n([\s\S]*?)\nGATEWAY_HA_FIREWALL/.exec(script);
    return m ? `${m[1]}\n` : undefined;
}

/** A service's kernel parameters on its host: applied at every boot by systemd-sysctl. */
export const hostSysctlPath = (service: string) => `/etc/sysctl.d/90-gateway-ha-${service}.conf`;

const SYSCTL_KEY = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;

/**
 * The step that sets a service's kernel parameters (ServiceSpec.sysctls) where services share
 * the host's namespace: a sysctl.d file of its own for the next boots, each value written to
 * /proc/sys now. Its delete (renderHostSysctlRemoval) removes the file; the values stay until reboot.
 */
export function renderHostSysctls(service: string, sysctls: Record<string, string>): string {
    const entries = Object.entries(sysctls);
    for (const [k, v] of entries) if (!SYSCTL_KEY.test(k) || !/^[0-9]+$/.test(v)) throw new Error(`service ${service}: kernel parameter ${k} = ${v} is not a dotted name and a number`);
    return remoteScript(
        [
            "set -eu",
            `# gateway-ha: kernel parameters of ${service}.`,
            `cat > ${hostSysctlPath(service)} <<'GATEWAY_HA_SYSCTL'`,
            ...entries.map(([k, v]) => `${k} = ${v}`),
            "GATEWAY_HA_SYSCTL",
            ...entries.map(([k, v]) => `printf '%s\\n' ${v} > /proc/sys/${k.replace(/\./g, "/")}`),
        ].join("\n"),
    );
}

export const renderHostSysctlRemoval = (service: string) => `rm -f ${hostSysctlPath(service)}`;

/** The kernel parameters a host sysctl step writes (for the lab, which applies them to the node's namespace). */
export function sysctlsInstalled(script: string): Record<string, string> | undefined {
    const m = /<<'GATEWAY_HA_SYSCTL'\n([\s\S]*?)\nGATEWAY_HA_SYSCTL/.exec(script);
    if (!m) return undefined;
    return Object.fromEntries(m[1].split("\n").map((l) => l.split(" = ") as [string, string]));
}

/** A Compose env file; values are single-quoted, which Compose reads literally. */
export function renderEnvFile(service: string, env: Record<string, string>): string {
    return Object.entries(env)
        .map(([k, v]) => {
            if (/['\n]/.test(v)) throw new Error(`service ${service}: environment variable ${k} holds a quote or newline, which an env file cannot carry`);
            return `${k}='${v}'\n`;
        })
        .join("");
}

/** A service's Compose file on a host: itself alone, so restarting it touches nothing else. */
export function renderServiceCompose(svc: ComposeService, limits: { cpus: number; memoryGb: number }): string {
    return composeFile([svc], limits, SSH_LAYOUT);
}

export interface RunSpec {
    name: string;
    /** The service's restart trigger: a host that already runs this one keeps the container. */
    trigger: string;
    volumes: string[];
    healthCheck?: HealthCheckSpec;
    /** false: running is enough (an etcd member, whose steps establish its health; a learner is not healthy until promoted). */
    waitHealthy?: boolean;
    timeoutSeconds: number;
    /** After a restart, once healthy: until a balancer without runtime state (nginx, keepalived) sends it traffic again. */
    rotationSeconds?: number;
}

/**
 * (Re)starts a service and waits, bounded, until it is healthy, so the next member of its role
 * restarts only then. A host already running the service with this trigger keeps the container, so
 * a step re-run for another reason (a new SSH key) restarts nothing. A service without a health
 * check must stay running. A service starting on empty data directories (etcd's first start) only
 * has to run: its cluster forms once the other members start, which the chain would otherwise hold back.
 */
export function renderRunScript(r: RunSpec): string {
    const name = q(r.name);
    const applied = q(`${HOST_PATHS.services}/${r.name}/applied`);
    return remoteScript(
        [
            "set -eu",
            "fresh=no",
            "restarted=no",
            ...r.volumes.map((v) => `[ -n "$(ls -A ${q(SSH_LAYOUT.volumeData(v))} 2>/dev/null)" ] || fresh=yes`),
            `if [ "$(cat ${applied} 2>/dev/null)" = ${q(r.trigger)} ] && [ "$(docker inspect --format '{{.State.Running}}' ${name} 2>/dev/null)" = true ]; then`,
            `  echo "gateway-ha: ${r.name} already runs this configuration"`,
            "else",
            `  rm -f ${applied}`,
            `  docker compose -f ${q(composePath(r.name))} up -d --force-recreate --no-deps`,
            "  restarted=yes",
            "fi",
            `deadline=$(( $(date +%s) + ${r.timeoutSeconds} ))`,
            `want=${r.healthCheck && r.waitHealthy !== false ? "healthy" : "running"}`,
            '[ "$fresh" = no ] || want=running',
            "while :; do",
            `  state=$(docker inspect --format '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' ${name})`,
            '  case "$want:$state" in',
            "    healthy:running/healthy) break ;;",
            // Running now and five seconds later, without a restart in between.
            `    running:running/*) s1=$(docker inspect --format '{{.State.StartedAt}}' ${name}); sleep 5; [ "$(docker inspect --format '{{.State.Status}} {{.State.StartedAt}}' ${name})" = "running $s1" ] && break ;;`,
            "  esac",
            '  if [ "$(date +%s)" -ge "$deadline" ]; then',
            `    echo "gateway-ha: ${r.name} is $state, not $want, after ${r.timeoutSeconds}s" >&2`,
            `    docker logs --tail 50 ${name} >&2 || true`,
            "    exit 1",
            "  fi",
            "  sleep 2",
            "done",
            ...(r.rotationSeconds ? [`[ "$restarted" = no ] || sleep ${r.rotationSeconds}`] : []),
            `printf '%s\\n' ${q(r.trigger)} > ${applied}`,
            `echo "gateway-ha: ${r.name} is $want"`,
        ].join("\n"),
    );
}

/**
 * Stops a service gracefully (its program's own signal, killed after `graceSeconds`), then removes
 * it: a replacement, a scale-down and a destroy let it finish what it carries. The signal goes with
 * `docker kill --signal` and a bounded wait: `docker stop --signal` needs Docker 23, hosts may run 20.10.
 */
export function renderRemoveScript(name: string, stop: { signal?: string; graceSeconds: number }): string {
    const n = q(name);
    const graceful = stop.signal
        ? [
              `docker kill --signal ${stop.signal} ${n} >/dev/null 2>&1 || true`,
              "i=0",
              `while [ "$(docker inspect -f '{{.State.Running}}' ${n} 2>/dev/null)" = true ] && [ "$i" -lt ${stop.graceSeconds} ]; do sleep 1; i=$((i + 1)); done`,
          ]
        : [`docker stop --time ${stop.graceSeconds} ${n} >/dev/null 2>&1 || true`];
    return remoteScript([...graceful, `docker rm -f ${n} >/dev/null 2>&1 || true`].join("\n"));
}

/**
 * What `ssh.purgeOnDestroy` runs when a node's purge step is deleted (a destroy, or the node leaving
 * the stack), after every service on the host is gone: the stack's containers that are left, the
 * firewall (boot unit, iptables chain, the firewalld rules it added), files, secrets and staged
 * copies, and the data directories unless `keepData`. Idempotent: a second run finds nothing.
 */
export function renderHostPurge(p: { node: string; stack: string; keepData: boolean }): string {
    return remoteScript(
        [
            "set -u",
            `ids=$(docker ps -aq --filter ${q(`label=${LABELS.stack}=${p.stack}`)} 2>/dev/null) || ids=`,
            '[ -z "$ids" ] || docker rm -f $ids >/dev/null',
            ...firewallRemovalLines(),
            `rm -rf ${FIREWALLD_STATE.replace(/\/[^/]+$/, "")} ${HOST_PATHS.root} ${HOST_PATHS.staging}`,
            ...(p.keepData
                ? [`echo "gateway-ha: ${p.node}: purged; data kept in ${HOST_PATHS.volumes} (protectData)"`]
                : [`rm -rf ${HOST_PATHS.volumes.replace(/\/[^/]+$/, "")}`, `echo "gateway-ha: ${p.node}: purged, data included"`]),
        ].join("\n"),
    );
}

/** Removes the host firewall: its boot unit, iptables chains, and the firewalld rules it added (as its state file lists them). */
function firewallRemovalLines(): string[] {
    const unit = HOST_PATHS.firewallUnit.split("/").pop()!;
    return [
        `systemctl disable --now ${unit} >/dev/null 2>&1 || true`,
        `rm -f ${HOST_PATHS.firewallUnit}`,
        "systemctl daemon-reload >/dev/null 2>&1 || true",
        ...["iptables", "ip6tables"].flatMap((ipt) => [
            `if command -v ${ipt} >/dev/null 2>&1; then`,
            `  while ${ipt} -w -D INPUT -j ${FIREWALL_CHAIN} 2>/dev/null; do :; done`,
            `  ${ipt} -w -F ${FIREWALL_CHAIN} 2>/dev/null || true`,
            `  ${ipt} -w -X ${FIREWALL_CHAIN} 2>/dev/null || true`,
            "fi",
        ]),
        `if [ -f ${FIREWALLD_STATE} ] && command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd -q --state 2>/dev/null; then`,
        "  default_zone=$(firewall-cmd --get-default-zone)",
        "  while IFS= read -r line; do",
        '    case $line in "rule "*) line="$default_zone $line" ;; esac',
        '    zone=${line%% *}; rule=${line#* }',
        '    firewall-cmd -q --permanent --zone="$zone" --remove-rich-rule="$rule" || true',
        '    firewall-cmd -q --zone="$zone" --remove-rich-rule="$rule" || true',
        `  done < ${FIREWALLD_STATE}`,
        "fi",
    ];
}

export interface HostTask {
    container: string;
    toolArgv: string[];
    toolEnv: string[];
    script: string;
    /** Values may be secret: the caller keeps the rendered script secret then. */
    env: Record<string, string>;
}

/** A task run on its service's host, its environment exported first (never on a command line). */
export function renderTaskOnHost(t: HostTask): string {
    return remoteScript(["set -eu", ...Object.entries(t.env).map(([k, v]) => `export ${k}=${q(v)}`), toolFunction(t), t.script].join("\n"));
}

/** What one host checks after a deploy; every failure fails `pulumi up`. */
export interface HostVerify {
    node: string;
    /** Its services' health checks, run inside them now (etcd's is `etcdctl endpoint health`). */
    checks: { container: string; command: string[] }[];
    /** Gateway status endpoints that must answer 200 from this host. */
    statusUrls: string[];
    /** Gateway listeners that must reach a gateway from this host: anything but 502/503/504 or no answer. */
    listeners: { url: string; what: string }[];
}

/** The checks one host runs, on its stdin (`sh -s`). */
export function renderVerifyScript(v: HostVerify): string {
    return remoteScript(
        [
            "set -eu",
            ...v.checks.map((c) => `docker exec ${q(c.container)} ${c.command.map(q).join(" ")} >/dev/null || { echo "gateway-ha: verify: ${c.container} fails its health check" >&2; exit 1; }`),
            ...v.statusUrls.map((url) => `curl -fsS -o /dev/null --max-time 5 ${q(url)} || { echo "gateway-ha: verify: ${url} does not answer 200 from ${v.node}" >&2; exit 1; }`),
            ...v.listeners.flatMap((l) => [
                `code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 ${q(l.url)} || true)`,
                `case "$code" in 502|503|504|000|"") echo "gateway-ha: verify: ${l.what} (${l.url}) answers $code on ${v.node}: no gateway behind it" >&2; exit 1 ;; esac`,
            ]),
            `echo "gateway-ha: verify: ${v.node}: all checks passed"`,
        ].join("\n"),
    );
}

/**
 * Each host's post-deploy checks, for the hosts that have any: every health check on the service's
 * host; from each gateway balancer (haproxy/nginx), every gateway's status endpoint (the path its
 * health checks take) and its own listener forwarding; on the nodes of a keepalived VIP in front
 * of the gateways, their gateways' status endpoints and the VIP's gateway listener.
 */
export function verifyPlans(spec: PlatformSpec, topology: Topology, checks: { node: string; container: string; command: string[] }[]): HostVerify[] {
    const { dataPlane, loadBalancer } = spec;
    const statusUrl = (n: TopologyNode) => `http://${n.address}:${dataPlane.statusPort}${loadBalancer.healthCheck.path}`;
    const plans = topology.nodes.map((n): HostVerify => ({ node: n.name, checks: [], statusUrls: [], listeners: [] }));
    const plan = (node: string) => plans.find((p) => p.node === node)!;
    for (const c of checks) plan(c.node).checks.push({ container: c.container, command: c.command });
    // LVS directors are load-balancer nodes too, but run no listener of their own.
    const proxies = loadBalancer.kind === "haproxy" || loadBalancer.kind === "nginx" ? topology.byRole["load-balancer"] : [];
    for (const lb of proxies) {
        plan(lb.name).statusUrls.push(...topology.byRole["data-plane"].map(statusUrl));
        plan(lb.name).listeners.push({ url: `http://127.0.0.1:${dataPlane.httpPort}/`, what: "the gateway balancer" });
    }
    // Whether the host firewalls let a node reach the gateway listeners as a client does.
    const isClient = (n: TopologyNode) =>
        spec.ssh.firewall.clientCidrs.some((c) => {
            const net = parseCidr(c);
            const address = parseIpv4(n.address);
            return net !== undefined && address !== undefined && cidrContains(net, address);
        });
    // keepalived VIPs on the gateways (kind keepalived has no balancer node). A gateway's status port
    // is open to no other gateway, so each checks its own, as the VIP's check script does. The VIP's
    // listener is requested from each of its nodes inside ssh.firewall.clientCidrs: on the node
    // holding the VIP that stays local, from the others it takes a client's path. LVS VIPs are not
    // requested from their directors, whose own requests do not take the clients' path through
    // IPVS (in DR and TUN the real servers hold the VIP and answer it themselves).
    for (const vip of topology.vips.filter((v) => v.protects === "data-plane" && !v.lvs))
        for (const n of vip.nodes) {
            const p = plan(n.name);
            if (n.roles.includes("data-plane") && !p.statusUrls.includes(statusUrl(n))) p.statusUrls.push(statusUrl(n));
            if (isClient(n)) p.listeners.push({ url: `http://${vip.address}:${dataPlane.httpPort}/`, what: `VIP ${vip.name}` });
        }
    return plans.filter((p) => p.checks.length + p.statusUrls.length + p.listeners.length > 0);
}
