// How each service of a deployment runs on this machine: the real program from Debian's packages
// for etcd, HAProxy and nginx (keepalived's slot is here too), the APISIX stand-in for APISIX-based
// services. A service's files live under its own root directory, as in its container; paths in
// its command line (and, for real programs, in its config) that point into the container are
// mapped to that root.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { APISIX_PATHS } from "../components/render/gateway";
import { SECRET_ENV_WRAPPER, secretEnvWrapperOf } from "../components/service";
import { writeServiceFiles, type LabDeployment, type LabService } from "./deployment";

export const HOST_PROGRAMS: Record<string, string> = {
    etcd: "/usr/bin/etcd",
    etcdctl: "/usr/bin/etcdctl",
    haproxy: "/usr/sbin/haproxy",
    nginx: "/usr/sbin/nginx",
    keepalived: "/usr/sbin/keepalived",
    curl: "/usr/bin/curl",
    sh: "/bin/sh",
    socat: "/usr/bin/socat",
};

/** Where the lab keeps a running service's process-group leader: what the docker shim signals and inspects. */
export const LAB_PID_FILE = ".lab-pid";

const REPO = resolve(__dirname, "..");
export const STANDIN_SCRIPT = join(REPO, "lab", "standins", "apisix.ts");
export const API7_STANDIN_SCRIPT = join(REPO, "lab", "standins", "api7.ts");
export const API7_V2_CONSOLE_SCRIPT = join(REPO, "lab", "standins", "api7v2Console.ts");

export interface Launch {
    argv: string[];
    env: Record<string, string>;
}

/** The host program behind a container command (`/usr/local/bin/etcd` → Debian's etcd). */
export function hostProgram(command: string): string {
    const p = HOST_PROGRAMS[basename(command)];
    if (!p) throw new Error(`the lab has no host program for ${command}`);
    return p;
}

/**
 * A container path resolves under the service's root when the lab placed it or its directory there
 * (a joined etcd member's data dir inside its volume), or it is /tmp.
 */
export function mapPath(root: string, p: string): string {
    if (!p.startsWith("/")) return p;
    const placed = existsSync(join(root, p)) || (dirname(p) !== "/" && existsSync(join(root, dirname(p))));
    return p === "/tmp" || p.startsWith("/tmp/") || placed ? join(root, p) : p;
}

/** Maps `/path` and `--flag=/path` arguments. */
export function mapArg(root: string, arg: string): string {
    const m = /^(--[^=]+=)(\/.*)$/.exec(arg);
    return m ? m[1] + mapPath(root, m[2]) : mapPath(root, arg);
}

/** Rewrites container paths inside a real program's config (nginx's `pid /tmp/nginx.pid`). */
export function mapContent(root: string, svc: LabService, text: string): string {
    const prefixes = [...new Set(["/tmp/", ...svc.files.map((f) => `${dirname(f.path)}/`), ...svc.volumes.map((v) => `${v}/`)])];
    const escaped = prefixes.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|");
    return text.replace(new RegExp(`(^|[\\s"'=])(${escaped})`, "gm"), (_m, lead: string, p: string) => `${lead}${root}${p}`);
}

/** Debian builds nginx's stream module as a loadable module; the official image has it built in. */
export function nginxModuleDirectives(): string[] {
    const v = spawnSync(HOST_PROGRAMS.nginx, ["-V"], { encoding: "utf8" });
    if (!/--with-stream=dynamic/.test(`${v.stdout}${v.stderr}`)) return [];
    const so = "/usr/lib/nginx/modules/ngx_stream_module.so";
    if (!existsSync(so)) throw new Error(`${so} missing: this nginx loads the stream module dynamically; apt-get install libnginx-mod-stream`);
    return [`load_module ${so};`];
}

export type ServiceKind = "etcd" | "haproxy" | "nginx" | "keepalived" | "sh" | "apisix-standin" | "api7-dashboard-standin" | "api7-dp-manager-standin" | "api7-v2-console-standin";

