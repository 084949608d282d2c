// The AWS target's steps on the deployer (etcd membership): a script that runs, through SSM Run
// Command, on the first instance of its candidates whose container is running, with `tool` running
// the tool inside that container there. Any running member serves, so a step works while any
// member is down, and none needs the instances' IDs at plan time: they are found by their tags
// when the step runs. That keeps a member's join step free of its own instance, whose user data
// waits for the join's record.
//
// What reaches the instance:
// - the step's script and `tool`, rendered at plan time;
// - its plain variables (the member's name and URLs, the founders, the last stdout on a delete),
//   base64-encoded into the command by the deployer when the step runs;
// - its secret variables (the root password) never: each candidate node holds them in SSM
//   parameters under its own prefix, which only that instance may read, and the command names them.
// The instance's stdout is the step's stdout; its stderr goes to the deployer's.
//
// While no candidate's container runs (a first deployment's join steps, before any member exists),
// the script runs on the deployer with a `tool` that finds nothing (exit 3), as on the other targets.
import { renderSsmAwait } from "./awsGate";
import { toolFunction } from "./cloudInit";
import { q } from "./ssh";

export interface AwsStepCandidate {
    /** The node, as its instance's tag names it. */
    node: string;
    container: string;
    /** The SSM parameter of each secret variable on this node (its own prefix). */
    secretParameters: Record<string, string>;
}

export interface AwsStep {
    /** What SSM shows for the command. */
    comment: string;
    region: string;
    /** The instances' tags that name the stack and the node (Name=tag:<key>,Values=<value>). */
    tags: { stack: [string, string]; node: string };
    candidates: AwsStepCandidate[];
    toolArgv: string[];
    toolEnv: string[];
    /** Variables the deployer passes into the command by value (none secret). */
    plainEnv: string[];
    script: string;
    /** The script's time limit on the instance. */
    runSeconds: number;
    /** How long a running instance's agent may take to answer before the next candidate is tried. */
    reachTimeoutSeconds: number;
    pollSeconds: number;
}

/** The instance's exit status when the candidate's container is not running there: try the next one. */
export const NOT_RUNNING_STATUS = 3;

/**
 * The start of the instance's command: the container must be running, then the secret variables
 * from the node's own parameters (the instance role may read them; nothing secret is in the command).
 */
export function renderStepHead(s: Pick<AwsStep, "region">, c: AwsStepCandidate): string {
    return [
        "set -eu",
        `[ "$(docker container inspect -f '{{.State.Running}}' ${q(c.container)} 2>/dev/null)" = true ] || { echo "gateway-ha: ${c.container} is not running here" >&2; exit ${NOT_RUNNING_STATUS}; }`,
        ...Object.entries(c.secretParameters).flatMap(([name, parameter]) => [
            `${name}=$(aws ssm get-parameter --region ${q(s.region)} --with-decryption --name ${q(parameter)} --query Parameter.Value --output text) || { echo "gateway-ha: could not read ${parameter}" >&2; exit 1; }`,
            `export ${name}`,
        ]),
    ].join("\n");
}

