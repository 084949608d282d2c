// The AWS target's health gate (render/awsGate.ts), run for real: the deployer's script against an
// `aws` stand-in that plays SSM Run Command by running the sent check on this machine, where
// `cloud-init` and `docker` stand-ins play the instance.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GATE_INSTANCE_ENV, renderNodeGateCheck, renderNodeGateScript, type NodeGate } from "../../components/render/awsGate";

const GATE: NodeGate = { node: "dp-1", stack: "prod", region: "eu-west-1", healthTimeoutSeconds: 4, reachTimeoutSeconds: 60, pollSeconds: 1 };

let dir: string;

function tool(name: string, body: string): void {
    writeFileSync(join(dir, name), `#!/bin/sh\nd=${dir}\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
}

beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "gwha-aws-gate-"));
    // SSM: an agent not registered for the first `unregistered` sends; a send runs the command here
    // and keeps its output and status for get-command-invocation.
    tool(
        "aws",
        `echo "$*" >> $d/aws.log
case "$2" in
send-command)
    n=$(cat $d/unregistered 2>/dev/null || echo 0)
    if [ "$n" -gt 0 ]; then echo $((n - 1)) > $d/unregistered; echo "An error occurred (InvalidInstanceId) when calling the SendCommand operation: Instances not in a valid state for account" >&2; exit 254; fi
    for a; do case "$a" in '{"commands"'*) params=$a ;; esac; done
    printf '%s' "$params" > $d/params
    b64=$(printf '%s' "$params" | sed -n 's/.*"echo \\([A-Za-z0-9+/=]*\\) | base64 -d | sh".*/\\1/p')
    echo "$b64" | base64 -d > $d/check.sh
    # The instance's /run (tmpfs) in a mount namespace of its own, with this boot's markers.
    if unshare -m --propagation private sh -c "mount -t tmpfs t /run && mkdir -p /run/gateway-ha && for m in fresh up; do [ ! -e $d/\\$m ] || touch /run/gateway-ha/\\$m; done && sh $d/check.sh" > $d/out 2>&1; then echo Success > $d/status; else echo Failed > $d/status; fi
    echo cmd-0001 ;;
get-command-invocation)
    case "$*" in *"--query Status"*) cat $d/status ;; *StandardOutputContent*) cat $d/out ;; esac ;;
get-parameter)
    [ -e $d/parameter ] || { echo "An error occurred (ParameterNotFound)" >&2; exit 254; }
    cat $d/parameter ;;
esac`,
    );
    tool("cloud-init", `case "$2" in --wait) exit $(cat $d/cloud-init.rc 2>/dev/null || echo 0) ;; --long) echo "status: error"; echo "errors: scripts_per_boot failed" ;; esac`);
    tool(
        "docker",
        `case "$1" in
ps) echo "$*" > $d/ps; printf 'etcd-1-etcd\\ndp-1-gateway\\n' ;;
exec) echo "$* as $ETCDCTL_USER" >> $d/exec; echo "Role root deleted" ;;
inspect)
    for c; do :; done
    s=$(cat $d/state-$c)
    # The label a health gate reads, as docker prints a label the container does not have: empty.
    case "$*" in *'{{index .Config.Labels "gateway-ha.wait"}}'*) s="$s/$(cat $d/wait-$c 2>/dev/null)" ;; esac
    echo "$s" ;;