export function serviceKind(d: LabDeployment, svc: LabService): ServiceKind {
    // A secrets wrapper (withSecretEnvFiles) runs before the image's own start: the image tells the program.
    const program = secretEnvWrapperOf(svc.command) ? "" : basename(svc.command[0] ?? "");
    // keepalived runs under its supervisor shell script.
    if (svc.service === "keepalived") return "keepalived";
    // sh: the LVS real-server setup script.
    if (program === "etcd" || program === "haproxy" || program === "nginx" || program === "keepalived" || program === "sh") return program;
    // APISIX-based services: the apisix flavor's gateways and control_plane-role APISIX, API7's gateways.
    if (d.spec.flavor === "apisix" && /apisix/.test(svc.image)) return "apisix-standin";
    if (d.spec.flavor === "api7-v2") {
        if (svc.service === "gateway") return "apisix-standin";
        if (svc.service === "dashboard") return "api7-v2-console-standin";
    }
    if (d.spec.flavor === "api7-v3") {
        if (svc.service === "gateway") return "apisix-standin";
        if (svc.service === "dashboard") return "api7-dashboard-standin";
        if (svc.service === "dp-manager") return "api7-dp-manager-standin";
    }
    throw new Error(`the lab has no program or stand-in for ${svc.container} (image ${svc.image}, flavor ${d.spec.flavor}); it runs the apisix, api7-v2 and api7-v3 flavors`);
}

export interface LabPaths {
    /** Root of the service's files: its "container filesystem". */
    root: string;
    /** A certificate the gateway stand-ins serve HTTPS with (APISIX would take it from etcd). */
    httpsCert: string;
    httpsKey: string;
}

/** Writes the service's files under its root and returns its command line on this machine. */
export function prepareService(d: LabDeployment, svc: LabService, paths: LabPaths): Launch {
    const { root } = paths;
    const kind = serviceKind(d, svc);
    const real = !kind.endsWith("-standin");
    writeServiceFiles(root, real ? { ...svc, files: svc.files.map((f) => ({ ...f, content: mapContent(root, svc, f.content) })) } : svc);
    mkdirSync(join(root, "tmp"), { recursive: true, mode: 0o700 });
    switch (kind) {
        case "apisix-standin":
            return {
                argv: wrapped(root, svc, [process.execPath, "--import", "tsx", STANDIN_SCRIPT, "--root", root, "--config", APISIX_PATHS.config, "--https-cert", paths.httpsCert, "--https-key", paths.httpsKey, "--flavor", d.spec.flavor]),
                env: svc.env,
            };
        case "api7-dashboard-standin":
        case "api7-dp-manager-standin":
            return { argv: [process.execPath, "--import", "tsx", API7_STANDIN_SCRIPT, "--program", svc.service, "--root", root], env: svc.env };
        case "api7-v2-console-standin":
            // The cluster its writes go to: see api7v2Console.ts.
            return { argv: [process.execPath, "--import", "tsx", API7_V2_CONSOLE_SCRIPT, "--root", root, "--cluster-id", d.spec.dataPlane.clusterId ?? ""], env: svc.env };
        case "nginx": {
            const args = svc.command.slice(1).map((a) => mapArg(root, a));
            const g = args.indexOf("-g");
            const modules = nginxModuleDirectives().join(" ");
            if (modules) g >= 0 ? (args[g + 1] = `${modules} ${args[g + 1]}`) : args.push("-g", modules);
            return { argv: [HOST_PROGRAMS.nginx, ...args], env: svc.env };
        }
        case "keepalived": {
            // Every node's keepalived shares this machine's /run: each gets pid files of its own.
            const run = join(root, "run");
            mkdirSync(run, { recursive: true, mode: 0o700 });
            // Its check scripts run as the script user, who must reach them (as in the image's /etc/keepalived).
            for (const f of svc.files.filter((x) => !x.secret)) allowTraversal(dirname(join(root, f.path)));
            const pids = [`--pid=${run}/keepalived.pid`, `--vrrp_pid=${run}/vrrp.pid`, `--checkers_pid=${run}/checkers.pid`];
            // `/bin/sh SUPERVISOR /usr/sbin/keepalived ARGS…`: each program is this machine's.
            const argv = svc.command.map((a, i) => (i === 0 || basename(a) === "keepalived" ? hostProgram(a) : mapArg(root, a)));
            return { argv: [...argv, ...pids], env: svc.env };
        }
        default:
            return { argv: [hostProgram(svc.command[0]), ...svc.command.slice(1).map((a) => mapArg(root, a))], env: svc.env };
    }
}

/**
 * The stand-in behind the service's secrets wrapper, as its container runs it: the wrapper's own
 * script reads the files under the service's root and execs the stand-in with what it exported.
 */
