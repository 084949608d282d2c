// The AWS target's steps on the deployer (render/awsStep.ts), run for real against stand-ins as strict
// as AWS where the steps use it (test/render/awsStandin.ts); `docker` plays each instance's containers.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NOT_RUNNING_STATUS, renderAwsStepScript, type AwsStep } from "../../components/render/awsStep";
import { awsCliStandin } from "./awsStandin";

const SECRET = `Root-Secret-${Date.now()}-'"$x`;
const NODES = ["etcd-1", "etcd-2", "etcd-3"];
const parameterOf = (node: string) => `/gateway-ha/prod/${node}/steps/env/ETCD_ROOT_PASSWORD`;

let dir: string;

function tool(name: string, body: string): void {
    writeFileSync(join(dir, name), `#!/bin/sh\nd=${dir}\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
}

/** A node's instance: running, with its etcd container running or not. */
function instance(node: string, container: boolean): void {
    writeFileSync(join(dir, "instances", node), `i-0${node.replace("-", "")}\n`);
    mkdirSync(join(dir, "hosts", `i-0${node.replace("-", "")}`), { recursive: true });
    if (container) writeFileSync(join(dir, "hosts", `i-0${node.replace("-", "")}`, `running-${node}-etcd`), "");
}

function parameter(path: string, value: string): void {
    mkdirSync(dirname(join(dir, "parameters", path)), { recursive: true });
    writeFileSync(join(dir, "parameters", path), value);
}

beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "gwha-aws-step-"));
    mkdirSync(join(dir, "instances"));
    mkdirSync(join(dir, "hosts"));
    mkdirSync(join(dir, "commands"));
    writeFileSync(join(dir, "aws"), awsCliStandin(dir, "prod"), { mode: 0o755 });
    // Each instance's docker: its containers by marker file; exec records what it got and eats its stdin.
    tool(
        "docker",
        `case "$1 $2" in
"container inspect") for c; do :; done; [ -e "running-$c" ] || { echo "Error: No such container: $c" >&2; exit 1; }; echo true ;;
exec*)
    printf '%s: %s as %s\\n' "$GWHA_INSTANCE" "$*" "\${ETCDCTL_USER-unset}" >> $d/exec
    cat > /dev/null
    case " $* " in *" fail "*) echo "etcdserver: boom" >&2; exit 7 ;; esac
    echo "listed by $GWHA_INSTANCE" ;;
*) exit 2 ;;
esac`,
    );
    for (const node of NODES) parameter(parameterOf(node), SECRET);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = [
    'ETCDCTL_USER="root:$ETCD_ROOT_PASSWORD"',
    "export ETCDCTL_USER",
    'printf "member %s founders %s\\n" "$ETCD_MEMBER_NAME" "$ETCD_FOUNDERS" >&2',
    "tool member list",
    'echo "after the tool"',
    'printf "last %s\\n" "${PULUMI_COMMAND_STDOUT-none}"',
    '[ "${FAIL-}" != yes ] || tool fail',
].join("\n");

const step = (script = SCRIPT): AwsStep => ({
    comment: "gateway-ha etcd-2-etcd-join",
    region: "eu-west-1",
    tags: { stack: ["gateway-ha:stack", "prod"], node: "gateway-ha:node" },
    candidates: NODES.map((node) => ({ node, container: `${node}-etcd`, secretParameters: { ETCD_ROOT_PASSWORD: parameterOf(node) } })),
    toolArgv: ["/usr/local/bin/etcdctl", "--cacert=/etc/etcd/pki/ca.crt"],
    toolEnv: ["ETCDCTL_USER"],
    plainEnv: ["ETCD_MEMBER_NAME", "ETCD_FOUNDERS", "FAIL"],
    script,
    runSeconds: 60,
    reachTimeoutSeconds: 2,
    pollSeconds: 1,
});

const AWKWARD = `a=https://10.0.0.1:2380,b='q' "dq" $HOME \`x\` \\ end`;
const runStep = (env: Record<string, string> = {}, s = step()) =>
    spawnSync("/bin/sh", ["-c", renderAwsStepScript(s)], {
        encoding: "utf8",
        env: { PATH: `${dir}:${process.env.PATH}`, ETCD_MEMBER_NAME: "etcd-2", ETCD_FOUNDERS: AWKWARD, ETCD_ROOT_PASSWORD: SECRET, ...env },
        timeout: 60_000,
    });

