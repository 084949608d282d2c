// The ssh target's steps on the deployer (etcd membership): a script run where `pulumi up` runs,
// whose `tool` reaches the first host of its candidates whose container is running, with the
// OpenSSH client, and runs the tool inside that container there. Any healthy member serves, and a
// delete gets the step's last stdout (PULUMI_COMMAND_STDOUT), which a remote command's delete only
// gets where sshd accepts the variable.
//
// The host keys are pinned exactly as the remote commands pin them (one key per host, from
// ssh.knownHosts), in a known_hosts file of the step's own; the configured key goes to a 0600 file
// of the step's own, else ssh uses the deployer's agent. Both files go when the step ends. The
// variables the tool forwards (etcdctl's user and password) travel on the connection's stdin,
// ahead of the tool's own stdin, never on a command line, local or remote.
import { inlineCommand, q } from "./ssh";

/** The known_hosts lines a step's ssh trusts: one pinned key per candidate host. */
export const SSH_KNOWN_HOSTS_ENV = "GATEWAY_HA_SSH_KNOWN_HOSTS";
/** The deployer's private key (ssh.privateKey), when configured. */
export const SSH_KEY_ENV = "GATEWAY_HA_SSH_KEY";

export interface SshCandidate {
    /** The node, for messages. */
    node: string;
    address: string;
    port: number;
    user: string;
    container: string;
}

export interface SshTool {
    candidates: SshCandidate[];
    toolArgv: string[];
    /** Variables of the step's script the tool forwards into the container. */
    toolEnv: string[];
    connectTimeoutSeconds: number;
}

/** A known_hosts line for `address:port` pinning `key` (`<type> <base64>`), as `ssh-keyscan -p` names hosts. */
export function knownHostsLine(address: string, port: number, key: string): string {
    return `${port === 22 ? address : `[${address}]:${port}`} ${key}`;
}

/**
 * What the remote root shell runs for the tool: the forwarded variables from the first lines of
 * stdin (`1value`: set; `0`: unset), then the tool in the container, with the rest of stdin.
 */
export function renderRemoteTool(t: Pick<SshTool, "toolArgv" | "toolEnv">, container: string): string {
    const reads = t.toolEnv.map((v) => `IFS= read -r _l || exit 3; case $_l in 1*) ${v}=\${_l#1}; export ${v} ;; *) unset ${v} ;; esac`);
    const forward = t.toolEnv.map((v) => `-e ${v} `).join("");
    return [...reads, `exec docker exec -i ${forward}${q(container)} ${t.toolArgv.map(q).join(" ")} "$@"`].join("\n");
}

/** The prelude of a step's script: defines `tool` (exit 3 when no candidate's container is running). */
export function renderSshToolPrelude(t: SshTool): string {
    const header = t.toolEnv.map((v) => `if [ -n "\${${v}+x}" ]; then printf '1%s\\n' "$${v}"; else echo 0; fi`).join("; ");
    const tries = t.candidates.map((c) => {
        const at = `${q(c.address)} ${c.port} ${q(c.user)}`;
        const running = inlineCommand(c.user, `docker container inspect -f '{{.State.Running}}' ${q(c.container)}`);
        return [
            `    if [ "$(gwha_ssh ${at} ${q(running)} </dev/null 2>/dev/null)" = true ]; then`,
            `        { ${header || ":"}; cat; } | gwha_ssh ${at} ${q(inlineCommand(c.user, renderRemoteTool(t, c.container)))}" sh$gwha_args"`,
            "        return",
            "    fi",
        ].join("\n");
    });
    const names = t.candidates.map((c) => `${c.container} (${c.node})`).join(", ");
    return `set -eu
command -v ssh >/dev/null || { echo "gateway-ha: this step needs the OpenSSH client (ssh) where pulumi up runs" >&2; exit 1; }
gwha_ssh_dir=$(mktemp -d)
trap 'rm -rf "$gwha_ssh_dir"' EXIT
printf '%s\\n' "$${SSH_KNOWN_HOSTS_ENV}" >"$gwha_ssh_dir/known_hosts"
gwha_key=
if [ -n "\${${SSH_KEY_ENV}-}" ]; then
    (umask 077 && printf '%s\\n' "$${SSH_KEY_ENV}" >"$gwha_ssh_dir/key")
    gwha_key=$gwha_ssh_dir/key
fi
# address port user command: as root there (the command says how), host key pinned, never a prompt.
gwha_ssh() {
    _a=$1 _p=$2 _u=$3
    shift 3
    ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$gwha_ssh_dir/known_hosts" -o GlobalKnownHostsFile=/dev/null \\
        -o CheckHostIP=no -o LogLevel=ERROR -o ConnectTimeout=${t.connectTimeoutSeconds} \${gwha_key:+-i "$gwha_key" -o IdentitiesOnly=yes} -p "$_p" -l "$_u" "$_a" "$@"
}
# One argument quoted for the remote shell.
gwha_q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\\\\\''/g")"; }
tool() {
    gwha_args=
    for _x in "$@"; do gwha_args="$gwha_args $(gwha_q "$_x")"; done
${tries.join("\n")}
    echo "gateway-ha: none of ${names} is running" >&2
    return 3
}
`;
}
