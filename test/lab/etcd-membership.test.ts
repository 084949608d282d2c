// etcd membership as code on real etcd (127.0.0.11-15, TLS and auth): the rendered join, gate,
// rollout and remove scripts found a cluster, roll a member, grow it 3 -> 5 one learner at a time,
// shrink it 5 -> 3, repair a member whose data was wiped or whose address changed, and refuse to
// found a second cluster beside one that is down.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPlatform } from "../../components/config";
import type { PlatformSpec } from "../../components/config/types";
import type { Topology } from "../../components/topology";
import { ETCD_PKI_FILES, etcdClientUrls, etcdInitialCluster, etcdMemberArgs, etcdMemberName, etcdMemberSans, etcdPeerUrl, renderEtcdBootstrapScript } from "../../components/render/etcd";
import { ETCD_MEMBER_ENV, etcdMemberStepEnv, founderRecord, parseJoinRecord, renderEtcdGateScript, renderEtcdJoinScript, renderEtcdRemoveScript, renderEtcdRolloutScript, type EtcdJoinRecord } from "../../components/render/etcdMembership";
import { renderAwsStepScript } from "../../components/render/awsStep";
import { cfg } from "../config";
import { awsCliStandin } from "../render/awsStandin";
import { ETCD, ETCDCTL, Pki, freePortPair, haveTools, run, runAsync } from "./etcdHarness";

const ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15"];
/** Where member 2 moves to (a node given another address). */
const MOVED = "127.0.0.16";
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function platform(members: number, clientPort: number, peerPort: number, clusterToken: string, addrs = ADDRS): { spec: PlatformSpec; topology: Topology } {
    const nodes = [...addrs.slice(0, members).map((address, i) => ({ name: `etcd-${i + 1}`, address })), ...["cp-1", "cp-2", "dp-1", "dp-2", "lb-1"].map((name, i) => ({ name, address: `127.0.0.${21 + i}` }))];
    return loadPlatform(cfg({ docker: { subnet: "127.0.0.0/24" }, nodes, etcd: { members, clientPort, peerPort, clusterToken, heartbeatMs: 50, electionMs: 500 } }), { project: "gateway-ha", stack: "lab" });
}

