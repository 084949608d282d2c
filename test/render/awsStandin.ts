// A stand-in for the AWS CLI as strict as AWS where the steps use it: EC2's tag filters (this stack's
// running instances only), SSM Run Command (the document's shell command, run as the instance it was
// sent to, in that instance's directory under `hosts/` and with nothing of the deployer's
// environment but PATH; stdout, stderr and the exit status kept apart) and Parameter Store behind
// the per-node policy (an instance reads its own node's prefix only). Its state is files under the
// directory the script is written to: `instances/<node>` (the running instance's ID), `hosts/<id>/`,
// `parameters/<path>`, `commands/`, and every call in `aws.log`.

/** The stand-in's script, to be written as `<dir>/aws` (mode 0755) with `<dir>` on PATH. */
export function awsCliStandin(dir: string, stack: string): string {
    return `#!/bin/sh
d=${dir}
STACK=${stack}
printf '%s\\n' "$*" >> $d/aws.log
[ "$1 \${3-}" = "ec2 --region" ] || [ "$1 \${3-}" = "ssm --region" ] || { echo "usage: the region comes first" >&2; exit 252; }
case "$2" in
describe-instances)
    stack= node= state=
    for a; do case "$a" in Name=tag:gateway-ha:stack,Values=*) stack=\${a#*Values=} ;; Name=tag:gateway-ha:node,Values=*) node=\${a#*Values=} ;; Name=instance-state-name,Values=running) state=1 ;; esac; done
    [ "$stack" = "$STACK" ] && [ -n "$state" ] || { echo "the stand-in answers only for this stack's running instances" >&2; exit 252; }
    cat $d/instances/$node 2>/dev/null || echo ;;
send-command)
    id= doc= params=
    while [ $# -gt 0 ]; do case "$1" in --instance-ids) id=$2 ;; --document-name) doc=$2 ;; --parameters) params=$2 ;; esac; shift; done
    [ "$doc" = AWS-RunShellScript ] || exit 252
    [ -d $d/hosts/$id ] || { echo "An error occurred (InvalidInstanceId) when calling the SendCommand operation" >&2; exit 254; }
    mkdir -p $d/commands; n=$(ls $d/commands | wc -l); c=cmd-$n; mkdir $d/commands/$c
    printf '%s' "$params" > $d/commands/$c/params
    node -e 'const p = JSON.parse(process.argv[1]); if (Object.keys(p).join() !== "commands,executionTimeout") process.exit(3); process.stdout.write(p.commands.join("\\n"))' "$params" > $d/commands/$c/script || exit 255
    rc=0
    (cd $d/hosts/$id && env -i PATH="$PATH" GWHA_INSTANCE=$id HOME=$d/hosts/$id sh $d/commands/$c/script > $d/commands/$c/out 2> $d/commands/$c/err < /dev/null) || rc=$?
    echo $rc > $d/commands/$c/code
    [ $rc = 0 ] && echo Success > $d/commands/$c/status || echo Failed > $d/commands/$c/status
    echo "$id" > $d/commands/$c/instance
    echo $c ;;
get-command-invocation)
    c= id= all="$*"
    while [ $# -gt 0 ]; do case "$1" in --command-id) c=$2 ;; --instance-id) id=$2 ;; esac; shift; done
    [ "$(cat $d/commands/$c/instance)" = "$id" ] || exit 254
    case "$all" in *"--query Status"*) cat $d/commands/$c/status ;; *StandardOutputContent*) cat $d/commands/$c/out ;; *StandardErrorContent*) cat $d/commands/$c/err ;; *ResponseCode*) cat $d/commands/$c/code ;; esac ;;
get-parameter)
    name=
    while [ $# -gt 0 ]; do case "$1" in --name) name=$2 ;; esac; shift; done
    # The per-node policy: an instance reads its own node's prefix only.
    mine=$(grep -lx "$GWHA_INSTANCE" $d/instances/* 2>/dev/null | head -n 1)
    case "$name" in "/gateway-ha/$STACK/\${mine##*/}/"*) ;; *) echo "An error occurred (AccessDeniedException) when calling the GetParameter operation" >&2; exit 254 ;; esac
    [ -e "$d/parameters$name" ] || { echo "An error occurred (ParameterNotFound)" >&2; exit 254; }
    cat "$d/parameters$name"; echo ;;
*) exit 252 ;;
esac
`;
}
