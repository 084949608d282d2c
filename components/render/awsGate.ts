// The AWS target's health gate (pure: node -> scripts). The provider reports an instance done once
// it is "running"; its services start later, in cloud-init, and the etcd bootstrap runs there too.
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
 * per-boot apply step: volumes, secrets, services, tasks such as the etcd bootstrap), then every
 * container of the stack running and, where it has a health check, healthy. A boot that made a
 * data volume's filesystem is a new etcd member: its cluster forms only once the later members
 * start, and they wait for this gate, so there its services only have to run (as on the ssh
 * target). Failures print why.
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
        `        s=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c" 2>/dev/null) || s=gone`,
        '        case "$want:$s" in healthy:running/healthy | healthy:running/none | running:running/*) ;; *) bad=$c; break ;; esac',
        "    done",
        '    [ -z "$containers" ] || [ -n "$bad" ] || break',
        '    if [ "$(date +%s)" -ge "$deadline" ]; then',
        '        if [ -z "$containers" ]; then echo "gateway-ha: $node runs no container of the stack"; exit 1; fi',
        `        echo "gateway-ha: $node: $bad is $s, not $want, after ${g.healthTimeoutSeconds} s"`,
        '        docker logs --tail 40 "$bad" 2>&1',
        "        exit 1",
        "    fi",
        "    sleep 3",
        "done",
        'echo "gateway-ha: $node: boot done, $(echo $containers | wc -w) containers $want"',
    ].join("\n");
}

/**
 * The deployer's side: send the check (base64, so no quoting reaches SSM's JSON), retried while the
 * instance's agent has not registered yet, then poll the invocation to its end and print what the
 * instance said. Exit 0 only on Success.
 */
export function renderNodeGateScript(g: NodeGate): string {
    const check = Buffer.from(renderNodeGateCheck(g), "utf8").toString("base64");
    const runFor = g.healthTimeoutSeconds + 300;
    return `set -eu
command -v aws >/dev/null || { echo "gateway-ha: the AWS CLI (aws) is needed where pulumi up runs, for the health gate of ${g.node}" >&2; exit 1; }
id=\${${GATE_INSTANCE_ENV}:?}
region=${q(g.region)}
params='{"commands":["echo ${check} | base64 -d | sh"],"executionTimeout":["${runFor}"]}'
deadline=$(( $(date +%s) + ${g.reachTimeoutSeconds} ))
while :; do
    if cmd=$(aws ssm send-command --region "$region" --instance-ids "$id" --document-name AWS-RunShellScript --comment ${q(`gateway-ha health gate ${g.node}`)} --parameters "$params" --query Command.CommandId --output text 2>&1); then break; fi
    case "$cmd" in *InvalidInstanceId*) ;; *) echo "gateway-ha: ${g.node}: aws ssm send-command failed: $cmd" >&2; exit 1 ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || { echo "gateway-ha: ${g.node} ($id) is not reachable through SSM after ${g.reachTimeoutSeconds} s (its agent has not registered: no route to SSM, or no instance profile)" >&2; exit 1; }
    sleep ${g.pollSeconds}
done
deadline=$(( $(date +%s) + ${runFor + 60} ))
while :; do
    status=$(aws ssm get-command-invocation --region "$region" --command-id "$cmd" --instance-id "$id" --query Status --output text 2>/dev/null) || status=Pending
    case "$status" in Success | Failed | Cancelled | TimedOut | DeliveryTimedOut | ExecutionTimedOut | Undeliverable | Terminated) break ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || { echo "gateway-ha: ${g.node}: the health gate's command $cmd is still $status" >&2; exit 1; }
    sleep ${g.pollSeconds}
done
out=$(aws ssm get-command-invocation --region "$region" --command-id "$cmd" --instance-id "$id" --query StandardOutputContent --output text 2>&1) || out=
if [ "$status" = Success ]; then printf '%s\\n' "$out" | tail -n 1; exit 0; fi
printf '%s\\n' "$out" >&2
echo "gateway-ha: ${g.node} ($id) failed its health gate ($status): pulumi up stops here, before the next node of its role" >&2
exit 1
`;
}
