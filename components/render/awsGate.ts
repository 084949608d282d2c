// The AWS target's health gate (pure: node -> scripts). The provider reports an instance done once
// it is "running"; its services start later, in cloud-init.
// So after each instance the deployer asks the instance itself, through SSM Run Command, whether
// its boot succeeded and every service of the stack on it is healthy, and fails `pulumi up`
// otherwise; the next instance of the role waits for that answer. Needs the AWS CLI v2 where
// `pulumi up` runs, with the credentials the provider uses.
import { LABELS } from "../service";
import { NODE_PATHS } from "./cloudInit";
import { q } from "./ssh";

/** The instance the gate asks, from the step's environment (an Output of the instance). */
export const GATE_INSTANCE_ENV = "GATEWAY_HA_INSTANCE_ID";

export interface NodeGate {
    node: string;
    stack: string;
    region: string;
    /** How long the services may take to turn healthy once the boot is done. */
    healthTimeoutSeconds: number;
    /** How long the instance may take to answer SSM at all (its agent registers after boot). */
    reachTimeoutSeconds: number;
    /** Between attempts to reach the agent, and between polls of the command (AWS's API is rate-limited). */
    pollSeconds: number;
}

/**
 * What the instance runs (as root, SSM's AWS-RunShellScript): cloud-init's verdict on this boot (its
 * per-boot apply step: volumes, secrets, services), then every container of the stack running and,
 * where it has a health check, healthy. A boot that made a data volume's filesystem is a new etcd
 * member: its cluster forms only once the later members start, and they wait for this gate, so
 * there its services only have to run. A container labelled to wait for running only (an etcd
 * member, which its membership steps promote and check) only has to run anywhere. Failures print why.
 */
export function renderNodeGateCheck(g: NodeGate): string {
    return [
        "set -u",
        `node=${q(g.node)}`,
        `deadline=$(( $(date +%s) + ${g.healthTimeoutSeconds} ))`,
        `if [ -e ${NODE_PATHS.freshVolume} ]; then`,
        "    want=running",
        `    until [ -e ${NODE_PATHS.servicesUp} ]; do`,
        '        [ "$(date +%s)" -lt "$deadline" ] || { echo "gateway-ha: $node: its services did not start within ' + g.healthTimeoutSeconds + ' s"; tail -n 40 /var/log/cloud-init-output.log 2>/dev/null; exit 1; }',
        "        sleep 3",
        "    done",
        "else",
        "    want=healthy",
        // --wait blocks until cloud-init is done with this boot; non-zero: an error or a degraded boot.
        "    if ! cloud-init status --wait >/dev/null 2>&1; then",
        '        echo "gateway-ha: $node: cloud-init reports this boot failed:"',
        "        cloud-init status --long 2>&1 | tail -n 20",
        "        tail -n 40 /var/log/cloud-init-output.log 2>/dev/null",
        "        exit 1",
        "    fi",
        "fi",
        "while :; do",
        `    containers=$(docker ps -a --filter ${q(`label=${LABELS.stack}=${g.stack}`)} --format '{{.Names}}')`,
        "    bad=",
        "    for c in $containers; do",
        `        s=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}/{{index .Config.Labels ${JSON.stringify(LABELS.wait)}}}' "$c" 2>/dev/null) || s=gone`,
        '        case "$want:$s" in *:running/*/running | healthy:running/healthy/* | healthy:running/none/* | running:running/*) ;; *) bad=$c; break ;; esac',
        "    done",
        '    [ -z "$containers" ] || [ -n "$bad" ] || break',
        '    if [ "$(date +%s)" -ge "$deadline" ]; then',
        '        if [ -z "$containers" ]; then echo "gateway-ha: $node runs no container of the stack"; exit 1; fi',
        `        echo "gateway-ha: $node: $bad is \${s%/*}, not $want, after ${g.healthTimeoutSeconds} s"`,
        '        docker logs --tail 40 "$bad" 2>&1',
        "        exit 1",
        "    fi",
        "    sleep 3",
        "done",
        'echo "gateway-ha: $node: boot done, $(echo $containers | wc -w) containers $want"',
    ].join("\n");
}