/** The deployer's script of a step (create or delete): see the file's comment. */
export function renderAwsStepScript(s: AwsStep): string {
    const vars = [...s.plainEnv, "PULUMI_COMMAND_STDOUT"].map(
        (v) => `if [ -n "\${${v}+x}" ]; then gwha_vars="\${gwha_vars}${v}=\\$(echo $(printf '%s' "$${v}" | base64 | tr -d '\\n') | base64 -d); export ${v}
"; fi`,
    );
    const script = Buffer.from(s.script, "utf8").toString("base64");
    const tries = s.candidates.map((c) => `gwha_try ${q(c.node)} ${q(renderStepHead(s, c))} ${q(toolFunction({ container: c.container, toolArgv: s.toolArgv, toolEnv: s.toolEnv }))} && exit 0 || gwha_rc=$?
[ "$gwha_rc" -eq ${NOT_RUNNING_STATUS} ] || exit "$gwha_rc"`);
    const names = s.candidates.map((c) => `${c.container} (${c.node})`).join(", ");
    return `set -eu
command -v aws >/dev/null || { echo "gateway-ha: the AWS CLI (aws) is needed where pulumi up runs, for ${s.comment}" >&2; exit 1; }
region=${q(s.region)}
gwha_script=${script}
gwha_vars=
${vars.join("\n")}
# node head tool: runs the step on the node's running instance; ${NOT_RUNNING_STATUS} when it has none, or its container is not running.
gwha_try() {
    id=$(aws ec2 describe-instances --region "$region" --filters ${q(`Name=tag:${s.tags.stack[0]},Values=${s.tags.stack[1]}`)} "Name=tag:${s.tags.node},Values=$1" Name=instance-state-name,Values=running --query 'Reservations[].Instances[].InstanceId' --output text) ||
        { echo "gateway-ha: aws ec2 describe-instances failed for $1" >&2; return 1; }
    id=\${id%%[[:space:]]*}
    case $id in '' | None) return ${NOT_RUNNING_STATUS} ;; esac
    body=$( { printf '%s\\n' "$2"; printf '%s' "$gwha_vars"; printf '%s\\n' "$3"; echo "$gwha_script" | base64 -d; } | base64 | tr -d '\\n')
    # From a file, not stdin: \`tool\` (docker exec -i) would read the rest of a script on stdin.
    params="{\\"commands\\":[\\"f=\\$(mktemp) && echo $body | base64 -d >\\$f && sh \\$f </dev/null; rc=\\$?; rm -f \\$f; exit \\$rc\\"],\\"executionTimeout\\":[\\"${s.runSeconds}\\"]}"
    deadline=$(( $(date +%s) + ${s.reachTimeoutSeconds} ))
    while :; do
        if cmd=$(aws ssm send-command --region "$region" --instance-ids "$id" --document-name AWS-RunShellScript --comment ${q(s.comment)} --parameters "$params" --query Command.CommandId --output text 2>&1); then break; fi
        case "$cmd" in *InvalidInstanceId*) ;; *) echo "gateway-ha: $1: aws ssm send-command failed: $cmd" >&2; return 1 ;; esac
        if [ "$(date +%s)" -ge "$deadline" ]; then echo "gateway-ha: $1 ($id) does not answer SSM after ${s.reachTimeoutSeconds} s: trying the next member" >&2; return ${NOT_RUNNING_STATUS}; fi
        sleep ${s.pollSeconds}
    done
${renderSsmAwait({ node: "$1", comment: s.comment, seconds: s.runSeconds + 60, pollSeconds: s.pollSeconds, leave: "return" })}
    out=$(aws ssm get-command-invocation --region "$region" --command-id "$cmd" --instance-id "$id" --query StandardOutputContent --output text 2>&1) || out=
    err=$(aws ssm get-command-invocation --region "$region" --command-id "$cmd" --instance-id "$id" --query StandardErrorContent --output text 2>&1) || err=
    code=$(aws ssm get-command-invocation --region "$region" --command-id "$cmd" --instance-id "$id" --query ResponseCode --output text 2>/dev/null) || code=
    [ -z "$err" ] || printf '%s\\n' "$err" >&2
    if [ "$status" = Success ]; then [ -z "$out" ] || printf '%s\\n' "$out"; return 0; fi
    [ "$code" != ${NOT_RUNNING_STATUS} ] || return ${NOT_RUNNING_STATUS}
    [ -z "$out" ] || printf '%s\\n' "$out" >&2
    echo "gateway-ha: $1 ($id): ${s.comment} failed ($status, exit $code)" >&2
    return 1
}
gwha_rc=0
${tries.join("\n")}
# No member runs: the script here, where \`tool\` finds none (a first deployment's founders start so).
tool() {
    echo "gateway-ha: none of ${names} is running" >&2
    return ${NOT_RUNNING_STATUS}
}
eval "$(echo "$gwha_script" | base64 -d)"
`;
}