function wrapped(root: string, svc: LabService, argv: string[]): string[] {
    const w = secretEnvWrapperOf(svc.command);
    return w ? ["/bin/sh", "-c", mapContent(root, svc, w.script), SECRET_ENV_WRAPPER, ...argv] : argv;
}

/** Lets other users traverse (not list) a directory and its ancestors, as root-owned image directories allow. */
function allowTraversal(dir: string): void {
    for (let d = dir; ; d = dirname(d)) {
        const mode = statSync(d).mode;
        if ((mode & 0o001) !== 0) return;
        chmodSync(d, (mode & 0o7777) | 0o011);
        if (d === dirname(d)) return;
    }
}

/** The service's Docker health check as a command line on this machine. */
export function healthCheckArgv(svc: LabService, root: string): string[] | undefined {
    const hc = svc.healthCheck;
    return hc && [hostProgram(hc[0]), ...hc.slice(1).map((a) => mapArg(root, a))];
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A `docker` for the deployment's tasks and steps (etcd's bootstrap runs `docker exec CONTAINER
 * etcdctl …`; a rollout step drains a balancer with `docker exec LB socat …` and stops a gateway):
 * `exec` runs the command in the container's node namespace with its files; `container inspect`
 * answers the state formats the steps read (running from the service's process, health from its
 * own health check); `stop` signals the service's process group as `docker stop` does: the signal,
 * then SIGKILL after `--time`. `flags` go before a program's own arguments (which win over them):
 * client defaults the lab stretches.
 */
export function dockerShim(containers: { container: string; ns: string; root: string; healthCheck?: string[] }[], flags: Record<string, string[]> = {}): string {
    const cases = containers.map((c) => `    ${shq(c.container)}) ns=${shq(c.ns)}; root=${shq(c.root)}; hc=${shq((c.healthCheck ?? []).map(shq).join(" "))} ;;`).join("\n");
    const programs = Object.entries(HOST_PROGRAMS)
        .map(([name, p]) => `    ${name}) prog=${shq(p)}; shift${flags[name]?.length ? `; set -- ${flags[name].map(shq).join(" ")} "$@"` : ""} ;;`)
        .join("\n");
    return `#!/bin/sh
# gateway-ha lab: 'docker exec', 'docker container inspect' and 'docker stop' for the lab's services (generated per run).
set -eu
container() {
    case "$1" in
${cases}
    *) echo "lab docker: no container $1" >&2; exit 1 ;;
    esac
}
alive() { [ -f "$root/${LAB_PID_FILE}" ] && kill -0 "$(cat "$root/${LAB_PID_FILE}")" 2>/dev/null; }
if [ "\${1:-} \${2:-}" = "container inspect" ]; then
    fmt=""
    [ "\${3:-}" != -f ] || fmt=$4
    for last; do :; done
    container "$last"
    if alive; then state=running; else state=exited; fi
    case "$fmt" in
    *.State.Health.Status*)
        if [ -z "$hc" ]; then echo "$state"
        elif [ "$state" = running ] && eval "ip netns exec \"\$ns\" $hc" >/dev/null 2>&1; then echo healthy
        else echo unhealthy; fi ;;
    *.State.Health*) if [ -n "$hc" ]; then echo -; else echo "$state"; fi ;;
    *.State.Running*) if [ "$state" = running ]; then echo true; else echo false; fi ;;
    *) echo "lab docker: inspect format $fmt" >&2; exit 2 ;;
    esac
    exit 0
fi
if [ "\${1:-}" = stop ]; then
    shift
    sig=TERM
    t=10
    while [ $# -gt 1 ]; do
        case "$1" in --signal | -s) sig=\${2#SIG}; shift 2 ;; --time | -t) t=$2; shift 2 ;; *) break ;; esac
    done
    container "$1"
    alive || { echo "$1"; exit 0; }
    pid=$(cat "$root/${LAB_PID_FILE}")
    kill -s "$sig" -- "-$pid" 2>/dev/null || :
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt $((t * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    kill -s KILL -- "-$pid" 2>/dev/null || :
    echo "$1"
    exit 0
fi
[ "\${1:-}" = exec ] || { echo "lab docker: only 'docker exec', 'docker container inspect' and 'docker stop' are available" >&2; exit 2; }
shift
# -e VAR forwards the caller's variable: ip netns exec keeps the environment anyway.
while [ $# -gt 0 ]; do
    case "$1" in -i | -t | -it) shift ;; -e) shift 2 ;; *) break ;; esac
done
container "$1"
shift
case "\${1##*/}" in
${programs}
    *) echo "lab docker: no host program for $1" >&2; exit 127 ;;
esac
n=$#
while [ "$n" -gt 0 ]; do
    a=$1
    shift
    case "$a" in
        --*=/*) p=\${a#*=}; [ -e "$root$p" ] && a="\${a%%=*}=$root$p" ;;
        UNIX-CONNECT:/*) p=\${a#UNIX-CONNECT:}; [ -e "$root$p" ] && a="UNIX-CONNECT:$root$p" ;;
        /*) [ -e "$root$a" ] && a="$root$a" ;;
    esac
    set -- "$@" "$a"
    n=$((n - 1))
done
exec ip netns exec "$ns" "$prog" "$@"
`;
}