describe.skipIf(!haveTools)("etcd membership as code on real etcd", () => {
    const work = mkdtempSync(join(tmpdir(), "gwha-etcd-membership-"));
    const rootPassword = `p$\`'${randomBytes(9).toString("base64url")}`;
    const procs = new Map<number, ChildProcess>();
    let pki: Pki;
    let three: { spec: PlatformSpec; topology: Topology };
    let five: { spec: PlatformSpec; topology: Topology };
    let moved: { spec: PlatformSpec; topology: Topology };
    const gated = new Map<number, string>();

    const memberDir = (i: number) => join(work, `m${i + 1}`);
    const cert = (i: number) => ({ cert: join(memberDir(i), "pki", ETCD_PKI_FILES.cert), key: join(memberDir(i), "pki", ETCD_PKI_FILES.key) });

    /** The target's half of the contract: etcdctl with a member's certificate. */
    function prelude(p: { spec: PlatformSpec; topology: Topology }, viaMember: number): string {
        const c = cert(viaMember);
        return `export ETCDCTL_ENDPOINTS=${q(etcdClientUrls(p.spec, p.topology).join(","))}\ntool() { ${ETCDCTL} --cacert=${q(pki.ca)} --cert=${q(c.cert)} --key=${q(c.key)} --dial-timeout=2s --command-timeout=5s "$@"; }`;
    }

    async function step(script: string, p: { spec: PlatformSpec; topology: Topology }, index: number, viaMember: number, extra: Record<string, string> = {}) {
        const env = { PATH: process.env.PATH, ETCD_ROOT_PASSWORD: rootPassword, ETCD_BOOTSTRAP_DELAY: "1", ...etcdMemberStepEnv(p.spec, p.topology, index), [ETCD_MEMBER_ENV.founders]: etcdInitialCluster(three.spec, three.topology), [ETCD_MEMBER_ENV.dataDir]: join(memberDir(index), "data"), ...extra };
        const r = await runAsync("sh", ["-c", `${prelude(p, viaMember)}\n${script}`], { env, timeoutMs: 120_000 });
        expect(r.out).not.toContain(rootPassword);
        return r;
    }

    /**
     * The same step as the aws target runs it (render/awsStep.ts): from the deployer through the AWS
     * CLI stand-in's SSM Run Command on the first member whose instance and etcd run, where
     * `docker exec` runs etcdctl with that member's certificate and only the variables it forwards;
     * the root password from the member's own parameter. Member 1's instance is listed but its etcd
     * is not running, so the step goes to the next one.
     */
    async function awsStep(script: string, p: { spec: PlatformSpec; topology: Topology }, index: number, extra: Record<string, string> = {}) {
        const bin = join(work, "aws");
        const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH}`, ETCD_BOOTSTRAP_DELAY: "1", ETCDCTL_ENDPOINTS: etcdClientUrls(p.spec, p.topology).join(","), ...etcdMemberStepEnv(p.spec, p.topology, index), [ETCD_MEMBER_ENV.founders]: etcdInitialCluster(three.spec, three.topology), [ETCD_MEMBER_ENV.dataDir]: join(memberDir(index), "data"), ...extra };
        rmSync(bin, { recursive: true, force: true });
        for (let i = 0; i < 5; i++) {
            const host = join(bin, "hosts", `i-0m${i + 1}`);
            mkdirSync(host, { recursive: true });
            mkdirSync(join(bin, "instances"), { recursive: true });
            writeFileSync(join(bin, "instances", `etcd-${i + 1}`), `i-0m${i + 1}\n`);
            if (i > 0 && procs.has(i)) writeFileSync(join(host, `running-etcd-${i + 1}-etcd`), "");
            const parameter = join(bin, "parameters", "gateway-ha", "lab", `etcd-${i + 1}`, "steps", "env");
            mkdirSync(parameter, { recursive: true });
            writeFileSync(join(parameter, "ETCD_ROOT_PASSWORD"), extra.ETCD_ROOT_PASSWORD ?? rootPassword);
        }
        writeFileSync(join(bin, "aws"), awsCliStandin(bin, "lab"), { mode: 0o755 });
        // The container's etcdctl: its certificate where the container mounts it (@pki/), nothing of the instance's environment but what -e names.
        writeFileSync(
            join(bin, "docker"),
            `#!/bin/sh
case "$1 $2" in
"container inspect") for c; do :; done; [ -e "running-$c" ] || { echo "Error: No such container: $c" >&2; exit 1; }; echo true; exit 0 ;;
esac
[ "$1" = exec ] || exit 2
shift
user= endpoints=
while :; do
    case "$1" in
    -i) shift ;;
    -e) case "$2" in ETCDCTL_USER) user=1 ;; ETCDCTL_ENDPOINTS) endpoints=1 ;; *) exit 2 ;; esac; shift 2 ;;
    *) break ;;
    esac