logs) for c; do :; done; echo "last lines of $c" ;;
esac`,
    );
    writeFileSync(join(dir, "state-etcd-1-etcd"), "running/healthy\n");
    writeFileSync(join(dir, "state-dp-1-gateway"), "running/healthy\n");
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const gate = (path = `${dir}:${process.env.PATH}`) =>
    spawnSync("/bin/sh", ["-c", renderNodeGateScript(GATE)], { encoding: "utf8", env: { PATH: path, [GATE_INSTANCE_ENV]: "i-0abc" }, timeout: 60_000 });

describe("AWS health gate, run against stand-ins", () => {
    it("a healthy node: sent (again, while its agent registers) to that instance, its boot done and every container of the stack healthy; exit 0", () => {
        writeFileSync(join(dir, "unregistered"), "1");
        const r = gate();
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout.trim()).toBe("gateway-ha: dp-1: boot done, 2 containers healthy");
        const log = readFileSync(join(dir, "aws.log"), "utf8");
        expect(log.match(/ssm send-command --region eu-west-1 --instance-ids i-0abc --document-name AWS-RunShellScript/g)).toHaveLength(2);
        expect(log).toContain("ssm get-command-invocation --region eu-west-1 --command-id cmd-0001 --instance-id i-0abc --query Status");
        // The instance was asked about this stack's containers only, and ran exactly the check.
        expect(readFileSync(join(dir, "ps"), "utf8")).toContain("--filter label=gateway-ha.stack=prod");
        const params = JSON.parse(readFileSync(join(dir, "params"), "utf8")) as { commands: string[]; executionTimeout: string[] };
        expect(Buffer.from(params.commands[0].split(" ")[1], "base64").toString("utf8")).toBe(renderNodeGateCheck(GATE));
        expect(params.executionTimeout).toEqual([String(GATE.healthTimeoutSeconds + 300)]);
    }, 60_000);

    it("a container that does not turn healthy fails pulumi up, naming it, with its last log lines", () => {
        writeFileSync(join(dir, "state-dp-1-gateway"), "running/unhealthy\n");
        const r = gate();
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`gateway-ha: dp-1: dp-1-gateway is running/unhealthy, not healthy, after ${GATE.healthTimeoutSeconds} s`);
        expect(r.stderr).toContain("last lines of dp-1-gateway");
        expect(r.stderr).toContain("gateway-ha: dp-1 (i-0abc) failed its health gate (Failed): pulumi up stops here, before the next node of its role");
    }, 60_000);

    it("a boot cloud-init reports failed (the apply step: secrets, services, the etcd bootstrap) fails it too", () => {
        writeFileSync(join(dir, "cloud-init.rc"), "1");
        const r = gate();
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("gateway-ha: dp-1: cloud-init reports this boot failed:");
        expect(r.stderr).toContain("scripts_per_boot failed");
    }, 60_000);

    it("a boot that made a data volume's filesystem (a new etcd member, its cluster forming): its services only have to run, once started, while its boot goes on", () => {
        writeFileSync(join(dir, "fresh"), "");
        writeFileSync(join(dir, "cloud-init.rc"), "1");
        writeFileSync(join(dir, "state-etcd-1-etcd"), "running/starting\n");
        // Not started yet: it waits for the apply step's marker, then fails naming the boot's log.
        const early = gate();
        expect(early.status).toBe(1);
        expect(early.stderr).toContain(`gateway-ha: dp-1: its services did not start within ${GATE.healthTimeoutSeconds} s`);
        writeFileSync(join(dir, "up"), "");
        const r = gate();
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout.trim()).toBe("gateway-ha: dp-1: boot done, 2 containers running");
        // A container that is not running fails it all the same.
        writeFileSync(join(dir, "state-dp-1-gateway"), "exited/none\n");
        const stopped = gate();
        expect(stopped.status).toBe(1);
        expect(stopped.stderr).toContain("dp-1-gateway is exited/none, not running");
    }, 60_000);

    it("a container labelled to wait for running only (an etcd member, whose steps promote and check it) only has to run on a boot that is not its first", () => {
        writeFileSync(join(dir, "state-etcd-1-etcd"), "running/unhealthy\n");
        const unlabelled = gate();
        expect(unlabelled.status).toBe(1);
        expect(unlabelled.stderr).toContain("etcd-1-etcd is running/unhealthy, not healthy");
        writeFileSync(join(dir, "wait-etcd-1-etcd"), "running\n");
        const r = gate();
        expect(r.status, r.stderr).toBe(0);
        writeFileSync(join(dir, "state-etcd-1-etcd"), "exited/unhealthy\n");
        const stopped = gate();
        expect(stopped.status).toBe(1);
        expect(stopped.stderr).toContain("etcd-1-etcd is exited/unhealthy, not healthy");
    }, 60_000);

    it("any other SSM error fails at once; no AWS CLI is named as the missing piece", () => {
        tool("aws", `echo "An error occurred (AccessDeniedException) when calling the SendCommand operation" >&2; exit 254`);
        const denied = gate();
        expect(denied.status).toBe(1);
        expect(denied.stderr).toContain("gateway-ha: dp-1: aws ssm send-command failed: An error occurred (AccessDeniedException)");
        rmSync(join(dir, "aws"));
        const none = gate(`${dir}:/usr/bin:/bin`);
        expect(none.status).toBe(1);
        expect(none.stderr).toContain("the AWS CLI (aws) is needed where pulumi up runs");
    });
});