/** A host the lab's `ssh` reaches: its address and port, the login user, and the key ssh.knownHosts pins for it. */
export interface LabSshHost {
    address: string;
    port: number;
    user: string;
    /** `<type> <base64>`, as pinnedHostKey gives it. */
    hostKey: string;
}

/**
 * The deployer's `ssh` for the ssh target's steps (render/sshStep.ts), as strict as OpenSSH in the
 * way the steps use it: never a prompt (BatchMode), only a host whose pinned key is in the given
 * UserKnownHostsFile under its `[address]:port` name (else "Host key verification failed", 255), the
 * node's own user and port, a private key file only if no one else may read it. The command then runs
 * as the login shell would run it, on this machine, where `docker` is the lab's.
 */
export function sshShim(hosts: LabSshHost[]): string {
    const cases = hosts.map((h) => `    ${shq(`${h.address}:${h.port}`)}) user=${shq(h.user)}; known=${shq(`${h.port === 22 ? h.address : `[${h.address}]:${h.port}`} ${h.hostKey}`)} ;;`).join("\n");
    return `#!/bin/sh
# gateway-ha lab: 'ssh' to the lab's hosts (generated per run).
set -eu
fail() { echo "lab ssh: $*" >&2; exit 255; }
batch= strict= known_file= key= port=22 login=
while [ $# -gt 0 ]; do
    case "$1" in
    -o) case "$2" in
        BatchMode=yes) batch=1 ;;
        StrictHostKeyChecking=yes) strict=1 ;;
        UserKnownHostsFile=*) known_file=\${2#UserKnownHostsFile=} ;;
        GlobalKnownHostsFile=* | CheckHostIP=* | LogLevel=* | ConnectTimeout=* | IdentitiesOnly=*) ;;
        *) fail "option $2 is not one the steps use" ;;
        esac
        shift 2 ;;
    -i) key=$2; shift 2 ;;
    -p) port=$2; shift 2 ;;
    -l) login=$2; shift 2 ;;
    -*) fail "flag $1 is not one the steps use" ;;
    *) break ;;
    esac
done
[ -n "$batch" ] || fail "without BatchMode=yes ssh may prompt"
[ -n "$strict" ] || fail "without StrictHostKeyChecking=yes ssh may accept an unknown host key"
[ $# -eq 2 ] || fail "expected a host and one command, got: $*"
case "$1:$port" in
${cases}
*) echo "ssh: connect to host $1 port $port: Connection refused" >&2; exit 255 ;;
esac
grep -qxF "$known" "$known_file" 2>/dev/null || { echo "Host key verification failed." >&2; exit 255; }
[ "$login" = "$user" ] || { echo "$login@$1: Permission denied (publickey)." >&2; exit 255; }
if [ -n "$key" ]; then
    case "$(stat -c %a "$key")" in ?00) ;; *) echo "WARNING: UNPROTECTED PRIVATE KEY FILE! $key" >&2; echo "$login@$1: Permission denied (publickey)." >&2; exit 255 ;; esac
fi
exec /bin/sh -c "$2"
`;
}

/** The hosts' \`sudo -n\` (passwordless, never a prompt) for the lab's \`ssh\`: anything else would prompt. */
export const SUDO_SHIM = `#!/bin/sh
[ "\${1:-}" = -n ] || { echo "lab sudo: a password is required (steps use sudo -n)" >&2; exit 1; }
shift
exec "$@"
`;