/** A script sent to one instance through SSM Run Command and waited for, from the deployer. */
export interface SsmRun {
    node: string;
    region: string;
    /** What SSM shows for the command. */
    comment: string;
    /** The instance's script (root, AWS-RunShellScript); its stdout is printed (all of it, or its last line). */
    body: string;
    runSeconds: number;
    reachTimeoutSeconds: number;
    pollSeconds: number;
    /** Said after the instance's output when it fails (in double quotes: $status is SSM's verdict). */
    failure: string;
    /** Print only the last line of a successful run's output. */
    lastLineOnly?: boolean;
}

/**
 * The deployer's side: send the body (base64, so no quoting reaches SSM's JSON), retried while the
 * instance's agent has not registered yet, then poll the invocation to its end and print what the
 * instance said. Exit 0 only on Success.
 */
export function renderSsmRunScript(r: SsmRun): string {
    const body = Buffer.from(r.body, "utf8").toString("base64");
    return `set -eu
command -v aws >/dev/null || { echo "gateway-ha: the AWS CLI (aws) is needed where pulumi up runs, for ${r.comment}" >&2; exit 1; }
id=\${${GATE_INSTANCE_ENV}:?}
region=${q(r.region)}
params='{"commands":["echo ${body} | base64 -d | sh"],"executionTimeout":["${r.runSeconds}"]}'
deadline=$(( $(date +%s) + ${r.reachTimeoutSeconds} ))
while :; do
    if cmd=$(aws ssm send-command --region "$region" --instance-ids "$id" --document-name AWS-RunShellScript --comment ${q(r.comment)} --parameters "$params" --query Command.CommandId --output text 2>&1); then break; fi
    case "$cmd" in *InvalidInstanceId*) ;; *) echo "gateway-ha: ${r.node}: aws ssm send-command failed: $cmd" >&2; exit 1 ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || { echo "gateway-ha: ${r.node} ($id) is not reachable through SSM after ${r.reachTimeoutSeconds} s (its agent has not registered: no route to SSM, or no instance profile)" >&2; exit 1; }
    sleep ${r.pollSeconds}
done
${renderSsmAwait({ node: r.node, comment: r.comment, seconds: r.runSeconds + 60, pollSeconds: r.pollSeconds, leave: "exit" })}
out=$(aws ssm get-command-invocation --region "$region" --command-id "$cmd" --instance-id "$id" --query StandardOutputContent --output text 2>&1) || out=
if [ "$status" = Success ]; then printf '%s\\n' "$out"${r.lastLineOnly ? " | tail -n 1" : ""}; exit 0; fi
printf '%s\\n' "$out" >&2
echo "gateway-ha: ${r.node} ($id) ${r.failure}" >&2
exit 1
`;
}

/**
 * Shell lines that poll SSM for the invocation \`$cmd\` on instance \`$id\` (in \`$region\`) until it has
 * ended, leaving its status in \`$status\`; after \`seconds\` they leave (exit or return) 1, naming
 * `node` (text, or a shell expansion such as \`$1\`).
 */
export function renderSsmAwait(a: { node: string; comment: string; seconds: number; pollSeconds: number; leave: "exit" | "return" }): string {
    return `deadline=$(( $(date +%s) + ${a.seconds} ))
while :; do
    status=$(aws ssm get-command-invocation --region "$region" --command-id "$cmd" --instance-id "$id" --query Status --output text 2>/dev/null) || status=Pending
    case "$status" in Success | Failed | Cancelled | TimedOut | DeliveryTimedOut | ExecutionTimedOut | Undeliverable | Terminated) break ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || { echo "gateway-ha: ${a.node}: the command $cmd (${a.comment}) is still $status" >&2; ${a.leave} 1; }
    sleep ${a.pollSeconds}
done`;
}

/** The deployer's side of the health gate: the check through SSM; on failure `pulumi up` stops before the next node of the role. */
export function renderNodeGateScript(g: NodeGate): string {
    return renderSsmRunScript({
        node: g.node,
        region: g.region,
        comment: `gateway-ha health gate ${g.node}`,
        body: renderNodeGateCheck(g),
        runSeconds: g.healthTimeoutSeconds + 300,
        reachTimeoutSeconds: g.reachTimeoutSeconds,
        pollSeconds: g.pollSeconds,
        failure: "failed its health gate ($status): pulumi up stops here, before the next node of its role",
        lastLineOnly: true,
    });
}