const sent = () => readFileSync(join(dir, "aws.log"), "utf8") + readdirParams();
function readdirParams(): string {
    return spawnSync("sh", ["-c", `cat ${dir}/commands/*/params 2>/dev/null`], { encoding: "utf8" }).stdout;
}

describe("AWS steps through SSM, against stand-ins", () => {
    it("runs on the first member whose instance runs and whose container runs there: the instance's stdout is the step's, its stderr the deployer's", () => {
        // etcd-1: no instance; etcd-2: running, its container not; etcd-3: both.
        instance("etcd-2", false);
        instance("etcd-3", true);
        const r = runStep();
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toBe("listed by i-0etcd3\nafter the tool\nlast none\n");
        expect(r.stderr).toContain(`member etcd-2 founders ${AWKWARD}`);
        expect(r.stderr).toContain("gateway-ha: etcd-2-etcd is not running here");
        // etcdctl ran in etcd-3's container there, as root with the password its instance read from its own parameter.
        expect(readFileSync(join(dir, "exec"), "utf8")).toBe(`i-0etcd3: exec -i -e ETCDCTL_USER etcd-3-etcd /usr/local/bin/etcdctl --cacert=/etc/etcd/pki/ca.crt member list as root:${SECRET}\n`);
        expect(sent()).toContain("ssm get-parameter --region eu-west-1 --with-decryption --name /gateway-ha/prod/etcd-3/steps/env/ETCD_ROOT_PASSWORD");
        // No value of a secret variable was ever sent: not in a command, not in an argument.
        expect(sent()).not.toContain(SECRET);
        expect(sent()).not.toContain("Root-Secret");
    }, 60_000);

    it("the tool reading its stdin does not eat the rest of the script (the instance runs it from a file)", () => {
        instance("etcd-1", true);
        const r = runStep();
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain("after the tool");
    }, 60_000);

    it("a delete gets the step's last stdout", () => {
        instance("etcd-1", true);
        const r = runStep({ PULUMI_COMMAND_STDOUT: "8e9e05c52164694d\n" });
        expect(r.stdout).toContain("last 8e9e05c52164694d\n");
    }, 60_000);

    it("no member running (a first deployment's joins): the script runs on the deployer, where the tool finds none", () => {
        const r = runStep({}, step('tool member list || echo "tool said $?"'));
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toBe(`tool said ${NOT_RUNNING_STATUS}\n`);
        expect(r.stderr).toContain("gateway-ha: none of etcd-1-etcd (etcd-1), etcd-2-etcd (etcd-2), etcd-3-etcd (etcd-3) is running");
        expect(existsSync(join(dir, "commands", "cmd-0"))).toBe(false);
    }, 60_000);

    it("a script that fails on the instance fails the step, naming the node and the exit status, and is not tried on another member", () => {
        instance("etcd-1", true);
        instance("etcd-2", true);
        const r = runStep({ FAIL: "yes" });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("etcdserver: boom");
        expect(r.stderr).toContain("gateway-ha: etcd-1 (i-0etcd1): gateway-ha etcd-2-etcd-join failed (Failed, exit 7)");
        expect(readFileSync(join(dir, "exec"), "utf8")).not.toContain("i-0etcd2");
    }, 60_000);

    it("a parameter the instance cannot read fails the step, naming it, before the tool runs", () => {
        instance("etcd-1", true);
        rmSync(join(dir, "parameters", parameterOf("etcd-1")));
        const r = runStep();
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`gateway-ha: could not read ${parameterOf("etcd-1")}`);
        expect(existsSync(join(dir, "exec"))).toBe(false);
        // Another node's parameter is refused to it, as the per-node policy refuses it.
        const other = step();
        other.candidates[0].secretParameters.ETCD_ROOT_PASSWORD = parameterOf("etcd-2");
        const denied = runStep({}, other);
        expect(denied.status).toBe(1);
        expect(denied.stderr).toContain("AccessDeniedException");
    }, 60_000);

    it("an instance whose SSM agent does not answer is passed over for the next member", () => {
        writeFileSync(join(dir, "instances", "etcd-1"), "i-0unregistered\n");
        instance("etcd-2", true);
        const r = runStep();
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toContain("gateway-ha: etcd-1 (i-0unregistered) does not answer SSM after 2 s: trying the next member");
        expect(r.stdout).toContain("listed by i-0etcd2");
    }, 60_000);

    it("no AWS CLI: says what is missing", () => {
        const r = spawnSync("/bin/sh", ["-c", renderAwsStepScript(step())], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("gateway-ha: the AWS CLI (aws) is needed where pulumi up runs, for gateway-ha etcd-2-etcd-join");
    });
});
