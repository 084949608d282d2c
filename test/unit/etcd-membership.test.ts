// etcd membership as code under the mock engine, on the docker target (the steps, their order:
// members rolled one at a time; what a deployed stack's kept records do to the member containers
// when it scales or heals), on aws (the same steps through SSM) and on ssh.
import { beforeAll, describe, expect, it } from "vitest";
import { loadPlatform } from "../../components/config";
import { etcdInitialCluster, etcdMemberArgs } from "../../components/render/etcd";
import { ETCD_MEMBER_ENV, formatJoinRecord, parseJoinRecord } from "../../components/render/etcdMembership";
import { parse as parseYaml } from "yaml";
import { isSecretWrapper, unwrapSecrets } from "../../scripts/lib/mockEngine";
import { T, cfg, dependsOn, find, ofType, registration, runPlatform, type PlatformRun } from "./helpers";

const config = (members: number) => cfg({ flavor: "apisix", etcd: { members } });
const spec3 = loadPlatform(config(3), { project: "gateway-ha", stack: "test" });
const spec5 = loadPlatform(config(5), { project: "gateway-ha", stack: "test" });
const FOUNDERS = etcdInitialCluster(spec3.spec, spec3.topology);

const env = (run: PlatformRun, name: string) => unwrapSecrets(find(run, T.command, name).inputs.environment) as Record<string, string>;
const command = (run: PlatformRun, member: number) => find(run, T.container, `etcd-${member}-etcd`).inputs.command as string[];
const flagOf = (cmd: string[], name: string) => cmd.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

describe("etcd membership steps (docker target)", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config(3), { stack: "test" });
    });

    it("a first deployment: founders record, then per member join -> container -> gate, joins and gates each in member order", () => {
        const founders = find(run, T.command, "gateway-ha-etcd-founders");
        expect(env(run, founders.name).ETCD_PLANNED_FOUNDERS).toBe(FOUNDERS);
        // A record: updates print the first stdout again; only a replacement runs the script.
        expect(founders.inputs.update).toBe(`printf '%s\\n' "$PULUMI_COMMAND_STDOUT"`);
        for (const i of [1, 2, 3]) {
            const join = registration(run, T.command, `etcd-${i}-etcd-join`);
            const gate = registration(run, T.command, `etcd-${i}-etcd-gate`);
            expect(dependsOn(join, T.command, i === 1 ? founders.name : `etcd-${i - 1}-etcd-join`)).toBe(true);
            expect(dependsOn(registration(run, T.container, `etcd-${i}-etcd`), T.command, join.name)).toBe(true);
            expect(dependsOn(gate, T.container, `etcd-${i}-etcd`)).toBe(true);
            if (i > 1) expect(dependsOn(gate, T.command, `etcd-${i - 1}-etcd-gate`)).toBe(true);
            const joinIn = find(run, T.command, join.name).inputs;
            expect(joinIn.update).toBe(`printf '%s\\n' "$PULUMI_COMMAND_STDOUT"`);
            expect(joinIn.triggers).toEqual([env(run, join.name)[ETCD_MEMBER_ENV.peerUrl], env(run, join.name)[ETCD_MEMBER_ENV.clientUrl]]);
            expect(env(run, join.name)[ETCD_MEMBER_ENV.founders]).toBe(FOUNDERS);
            const gateIn = find(run, T.command, gate.name).inputs;
            // Deleting the gate removes the member, before its container goes (the container is what the gate depends on).
            expect(gateIn.delete).toContain("etcd member removal");
            expect(gateIn.delete).toContain("change remove");
            expect(gateIn.triggers).toEqual([formatJoinRecord({ state: "new", initialCluster: FOUNDERS, dataDir: "/var/lib/etcd" }) + "\n"]);
        }
    });

    it("founders start with the same flags as before membership was managed: an existing stack's members are not replaced", () => {
        for (const i of [1, 2, 3]) {
            expect(command(run, i)).toEqual(["/usr/local/bin/etcd", ...etcdMemberArgs(spec3.spec, spec3.topology, i - 1)]);
            // Their rollout steps gate them instead (Docker's `wait` changes in place, see change-plan.test.ts).
            expect(find(run, T.container, `etcd-${i}-etcd`).inputs.wait).toBe(false);
        }
    });

    it("member containers roll one at a time: each one's rollout step (its container's ID as trigger) before the next container", () => {
        for (const i of [1, 2, 3]) {
            const rollout = find(run, T.command, `etcd-${i}-etcd-rollout`);
            expect(rollout.inputs.triggers).toEqual([`etcd-${i}-etcd-id`]);
            expect(rollout.inputs.create).toContain("etcd member rollout step");
            expect(rollout.inputs.delete).toBeUndefined();
            expect(dependsOn(registration(run, T.command, rollout.name), T.container, `etcd-${i}-etcd`)).toBe(true);
            const container = registration(run, T.container, `etcd-${i}-etcd`);
            expect(container.deleteBeforeReplace).toBe(true);
            // Removed with `docker stop` first: a leader hands its leadership over instead of vanishing.
            expect(find(run, T.container, `etcd-${i}-etcd`).inputs.destroyGraceSeconds).toBe(30);
            if (i > 1) expect(dependsOn(container, T.command, `etcd-${i - 1}-etcd-rollout`)).toBe(true);
            else expect(container.dependencies.some((u) => u.includes("-rollout"))).toBe(false);
        }
    });

    it("the root password reaches the steps as a secret, never in a script", () => {
        for (const name of ["etcd-2-etcd-join", "etcd-2-etcd-gate", "etcd-2-etcd-rollout"]) {
            const r = find(run, T.command, name);
            const pw = env(run, name).ETCD_ROOT_PASSWORD;
            expect(pw).toMatch(/^mockpw-/);
            const e = r.inputs.environment as Record<string, unknown>;
            expect(isSecretWrapper(e) || isSecretWrapper(e.ETCD_ROOT_PASSWORD)).toBe(true);
            for (const script of [r.inputs.create, r.inputs.update, r.inputs.delete]) expect(String(script ?? "")).not.toContain(pw);
        }
    });
});