done
shift
[ -n "$user" ] || unset ETCDCTL_USER
[ -n "$endpoints" ] || unset ETCDCTL_ENDPOINTS
pki=${work}/m\${GWHA_INSTANCE#i-0m}/pki
for a; do
    shift
    case $a in --*=@pki/*) a="\${a%%=*}=$pki/\${a#*@pki/}" ;; esac
    set -- "$@" "$a"
done
case " $* " in *" member remove "*) printf '%s\\n' "\${ETCDCTL_ENDPOINTS-}" >>${work}/aws-removals.log ;; esac
exec env -i PATH="$PATH" \${ETCDCTL_USER+ETCDCTL_USER="$ETCDCTL_USER"} \${ETCDCTL_ENDPOINTS+ETCDCTL_ENDPOINTS="$ETCDCTL_ENDPOINTS"} "$@"
`,
            { mode: 0o755 },
        );
        const r = await runAsync("sh", ["-c", renderAwsStepScript({
            comment: "gateway-ha etcd step",
            region: "eu-west-1",
            tags: { stack: ["gateway-ha:stack", "lab"], node: "gateway-ha:node" },
            candidates: Array.from({ length: 5 }, (_, i) => ({ node: `etcd-${i + 1}`, container: `etcd-${i + 1}-etcd`, secretParameters: { ETCD_ROOT_PASSWORD: `/gateway-ha/lab/etcd-${i + 1}/steps/env/ETCD_ROOT_PASSWORD` } })),
            toolArgv: [ETCDCTL, "--cacert=@pki/" + ETCD_PKI_FILES.ca, "--cert=@pki/" + ETCD_PKI_FILES.cert, "--key=@pki/" + ETCD_PKI_FILES.key, "--dial-timeout=2s", "--command-timeout=5s"],
            toolEnv: ["ETCDCTL_USER", "ETCDCTL_ENDPOINTS"],
            plainEnv: Object.keys(env).filter((k) => k !== "PATH" && k !== "ETCD_ROOT_PASSWORD"),
            script,
            runSeconds: 120,
            reachTimeoutSeconds: 5,
            pollSeconds: 1,
        })], { env, timeoutMs: 150_000 });
        // It went through SSM: member 1 first, passed over, then a member whose etcd runs.
        expect(r.stderr).toContain("gateway-ha: etcd-1-etcd is not running here");
        expect(readFileSync(join(bin, "aws.log"), "utf8")).toContain("ssm send-command --region eu-west-1 --instance-ids i-0m2");
        expect(r.out).not.toContain(rootPassword);
        expect(readFileSync(join(bin, "aws.log"), "utf8")).not.toContain(rootPassword);
        for (const c of readdirSync(join(bin, "commands"))) expect(readFileSync(join(bin, "commands", c, "params"), "utf8")).not.toContain(rootPassword);
        return r;
    }

    function start(p: { spec: PlatformSpec; topology: Topology }, i: number, record: EtcdJoinRecord) {
        const args = etcdMemberArgs(p.spec, p.topology, i, { dataDir: join(memberDir(i), "data"), pkiDir: join(memberDir(i), "pki") }, record);
        const fd = openSync(join(memberDir(i), "etcd.log"), "a");
        procs.set(i, spawn(ETCD, args, { stdio: ["ignore", fd, fd], env: { PATH: process.env.PATH } }));
        closeSync(fd);
    }

    async function kill(i: number) {
        const p = procs.get(i);
        procs.delete(i);
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise<void>((r) => p.once("exit", () => r()));
        p.kill("SIGKILL");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }

    async function join_(p: { spec: PlatformSpec; topology: Topology }, i: number, via: number, extra: Record<string, string> = {}) {
        const r = await step(renderEtcdJoinScript(p.spec), p, i, via, extra);
        expect(r.status, r.out).toBe(0);
        return { record: parseJoinRecord(r.stdout), log: r.stderr };
    }

    async function gate(p: { spec: PlatformSpec; topology: Topology }, i: number, via: number) {
        const r = await step(renderEtcdGateScript(p.spec), p, i, via);
        expect(r.status, r.out).toBe(0);
        gated.set(i, r.stdout.trim());
        return r;
    }

    function ctl(p: { spec: PlatformSpec; topology: Topology }, args: string[], endpoints?: string[]) {
        const c = cert(0);
        return run(ETCDCTL, [`--endpoints=${(endpoints ?? etcdClientUrls(p.spec, p.topology)).join(",")}`, `--cacert=${pki.ca}`, `--cert=${c.cert}`, `--key=${c.key}`, "--dial-timeout=2s", "--command-timeout=5s", ...args], {
            env: { PATH: process.env.PATH, ETCDCTL_USER: `root:${rootPassword}` },
        });
    }

    /** Moves the leadership to member `to` (index), through the current leader, and waits until it leads. */
    function leadOn(p: { spec: PlatformSpec; topology: Topology }, to: number) {
        const status = () =>
            ctl(p, ["endpoint", "status", "--cluster"])
                .stdout.trim()
                .split("\n")
                .map((l) => l.split(", "))
                .map(([url, id, , , leader]) => ({ url, id, leader: leader === "true" }));
        const target = status().find((e) => e.url === etcdClientUrls(p.spec, p.topology)[to])!;
        const leader = status().find((e) => e.leader)!;
        if (leader.id === target.id) return;
        const moved = ctl(p, ["move-leader", target.id], [leader.url]);
        expect(moved.status, moved.out).toBe(0);
        expect(status().find((e) => e.leader)?.id).toBe(target.id);
    }

    /** `member list` as {name, learner} of started members. */
    function members(p: { spec: PlatformSpec; topology: Topology }): { id: string; name: string; learner: boolean }[] {
        const r = ctl(p, ["member", "list"]);
        expect(r.status, r.out).toBe(0);
        return r.stdout
            .trim()
            .split("\n")
            .map((l) => l.split(", "))
            .map(([id, , name, , , learner]) => ({ id, name, learner: learner === "true" }));
    }

    beforeAll(async () => {
        const [client, peer] = await freePortPair([...ADDRS, MOVED]);
        const token = `gwha-membership-${randomBytes(4).toString("hex")}`;
        three = platform(3, client, peer, token);
        five = platform(5, client, peer, token);
        moved = platform(3, client, peer, token, ADDRS.map((a, i) => (i === 1 ? MOVED : a)));
        pki = new Pki();
        for (let i = 0; i < 5; i++) {
            mkdirSync(join(memberDir(i), "pki"), { recursive: true, mode: 0o700 });
            mkdirSync(join(memberDir(i), "data"), { recursive: true, mode: 0o700 });
            writeFileSync(join(memberDir(i), "pki", ETCD_PKI_FILES.ca), readFileSync(pki.ca));
            const sans = etcdMemberSans(five.topology, i);
            // One loopback host: a peer's source address is 127.0.0.1 (see etcd-cluster.test.ts).
            pki.issue(etcdMemberName(five.topology, i), { ...sans, ipAddresses: [...sans.ipAddresses, "127.0.0.1"] }, join(memberDir(i), "pki"), ETCD_PKI_FILES.cert, ETCD_PKI_FILES.key);
        }
    }, 60_000);

    afterAll(async () => {
        await Promise.all([...procs.keys()].map(kill));
        rmSync(work, { recursive: true, force: true });
        if (pki) rmSync(pki.dir, { recursive: true, force: true });
    }, 30_000);

    it("first deployment: members join one after another, each a founder, and auth is bootstrapped", async () => {
        const first = await join_(three, 0, 0);
        expect(first.record).toEqual({ state: "new", initialCluster: etcdInitialCluster(three.spec, three.topology), dataDir: join(memberDir(0), "data") });
        expect(first.log).toContain("no member answers: a founder");
        start(three, 0, first.record);
        // Member 1 runs, but answers no client before it has a quorum: its rollout step lets member 2 start.
        const forming = await step(renderEtcdRolloutScript(three.spec), three, 0, 0);
        expect(forming.status, forming.out).toBe(0);
        expect(forming.stderr).toContain("the cluster is forming");
        for (const i of [1, 2]) {
            const j = await join_(three, i, 0);
            expect(j.record).toEqual({ ...first.record, dataDir: join(memberDir(i), "data") });
            start(three, i, j.record);
            const rolled = await step(renderEtcdRolloutScript(three.spec), three, i, 0);
            expect(rolled.status, rolled.out).toBe(0);
        }
        for (const i of [0, 1, 2]) await gate(three, i, 0);
        const boot = await runAsync("sh", ["-c", `${prelude(three, 0)}\n${renderEtcdBootstrapScript(three.spec, three.topology)}`], {
            env: { PATH: process.env.PATH, ETCD_ROOT_PASSWORD: rootPassword, ETCD_CONTROL_PLANE_PASSWORD: "cp-pw-1", ETCD_GATEWAY_PASSWORD: "gw-pw-1" },
            timeoutMs: 120_000,
        });
        expect(boot.status, boot.out).toBe(0);
        expect(ctl(three, ["put", "/apisix/routes/1", "before-scaling"]).status).toBe(0);
        // Re-running a healthy member's join moves nothing: the same record.
        const again = await join_(three, 1, 0);
        expect(again.log).toContain("already a healthy member");
        expect(again.record).toEqual(parseJoinRecord(`new ${first.record.initialCluster} ${join(memberDir(1), "data")}`));
    }, 180_000);

    it("a root password rotation: membership steps use the previous password until the bootstrap changes it", async () => {
        const next = `n$\`'${randomBytes(9).toString("base64url")}`;
        const bootstrap = (root: string, previous: string) =>
            runAsync("sh", ["-c", `${prelude(three, 0)}\n${renderEtcdBootstrapScript(three.spec, three.topology)}`], {
                env: { PATH: process.env.PATH, ETCD_ROOT_PASSWORD: root, ETCD_ROOT_PASSWORD_PREVIOUS: previous, ETCD_CONTROL_PLANE_PASSWORD: "cp-pw-1", ETCD_GATEWAY_PASSWORD: "gw-pw-1" },
                timeoutMs: 120_000,
            });
        // `pulumi up` runs the members' steps first: etcd still has the previous password.
        const gated = await step(renderEtcdGateScript(three.spec), three, 1, 0, { ETCD_ROOT_PASSWORD: next, ETCD_ROOT_PASSWORD_PREVIOUS: rootPassword });
        expect(gated.status, gated.out).toBe(0);
        expect(gated.stderr).toContain("etcd still has the previous root password");
        expect(gated.out).not.toContain(next);
        const rotated = await bootstrap(next, rootPassword);
        expect(rotated.status, rotated.out).toBe(0);
        expect(rotated.stderr).toContain("rotating the root password");
        // Afterwards the steps authenticate with the new one directly.
        const after = await step(renderEtcdGateScript(three.spec), three, 1, 0, { ETCD_ROOT_PASSWORD: next, ETCD_ROOT_PASSWORD_PREVIOUS: rootPassword });
        expect(after.status, after.out).toBe(0);
        expect(after.stderr).not.toContain("previous root password");
        // Back to the password the other cases use: a second rotation.
        expect((await bootstrap(rootPassword, next)).status).toBe(0);
    }, 180_000);

    it("a replaced member (an image upgrade): its rollout step holds the next member back until it is a healthy voter again", async () => {
        await kill(0);
        // Down while the others keep the quorum (and a leader): not a forming cluster, so the step fails.
        const held = await step(renderEtcdRolloutScript(three.spec), three, 0, 1, { ETCD_BOOTSTRAP_TRIES: "3" });
        expect(held.status).not.toBe(0);
        expect(held.stderr).toContain("not stopping the next member");
        expect(held.stderr).not.toContain("forming");
        start(three, 0, founderRecord(etcdInitialCluster(three.spec, three.topology), join(memberDir(0), "data")));
        const back = await step(renderEtcdRolloutScript(three.spec), three, 0, 1);
        expect(back.status, back.out).toBe(0);
        expect(back.stderr).toContain("a healthy voter again");
        expect(ctl(three, ["get", "/apisix/routes/1", "--print-value-only"], [etcdClientUrls(three.spec, three.topology)[0]]).stdout.trim()).toBe("before-scaling");
    }, 120_000);

    it("3 -> 5, through the aws target's steps (SSM): each new member joins as a learner, is promoted once caught up, one at a time", async () => {
        for (const i of [3, 4]) {
            const joined = await awsStep(renderEtcdJoinScript(five.spec), five, i);
            expect(joined.status, joined.out).toBe(0);
            // The instance's stdout is the step's: the record alone (etcdctl's and the script's talk is on stderr).
            expect(joined.stdout.trim().split("\n"), joined.out).toHaveLength(1);
            const j = { record: parseJoinRecord(joined.stdout) };
            expect(j.record.state).toBe("existing");
            expect(j.record.dataDir).toMatch(new RegExp(`^${join(memberDir(i), "data")}/[0-9a-f]+$`));
            expect(j.record.initialCluster.split(",")).toHaveLength(i + 1);
            expect(members(five).find((m) => m.name === "" || m.name === etcdMemberName(five.topology, i))?.learner ?? true).toBe(true);
            start(five, i, j.record);
            // A learner does not vote: its rollout step lets the next member go, its gate promotes it.
            const rolled = await awsStep(renderEtcdRolloutScript(five.spec), five, i);
            expect(rolled.status, rolled.out).toBe(0);
            expect(rolled.stderr).toContain("a learner");
            // The leadership on member 3, not the first member listed: a promotion sent to another member is forwarded.
            leadOn(five, 2);
            const promoted = await awsStep(renderEtcdGateScript(five.spec), five, i);
            expect(promoted.status, promoted.out).toBe(0);
            expect(promoted.stderr).toContain("promoting learner");
            // Sent to the leader itself: etcd forwards one sent to a follower without the caller's
            // credentials, the leader refuses it, and the caller waits out timeouts until it hits the leader.
            for (let m = 0; m <= i; m++) expect(readFileSync(join(memberDir(m), "etcd.log"), "utf8"), `member ${m + 1}'s log`).not.toContain("failed to promote a member");
            gated.set(i, promoted.stdout.trim());
            expect(members(five).filter((m) => !m.learner)).toHaveLength(i + 1);
        }
        const r = ctl(five, ["get", "/apisix/routes/1", "--print-value-only", "--consistency=s"], [etcdClientUrls(five.spec, five.topology)[4]]);
        expect(r.stdout.trim()).toBe("before-scaling");
        expect(ctl(five, ["put", "/apisix/routes/2", "five-members"]).status).toBe(0);
    }, 180_000);

    it("5 -> 3, through the aws target's steps (SSM, the gate's last stdout passed on): members are removed before they stop, last first, a leader hands its leadership over first, and quorum never drops", async () => {
        // Member 5 leads when its removal comes: the script moves the leadership before removing it.
        const moved = ctl(five, ["move-leader", gated.get(4)!]);
        expect(moved.status, moved.out).toBe(0);
        for (const i of [4, 3]) {
            const removals = join(work, "aws-removals.log");
            rmSync(removals, { force: true });
            const r = await awsStep(renderEtcdRemoveScript(five.spec), five, i, { PULUMI_COMMAND_STDOUT: `${gated.get(i)}\n` });
            expect(r.status, r.out).toBe(0);
            // Never sent to the member removed: it stops as it applies its removal ("server stopped").
            const sentTo = readFileSync(removals, "utf8").trim().split("\n");
            expect(sentTo.length).toBeGreaterThan(0);
            for (const endpoints of sentTo) expect(endpoints.split(",")).not.toContain(etcdClientUrls(five.spec, five.topology)[i]);
            expect(r.stderr).toContain(`removed member ${gated.get(i)}`);
            if (i === 4) expect(r.stderr).toContain(`handed the leadership from ${gated.get(4)} to`);
            await kill(i);
            expect(members(five).map((m) => m.name)).not.toContain(etcdMemberName(five.topology, i));
        }
        expect(members(three).map((m) => m.name).sort()).toEqual(["etcd-1-etcd", "etcd-2-etcd", "etcd-3-etcd"]);
        // A destroy deletes every gate: the last three stay members, so kept volumes form the cluster again.
        const last = await step(renderEtcdRemoveScript(three.spec), three, 2, 0, { PULUMI_COMMAND_STDOUT: `${gated.get(2)}\n` });
        expect(last.status, last.out).toBe(0);
        expect(last.stderr).toContain("only 2 voters would remain");
        expect(members(three)).toHaveLength(3);
        // A root password the step no longer holds (rotated in the same up): refused, and said why.
        const stale = await step(renderEtcdRemoveScript(three.spec), three, 2, 0, { PULUMI_COMMAND_STDOUT: `${gated.get(2)}\n`, ETCD_ROOT_PASSWORD: "stale-root-password" });
        expect(stale.status).not.toBe(0);
        expect(stale.stderr).toContain("etcd refused the root password this step last ran with");
        // Removing again finds nothing to do.
        const again = await step(renderEtcdRemoveScript(five.spec), five, 4, 0, { PULUMI_COMMAND_STDOUT: `${gated.get(4)}\n` });
        expect(again.status, again.out).toBe(0);
        expect(again.stderr).toContain("nothing to remove");
        expect(ctl(three, ["get", "/apisix/routes/2", "--print-value-only"]).stdout.trim()).toBe("five-members");
    }, 120_000);

    it("a member whose data was wiped is refused by etcd, then repaired by its join step: removed, added, caught up", async () => {
        await kill(1);
        rmSync(join(memberDir(1), "data"), { recursive: true, force: true });
        mkdirSync(join(memberDir(1), "data"), { mode: 0o700 });
        // Restarted as it was (founder flags, empty data): etcd refuses to start it.
        const refused = run(ETCD, etcdMemberArgs(three.spec, three.topology, 1, { dataDir: join(memberDir(1), "data"), pkiDir: join(memberDir(1), "pki") }), { timeoutMs: 20_000 });
        expect(refused.out).toContain("has already been bootstrapped");
        const oldId = members(three).find((m) => m.name === "etcd-2-etcd")!.id;

        const j = await join_(three, 1, 0);
        expect(j.log).toContain(`member ${oldId} is listed but not healthy`);
        expect(j.record.state).toBe("existing");
        start(three, 1, j.record);
        await gate(three, 1, 0);
        const now = members(three);
        expect(now.map((m) => m.name).sort()).toEqual(["etcd-1-etcd", "etcd-2-etcd", "etcd-3-etcd"]);
        expect(now.find((m) => m.name === "etcd-2-etcd")!.id).not.toBe(oldId);
        // The replaced gate's delete runs with the old ID: the new incarnation stays.
        const oldGate = await step(renderEtcdRemoveScript(three.spec), three, 1, 0, { PULUMI_COMMAND_STDOUT: `${oldId}\n` });
        expect(oldGate.status, oldGate.out).toBe(0);
        expect(oldGate.stderr).toContain("nothing to remove");
        expect(members(three).map((m) => m.name)).toContain("etcd-2-etcd");
        const r = ctl(three, ["get", "/apisix/routes/2", "--print-value-only", "--consistency=s"], [etcdClientUrls(three.spec, three.topology)[1]]);
        expect(r.stdout.trim()).toBe("five-members");
    }, 180_000);

    it("steps run against any healthy member: with member 1 down, the bootstrap and a gate still pass", async () => {
        await kill(0);
        const boot = await runAsync("sh", ["-c", `${prelude(three, 2)}\n${renderEtcdBootstrapScript(three.spec, three.topology)}`], {
            env: { PATH: process.env.PATH, ETCD_ROOT_PASSWORD: rootPassword, ETCD_CONTROL_PLANE_PASSWORD: "cp-pw-1", ETCD_GATEWAY_PASSWORD: "gw-pw-1", ETCD_BOOTSTRAP_TRIES: "2", ETCD_BOOTSTRAP_DELAY: "1" },
            timeoutMs: 60_000,
        });
        // The bootstrap checks every planned member: it reports member 1 down, from member 3.
        expect(boot.status).not.toBe(0);
        expect(boot.stderr).toContain("etcd did not report 3 healthy members");
        // A joining member would not be turned away: the cluster answers through members 2 and 3.
        const listed = await step(renderEtcdGateScript(three.spec), three, 2, 2);
        expect(listed.status, listed.out).toBe(0);
        // Member 1 back with its data: its founder flags are ignored, it rejoins.
        start(three, 0, founderRecord(etcdInitialCluster(three.spec, three.topology), join(memberDir(0), "data")));
        await gate(three, 0, 2);
    }, 120_000);

    it("a member given a new address is repaired by its join step: removed at the old one, added at the new one, caught up", async () => {
        const oldId = members(three).find((m) => m.name === "etcd-2-etcd")!.id;
        // Its certificate names the new address (on a target, the reissued certificate replaces the container anyway).
        const sans = etcdMemberSans(moved.topology, 1);
        pki.issue(etcdMemberName(moved.topology, 1), { ...sans, ipAddresses: [...sans.ipAddresses, "127.0.0.1"] }, join(memberDir(1), "pki"), ETCD_PKI_FILES.cert, ETCD_PKI_FILES.key);
        // The join step runs before the container is replaced: the member still serves at its old address.
        const j = await join_(moved, 1, 0);
        expect(j.log).toContain(`member ${oldId} is listed at ${etcdPeerUrl(three.spec, three.topology, 1)}, not ${etcdPeerUrl(moved.spec, moved.topology, 1)}: removing it`);
        expect(j.record.state).toBe("existing");
        expect(j.record.initialCluster).toContain(`etcd-2-etcd=${etcdPeerUrl(moved.spec, moved.topology, 1)}`);
        await kill(1);
        start(moved, 1, j.record);
        await gate(moved, 1, 0);
        const listed = ctl(moved, ["member", "list"]);
        expect(listed.stdout).toContain(`etcd-2-etcd, ${etcdPeerUrl(moved.spec, moved.topology, 1)}`);
        expect(listed.stdout).not.toContain(ADDRS[1]);
        expect(members(moved).filter((m) => !m.learner).map((m) => m.name).sort()).toEqual(["etcd-1-etcd", "etcd-2-etcd", "etcd-3-etcd"]);
        const r = ctl(moved, ["get", "/apisix/routes/2", "--print-value-only", "--consistency=s"], [etcdClientUrls(moved.spec, moved.topology)[1]]);
        expect(r.stdout.trim()).toBe("five-members");
    }, 180_000);

    it("refuses to found a second cluster: a new member while every deployed member is down", async () => {
        await Promise.all([0, 1, 2].map(kill));
        const r = await step(renderEtcdJoinScript(five.spec), five, 3, 0, { ETCD_BOOTSTRAP_TRIES: "2" });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("refusing to add a member that is not a founder until the cluster is back");
        expect(r.stdout).toBe("");
        // The end of a destroy: no member answers a gate's removal; it keeps the member and succeeds.
        const removal = await step(renderEtcdRemoveScript(three.spec), three, 0, 0, { PULUMI_COMMAND_STDOUT: `${gated.get(0)}\n` });
        expect(removal.status, removal.out).toBe(0);
        expect(removal.stderr).toContain("no etcd member answers (a destroy stops them one after another): it stays in the membership");
    }, 60_000);
});