describe("a deployed 3-member stack scaled to 5 (records as the earlier up kept them)", () => {
    let three: PlatformRun;
    let five: PlatformRun;
    const joined = (member: number) => `existing ${FOUNDERS},etcd-${member}-etcd=https://172.28.0.${10 + member}:2380 /var/lib/etcd/${member}a2b3c4d5e6f7`;
    beforeAll(async () => {
        three = await runPlatform(config(3), { stack: "test" });
        five = await runPlatform(config(5), {
            stack: "test",
            stdoutOf: (name) => (name === "gateway-ha-etcd-founders" ? `${FOUNDERS}\n` : name === "etcd-4-etcd-join" ? joined(4) : name === "etcd-5-etcd-join" ? joined(5) : undefined),
        });
    });

    it("members 1-3 keep every input: nothing replaces or restarts them", () => {
        for (const i of [1, 2, 3]) expect(find(five, T.container, `etcd-${i}-etcd`).inputs).toEqual(find(three, T.container, `etcd-${i}-etcd`).inputs);
    });

    it("members 4 and 5 start from their join records: existing cluster, own data dir, not waited on until their gate promotes them", () => {
        expect(etcdInitialCluster(spec5.spec, spec5.topology)).not.toBe(FOUNDERS);
        for (const i of [4, 5]) {
            const cmd = command(five, i);
            const record = parseJoinRecord(joined(i));
            expect(flagOf(cmd, "initial-cluster-state")).toBe("existing");
            expect(flagOf(cmd, "initial-cluster")).toBe(record.initialCluster);
            expect(flagOf(cmd, "data-dir")).toBe(record.dataDir);
            expect(find(five, T.container, `etcd-${i}-etcd`).inputs.wait).toBe(false);
        }
        expect(dependsOn(registration(five, T.command, "etcd-5-etcd-join"), T.command, "etcd-4-etcd-join")).toBe(true);
        expect(dependsOn(registration(five, T.command, "etcd-5-etcd-gate"), T.command, "etcd-4-etcd-gate")).toBe(true);
        // The consumers get the five endpoints only after every gate (through the bootstrap).
        const boot = registration(five, T.command, "gateway-ha-etcd-bootstrap");
        for (const i of [1, 2, 3, 4, 5]) expect(dependsOn(boot, T.command, `etcd-${i}-etcd-gate`)).toBe(true);
    });

    it("a repaired member (its join replaced) starts as a learner in a fresh data dir", async () => {
        const repaired = await runPlatform(config(3), { stack: "test", stdoutOf: (name) => (name === "etcd-2-etcd-join" ? `existing ${FOUNDERS} /var/lib/etcd/9f8e7d` : undefined) });
        const cmd = command(repaired, 2);
        expect(flagOf(cmd, "data-dir")).toBe("/var/lib/etcd/9f8e7d");
        expect(flagOf(cmd, "initial-cluster-state")).toBe("existing");
        expect(find(repaired, T.container, "etcd-2-etcd").inputs.wait).toBe(false);
        // Its gate runs again (its trigger is the record); the others are untouched.
        expect(find(repaired, T.command, "etcd-2-etcd-gate").inputs.triggers).not.toEqual(find(three, T.command, "etcd-2-etcd-gate").inputs.triggers);
        expect(find(repaired, T.container, "etcd-1-etcd").inputs).toEqual(find(three, T.container, "etcd-1-etcd").inputs);
    });
});

describe("parseJoinRecord", () => {
    it("reads the three fields and refuses anything else, naming the line", () => {
        expect(parseJoinRecord("noise on stderr is not here\nnew a=https://10.0.0.1:2380,b=https://10.0.0.2:2380 /var/lib/etcd\n")).toEqual({
            state: "new",
            initialCluster: "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380",
            dataDir: "/var/lib/etcd",
        });
        expect(() => parseJoinRecord("")).toThrow(/expected "<new\|existing> <initial cluster> <data dir>"/);
        expect(() => parseJoinRecord("joined a=https://x:2380 /d")).toThrow(/printed "joined/);
        expect(() => parseJoinRecord("existing a=https://x:2380 relative/dir")).toThrow(/expected/);
        expect(() => parseJoinRecord("existing a=https://x:2380;rm /d")).toThrow(/not name=peerURL/);
    });
});

describe("etcd membership on the aws target: steps on the deployer that run on a member's instance through SSM", () => {
    const awsConfig = (members: number) => cfg({ target: "aws", layout: "standard", aws: { region: "eu-west-1" }, etcd: { members } });
    const PREFIX = "gateway-ha-aws";
    const INSTANCE = "aws:ec2/instance:Instance";
    const PARAMETER = "aws:ssm/parameter:Parameter";
    const awsSpec = (members: number) => loadPlatform(awsConfig(members), { project: "gateway-ha", stack: "prod" });
    const founded = etcdInitialCluster(awsSpec(3).spec, awsSpec(3).topology);
    const userData = (run: PlatformRun, node: string) => String(find(run, INSTANCE, `${PREFIX}-${node}`).inputs.userData);
    const compose = (run: PlatformRun, node: string) => {
        const files = (parseYaml(userData(run, node)) as { write_files: { path: string; content: string }[] }).write_files;
        return parseYaml(files.find((f) => f.path === "/opt/gateway-ha/compose.yaml")!.content) as { services: Record<string, { command: string[]; labels: Record<string, string> }> };
    };
    const script = (run: PlatformRun, name: string) => String(find(run, T.command, name).inputs.create);
    const body = (run: PlatformRun, name: string) => Buffer.from(/^gwha_script=(\S+)$/m.exec(script(run, name))![1], "base64").toString("utf8");
    let three: PlatformRun;
    beforeAll(async () => {
        three = await runPlatform(awsConfig(3), { stack: "prod" });
    });

    it("per member a join, rollout and gate step, each run through SSM on the first running member (found by its tags when it runs), never on the deployer's plan of instance IDs", () => {
        for (const i of [1, 2, 3]) {
            for (const step of ["join", "rollout", "gate"]) {
                const name = `etcd-${i}-etcd-${step}`;
                expect(script(three, name)).toContain("aws ssm send-command");
                expect(body(three, name)).toContain(step === "join" ? "etcd join step" : step === "gate" ? "etcd member gate" : "etcd member rollout step");
                for (const m of [1, 2, 3]) expect(script(three, name)).toContain(`gwha_try 'etcd-${m}'`);
                // No instance is an input of a step: a join waits for no instance, whose user data waits for the join's record.
                expect(registration(three, T.command, name).dependencies.filter((u) => u.includes(INSTANCE)), name).toEqual([]);
            }
            expect(find(three, T.command, `etcd-${i}-etcd-gate`).inputs.delete).toContain("aws ssm send-command");
            // The gate (promote, health) waits for its member's node to have booted and its etcd to run.
            expect(dependsOn(registration(three, T.command, `etcd-${i}-etcd-gate`), T.command, `${PREFIX}-etcd-${i}-gate`)).toBe(true);
            if (i > 1) expect(dependsOn(registration(three, T.command, `etcd-${i}-etcd-join`), T.command, `etcd-${i - 1}-etcd-join`)).toBe(true);
        }
        // The bootstrap is a step too, after every gate: pulumi up fails on a cluster that is not healthy.
        const boot = registration(three, T.command, "gateway-ha-etcd-bootstrap");
        for (const i of [1, 2, 3]) expect(dependsOn(boot, T.command, `etcd-${i}-etcd-gate`)).toBe(true);
    });

    it("the steps wait for another member as long as a node may take to boot (the first deployment's gate waits for the quorum the next instance makes); docker's keep the scripts' default", async () => {
        for (const step of ["join", "rollout", "gate"]) expect(env(three, `etcd-1-etcd-${step}`).ETCD_BOOTSTRAP_TRIES, step).toBe("450");
        const docker = await runPlatform(config(3), { stack: "test" });
        expect(env(docker, "etcd-1-etcd-gate").ETCD_BOOTSTRAP_TRIES).toBeUndefined();
    });

    it("members restart one at a time, each once the previous one is back as a healthy voter: its instance waits for the previous member's rollout step and its own join", () => {
        for (const i of [2, 3]) {
            const instance = registration(three, INSTANCE, `${PREFIX}-etcd-${i}`);
            expect(dependsOn(instance, T.command, `etcd-${i - 1}-etcd-rollout`), `etcd-${i}`).toBe(true);
            expect(dependsOn(instance, T.command, `etcd-${i}-etcd-join`), `etcd-${i}`).toBe(true);
        }
        expect(registration(three, INSTANCE, `${PREFIX}-etcd-1`).dependencies.filter((u) => u.includes("-rollout"))).toEqual([]);
        // The rollout step runs again whenever its member's node restarts (its gate is replaced).
        expect(find(three, T.command, "etcd-2-etcd-rollout").inputs.triggers).toEqual([`${PREFIX}-etcd-2-gate-id`]);
    });

    it("members start with the founders' flags from their join records, and their node's gate waits for them to run only (their steps check health)", () => {
        for (const i of [1, 2, 3]) {
            const svc = compose(three, `etcd-${i}`).services[`etcd-${i}-etcd`];
            expect(svc.command).toEqual(["/usr/local/bin/etcd", ...etcdMemberArgs(awsSpec(3).spec, awsSpec(3).topology, i - 1)]);
            expect(svc.labels["gateway-ha.wait"]).toBe("running");
        }
        expect(compose(three, "dp-1").services["dp-1-gateway"].labels["gateway-ha.wait"]).toBeUndefined();
    });

    it("the root password: one parameter per member node, shared by every step, read by that node's instance; no value in any script", () => {
        const params = ofType(three, PARAMETER).filter((p) => String(p.inputs.name).endsWith("/steps/env/ETCD_ROOT_PASSWORD"));
        expect(params.map((p) => p.inputs.name).sort()).toEqual([1, 2, 3].map((i) => `/gateway-ha/prod/etcd-${i}/steps/env/ETCD_ROOT_PASSWORD`));
        for (const p of params) expect(isSecretWrapper(p.inputs.value)).toBe(true);
        const pw = (unwrapSecrets(params[0].inputs.value) as string);
        for (const c of ofType(three, T.command)) for (const k of ["create", "update", "delete"]) expect(String(c.inputs[k] ?? ""), c.name).not.toContain(pw);
        const e = find(three, T.command, "etcd-2-etcd-gate").inputs.environment;
        expect(isSecretWrapper(e) || isSecretWrapper((e as Record<string, unknown>).ETCD_ROOT_PASSWORD)).toBe(true);
    });

    it("3 -> 5 on a stack founded with 3: members 1-3 keep their user data (no restart); 4 and 5 join one after the other from their records", async () => {
        const joined = (m: number) => `existing ${founded},etcd-${m}-etcd=https://10.0.1.${m}:2380 /var/lib/etcd/${m}a2b3c4`;
        const five = await runPlatform(awsConfig(5), {
            stack: "prod",
            stdoutOf: (name) => (name === "gateway-ha-etcd-founders" ? `${founded}\n` : name === "etcd-4-etcd-join" ? joined(4) : name === "etcd-5-etcd-join" ? joined(5) : undefined),
        });
        for (const i of [1, 2, 3]) expect(userData(five, `etcd-${i}`), `etcd-${i}`).toBe(userData(three, `etcd-${i}`));
        for (const i of [4, 5]) {
            const cmd = compose(five, `etcd-${i}`).services[`etcd-${i}-etcd`].command;
            expect(flagOf(cmd, "initial-cluster-state")).toBe("existing");
            expect(flagOf(cmd, "data-dir")).toBe(parseJoinRecord(joined(i)).dataDir);
        }
        expect(dependsOn(registration(five, T.command, "etcd-5-etcd-join"), T.command, "etcd-4-etcd-join")).toBe(true);
        expect(dependsOn(registration(five, T.command, "etcd-5-etcd-gate"), T.command, "etcd-4-etcd-gate")).toBe(true);
    });

    it("5 -> 3: each removed member's gate (member remove on deletion) depends on its node's gate and instance, so it goes before them, 5 before 4", async () => {
        const five = await runPlatform(awsConfig(5), { stack: "prod" });
        for (const i of [4, 5]) {
            const gate = registration(five, T.command, `etcd-${i}-etcd-gate`);
            expect(dependsOn(gate, T.command, `${PREFIX}-etcd-${i}-gate`)).toBe(true);
            expect(dependsOn(registration(five, T.command, `${PREFIX}-etcd-${i}-gate`), INSTANCE, `${PREFIX}-etcd-${i}`)).toBe(true);
            expect(find(five, T.command, gate.name).inputs.delete).toContain("aws ssm send-command");
        }
        expect(dependsOn(registration(five, T.command, "etcd-5-etcd-gate"), T.command, "etcd-4-etcd-gate")).toBe(true);
        const removal = Buffer.from(/^gwha_script=(\S+)$/m.exec(String(find(five, T.command, "etcd-5-etcd-gate").inputs.delete))![1], "base64").toString("utf8");
        expect(removal).toContain("etcd member removal");
    });
});

describe("the ssh target manages membership: a changed member list plans member steps, not a refusal", () => {
    const names = ["etcd-1", "etcd-2", "etcd-3", "etcd-4", "etcd-5", "cp-1", "cp-2", "dp-1", "dp-2", "lb-1"];
    const nodes = names.map((name, i) => ({ name, address: `192.168.101.${11 + i}`, sshUser: "deploy" }));
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAmockmockmockSECRETKEYBODY\n-----END OPENSSH PRIVATE KEY-----\n";
    // Every node pinned, the unused ones (etcd-4, etcd-5 at 3 members) included: entries name nodes the layout may place.
    const sshConfig = (members: number) =>
        cfg({ target: "ssh", layout: "standard", etcd: { members }, nodes: nodes.filter((n) => !/^etcd-/.test(n.name) || Number(n.name.slice(5)) <= members), ssh: { privateKey: key, knownHosts: nodes.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${n.name.replace("-", "")}mockhostkey`) , firewall: { operatorCidrs: ["192.168.100.0/24"] } } });

    it("3 -> 5 on a stack founded with 3: every member has its join, rollout and gate, the new ones after the founders", async () => {
        const three = loadPlatform(sshConfig(3), { project: "gateway-ha", stack: "onprem" });
        const founded = etcdInitialCluster(three.spec, three.topology);
        const run = await runPlatform(sshConfig(5), { stack: "onprem", secretKeys: ["gateway-ha:ssh"], stdoutOf: (name) => (name === "gateway-ha-etcd-founders" ? `${founded}\n` : undefined) });
        const members = ofType(run, T.command).filter((c) => c.name.endsWith("-etcd-join")).map((c) => c.name);
        expect(members).toHaveLength(5);
        for (const m of members) expect(env(run, m)[ETCD_MEMBER_ENV.founders], m).toBe(founded);
        // One membership change at a time: each join waits for the previous one.
        for (let i = 1; i < members.length; i++) expect(dependsOn(registration(run, T.command, members[i]), T.command, members[i - 1]), members[i]).toBe(true);
    });
});
