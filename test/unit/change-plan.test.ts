// The update drills' planner (lab/change.ts) on two mock-engine runs of the program: what
// `pulumi up` would create, update, replace or delete, and in which order.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { APISIX_PATHS } from "../../components/render/gateway";
import { planChange, planDestroy, providerOp, type ChangePlan, type RunRecord } from "../../lab/change";
import { unwrapSecrets } from "../../scripts/lib/mockEngine";
import { T, planRecord } from "./helpers";

const record = planRecord;

const ops = (plan: ChangePlan) => plan.changes.map((c) => `${c.op} ${c.name}`);

describe("planning a change to a running stack", () => {
    it("the same config plans nothing", async () => {
        const a = await record({ flavor: "apisix" });
        expect(planChange(a, await record({ flavor: "apisix" })).changes).toEqual([]);
    });

    it("a gateway image: the new image pulled, each gateway replaced delete-first with its rollout step, the second after the first's step", async () => {
        const plan = planChange(await record({ flavor: "apisix" }), await record({ flavor: "apisix", dataPlane: { image: "apache/apisix:3.14.2-debian" } }));
        expect(ops(plan)).toEqual([
            "create local-apache-apisix-3-14-2-debian",
            "replace dp-1-gateway",
            "replace dp-1-gateway-rollout",
            "replace dp-2-gateway",
            "replace dp-2-gateway-rollout",
        ]);
        const gw1 = plan.changes.find((c) => c.name === "dp-1-gateway")!;
        expect(gw1.deleteFirst).toBe(true);
        expect(gw1.reason).toBe("image");
        // Its rollout step (the drain) is deleted before it, and the second gateway waits for the first's step.
        expect(plan.dependents.get(gw1.key)).toEqual([`${T.command}::dp-1-gateway-rollout`]);
        expect(plan.dependencies.get(`${T.container}::dp-2-gateway`)).toContain(`${T.command}::dp-1-gateway-rollout`);
        expect(plan.changes.find((c) => c.name === "dp-1-gateway-rollout")!.reason).toBe("triggers holds dp-1-gateway's ID");
    });

    it("a balancer health check: only the reload steps change; the balancer containers stay (their files are reloaded)", async () => {
        const plan = planChange(await record({ flavor: "apisix" }), await record({ flavor: "apisix", loadBalancer: { healthCheck: { rise: 3 } } }));
        expect(ops(plan)).toEqual(["replace lb-1-gateway-lb-reload", "replace lb-1-control-plane-lb-reload"]);
    });

    it("a third gateway: its container and rollout step are created, the balancers reload, no existing gateway changes", async () => {
        const plan = planChange(await record({ flavor: "apisix" }), await record({ flavor: "apisix", dataPlane: { replicas: 3 } }));
        const changed = ops(plan);
        expect(changed).toEqual(expect.arrayContaining(["create dp-3-gateway", "create dp-3-gateway-rollout", "replace lb-1-gateway-lb-reload"]));
        expect(changed.filter((c) => /dp-[12]-gateway/.test(c))).toEqual([]);
    });

    it("an etcd image: the members are replaced one at a time, each with its rollout step, the next after the previous one's step", async () => {
        const plan = planChange(await record({ flavor: "apisix" }), await record({ flavor: "apisix", etcd: { image: "gcr.io/etcd-development/etcd:v3.5.22" } }));
        expect(ops(plan).filter((c) => /etcd-\d-etcd/.test(c))).toEqual([
            "replace etcd-1-etcd",
            "replace etcd-1-etcd-rollout",
            "replace etcd-2-etcd",
            "replace etcd-2-etcd-rollout",
            "replace etcd-3-etcd",
            "replace etcd-3-etcd-rollout",
        ]);
        for (const i of [1, 2, 3]) {
            const key = `${T.container}::etcd-${i}-etcd`;
            expect(plan.changes.find((c) => c.key === key)!.deleteFirst).toBe(true);
            expect(plan.dependents.get(key)).toEqual([`${T.command}::etcd-${i}-etcd-rollout`]);
            if (i > 1) expect(plan.dependencies.get(key)).toContain(`${T.command}::etcd-${i - 1}-etcd-rollout`);
        }
        // Membership is untouched: no join or gate runs, so no member is removed or added.
        expect(ops(plan).filter((c) => /-etcd-(join|gate)$/.test(c))).toEqual([]);
        expect(ops(plan)).toContain("delete local-gcr-io-etcd-development-etcd-v3-5-21");
    });

    it("an etcd member given a new address: its join step runs again (remove and add, shown on real etcd) before its container is replaced; the other members keep every input", async () => {
        const nodes = (address: string) => [
            ...["172.28.0.11", address, "172.28.0.13"].map((a, i) => ({ name: `etcd-${i + 1}`, roles: ["etcd"], address: a })),
            { name: "cp-1", roles: ["control-plane"], address: "172.28.0.21" },
            { name: "dp-1", roles: ["data-plane"], address: "172.28.0.31" },
            { name: "dp-2", roles: ["data-plane"], address: "172.28.0.32" },
            { name: "lb-1", roles: ["load-balancer"], address: "172.28.0.41" },
        ];
        const before = await record({ flavor: "apisix", layout: "custom", nodes: nodes("172.28.0.12") });
        const founders = String((before.resources.find((r) => r.name === "gateway-ha-etcd-founders")!.inputs.environment as Record<string, string>).ETCD_PLANNED_FOUNDERS);
        // As the earlier up kept them: the founders record, and member 2's join re-run at the new address (a learner's record).
        const rejoined = `existing ${founders.replace("172.28.0.12", "172.28.0.16")} /var/lib/etcd/9f8e7d6c`;
        const after = await record(
            { flavor: "apisix", layout: "custom", nodes: nodes("172.28.0.16") },
            { stdoutOf: (name) => (name === "gateway-ha-etcd-founders" ? `${founders}\n` : name === "etcd-2-etcd-join" ? `${rejoined}\n` : undefined) },
        );
        const plan = planChange(before, after);
        const etcd = ops(plan).filter((c) => /etcd-\d-etcd/.test(c));
        expect(etcd).toEqual(expect.arrayContaining(["replace etcd-2-etcd-join", "replace etcd-2-etcd", "replace etcd-2-etcd-gate"]));
        expect(plan.changes.find((c) => c.name === "etcd-2-etcd-join")!.reason).toMatch(/triggers/);
        expect(plan.dependencies.get(`${T.container}::etcd-2-etcd`)).toContain(`${T.command}::etcd-2-etcd-join`);
        // Members 1 and 3 are neither replaced nor re-joined; their steps only learn the new endpoint list (an update prints the same record).
        expect(etcd.filter((c) => /etcd-[13]-etcd/.test(c) && !c.startsWith("update"))).toEqual([]);
    });

    it("upgrading a stack deployed before members were rolled: rollout steps created, the members' `wait` and stop grace changed in place, nothing replaced", async () => {
        const now = await record({ flavor: "apisix" });
        const earlier: RunRecord = {
            resources: now.resources
                .filter((r) => !/^etcd-\d-etcd-rollout$/.test(r.name))
                .map((r) => (r.type === T.container && /^etcd-\d-etcd$/.test(r.name) ? { ...r, inputs: { ...Object.fromEntries(Object.entries(r.inputs).filter(([k]) => k !== "destroyGraceSeconds")), wait: true } } : r)),
            registrations: now.registrations,
        };
        expect(ops(planChange(earlier, now))).toEqual([
            "update etcd-1-etcd",
            "create etcd-1-etcd-rollout",
            "update etcd-2-etcd",
            "create etcd-2-etcd-rollout",
            "update etcd-3-etcd",
            "create etcd-3-etcd-rollout",
        ]);
    });

    it("etcd 5 -> 3 with protected data fails as the engine's preview does, naming the protected volumes", async () => {
        const five = await record({ flavor: "apisix", etcd: { members: 5 } });
        expect(() => planChange(five, { ...five, resources: five.resources.filter((r) => !/etcd-[45]/.test(r.name)) })).toThrow(
            /pulumi up would fail at its preview: it would .*delete etcd-5-etcd-data.*delete etcd-4-etcd-data.*protected \(protectData/,
        );
    });

    it("etcd 5 -> 3 without protection: member 5's gate (member remove) goes before its container, then member 4's, and the consumers follow", async () => {
        const plan = planChange(await record({ flavor: "apisix", protectData: false, etcd: { members: 5 } }), await record({ flavor: "apisix", protectData: false, etcd: { members: 3 } }));
        const deletes = plan.changes.filter((c) => c.op === "delete").map((c) => c.name);
        // Removed resources are deleted last, in the reverse of their registration order.
        expect(deletes.indexOf("etcd-5-etcd-gate")).toBeLessThan(deletes.indexOf("etcd-5-etcd"));
        expect(deletes.indexOf("etcd-5-etcd")).toBeLessThan(deletes.indexOf("etcd-4-etcd-gate"));
        expect(deletes.indexOf("etcd-4-etcd-gate")).toBeLessThan(deletes.indexOf("etcd-4-etcd"));
        expect(deletes).toEqual(expect.arrayContaining(["etcd-5-etcd-data", "etcd-4-etcd-data", "etcd-5-etcd-join", "etcd-4-etcd-rollout"]));
        expect(ops(plan)).toEqual(expect.arrayContaining(["replace dp-1-gateway", "replace cp-1-apisix-cp", "replace gateway-ha-etcd-bootstrap"]));
    });

    it("--replace: the named resource is replaced whatever its inputs; an unknown name is refused", async () => {
        const a = await record({ flavor: "apisix" });
        const plan = planChange(a, a, { replace: ["etcd-2-etcd-join"] });
        expect(ops(plan)).toEqual(["replace etcd-2-etcd-join"]);
        expect(plan.changes[0].reason).toBe("--replace");
        expect(() => planChange(a, a, { replace: ["etcd-9-etcd-join"] })).toThrow(/--replace: no resource named etcd-9-etcd-join/);
    });

    it("root password rotation 0 -> 1 -> 2: a new password in the other slot each time, nothing protected replaced, no container touched", async () => {
        const at = (n: number) => record({ flavor: "apisix", etcd: { rootPasswordRotation: n } });
        const [r0, r1, r2] = [await at(0), await at(1), await at(2)];
        const first = planChange(r0, r1);
        expect(ops(first)).toContain("create gateway-ha-etcd-root-password-alt");
        expect(ops(first)).toContain("update gateway-ha-etcd-bootstrap");
        expect(ops(first).filter((c) => c.startsWith("replace") || c.startsWith("delete"))).toEqual([]);
        expect(first.changes.filter((c) => c.type === T.container)).toEqual([]);
        // Only the active slot is protected: the previous one is what the next rotation regenerates.
        const protectedIn = (r: RunRecord, name: string) => r.registrations.find((g) => g.name === name)!.protect;
        expect([protectedIn(r1, "gateway-ha-etcd-root-password-alt"), protectedIn(r1, "gateway-ha-etcd-root-password")]).toEqual([true, false]);
        const second = planChange(r1, r2);
        expect(ops(second)).toContain("replace gateway-ha-etcd-root-password");
        expect(ops(second).filter((c) => c.includes("root-password-alt"))).toEqual([]);
        expect(second.changes.filter((c) => c.type === T.container)).toEqual([]);
        // Rotation 0 leaves a stack deployed before rotation existed as it was: one password, no previous.
        const plain = unwrapSecrets(r0.resources.find((r) => r.name === "gateway-ha-etcd-bootstrap")!.inputs.environment) as Record<string, string>;
        expect(plain.ETCD_ROOT_PASSWORD_PREVIOUS).toBeUndefined();
        const env1 = unwrapSecrets(r1.resources.find((r) => r.name === "gateway-ha-etcd-bootstrap")!.inputs.environment) as Record<string, string>;
        const env2 = unwrapSecrets(r2.resources.find((r) => r.name === "gateway-ha-etcd-bootstrap")!.inputs.environment) as Record<string, string>;
        expect(env1.ETCD_ROOT_PASSWORD_PREVIOUS).toBe(plain.ETCD_ROOT_PASSWORD);
        expect(env2.ETCD_ROOT_PASSWORD_PREVIOUS).toBe(env1.ETCD_ROOT_PASSWORD);
    });

    it("consumer password rotation 0 -> 1 -> 2: new users' passwords in the other slot, consumers rolled one at a time, then the previous users revoked", async () => {
        const at = (n: number) => record({ flavor: "apisix", etcd: { consumerPasswordRotation: n } });
        const [r0, r1, r2] = [await at(0), await at(1), await at(2)];
        const first = planChange(r0, r1);
        expect(ops(first).slice(0, 4)).toEqual(["update gateway-ha-etcd-rotation-guard", "create gateway-ha-etcd-control-plane-password-alt", "create gateway-ha-etcd-gateway-password-alt", "update gateway-ha-etcd-bootstrap"]);
        expect(ops(first).at(-1)).toBe("create gateway-ha-etcd-revoke-previous-users");
        // Every consumer is replaced (new user and password), each role one replica after another; no etcd member changes.
        const replaced = first.changes.filter((c) => c.type === T.container).map((c) => c.name);
        expect(replaced.sort()).toEqual(["cp-1-apisix-cp", "cp-2-apisix-cp", "dp-1-gateway", "dp-2-gateway"]);
        expect(first.dependencies.get(`${T.container}::dp-2-gateway`)).toContain(`${T.command}::dp-1-gateway-rollout`);
        // The revoke waits for the bootstrap (the new users exist) and for every consumer back in rotation.
        const revokeDeps = first.dependencies.get(`${T.command}::gateway-ha-etcd-revoke-previous-users`);
        expect(revokeDeps).toEqual(expect.arrayContaining([`${T.command}::gateway-ha-etcd-bootstrap`, ...replaced.map((n) => `${T.command}::${n}-rollout`)]));
        const etcdUser = (r: RunRecord) => {
            const uploads = r.resources.find((x) => x.name === "dp-1-gateway")!.inputs.uploads as { file: string; content: string }[];
            return parse(uploads.find((u) => u.file === APISIX_PATHS.config)!.content).deployment.etcd.user;
        };
        expect([etcdUser(r0), etcdUser(r1), etcdUser(r2)]).toEqual(["gateway", "gateway-alt", "gateway"]);
        // Only the active slot is protected; the previous one is what the next rotation regenerates.
        const protectedIn = (r: RunRecord, name: string) => r.registrations.find((g) => g.name === name)!.protect;
        expect([protectedIn(r1, "gateway-ha-etcd-gateway-password-alt"), protectedIn(r1, "gateway-ha-etcd-gateway-password")]).toEqual([true, false]);
        const second = planChange(r1, r2);
        expect(ops(second)).toEqual(expect.arrayContaining(["replace gateway-ha-etcd-control-plane-password", "replace gateway-ha-etcd-gateway-password", "replace gateway-ha-etcd-revoke-previous-users"]));
        expect(ops(second).filter((c) => c.includes("password-alt"))).toEqual([]);
        // Before the first rotation there is nothing to revoke: no step.
        expect(r0.resources.some((r) => r.name.includes("revoke"))).toBe(false);
    });

    it("destroy --exclude-protected: everything but the etcd volumes, the active passwords and the founders record (with their parents) deleted, dependents first", async () => {
        const r = await record({ flavor: "apisix" });
        const { plan, kept } = planDestroy(r);
        const keptNames = kept.resources.filter((x) => !x.type.startsWith("gateway-ha:")).map((x) => x.name).sort();
        expect(keptNames).toEqual([
            "etcd-1-etcd-data",
            "etcd-2-etcd-data",
            "etcd-3-etcd-data",
            "gateway-ha-etcd-control-plane-password",
            "gateway-ha-etcd-founders",
            "gateway-ha-etcd-gateway-password",
            "gateway-ha-etcd-root-password",
            "gateway-ha-etcd-rotation-guard",
        ]);
        // Their parents stay in the state too (the engine keeps a protected resource's ancestors).
        expect(kept.resources.filter((x) => x.type.startsWith("gateway-ha:")).map((x) => x.name).sort()).toEqual(["gateway-ha", "gateway-ha-etcd"]);
        expect(plan.changes.every((c) => c.op === "delete")).toBe(true);
        expect(plan.changes).toHaveLength(r.resources.length - kept.resources.length);
        // A member's gate (its removal) goes before its container; a container before the network it joins.
        const at = (name: string) => plan.changes.findIndex((c) => c.name === name);
        for (const m of [1, 2, 3]) expect(at(`etcd-${m}-etcd-gate`)).toBeLessThan(at(`etcd-${m}-etcd`));
        expect(at("dp-1-gateway")).toBeLessThan(at("gateway-ha-docker-network"));
        // Without protectData nothing stays.
        expect(planDestroy(await record({ flavor: "apisix", protectData: false })).kept.resources.filter((x) => !x.type.startsWith("gateway-ha:"))).toEqual([]);
    });

    it("the Docker provider's rule: a container's inputs outside its schema's ForceNew set change in place", () => {
        expect(providerOp(T.container, ["wait"])).toBe("update");
        expect(providerOp(T.container, ["restart", "memory"])).toBe("update");
        expect(providerOp(T.container, ["wait", "image"])).toBe("replace");
        expect(providerOp(T.container, ["cpus"])).toBe("replace");
        expect(providerOp(T.command, ["environment"])).toBe("update");
        expect(providerOp(T.command, ["triggers"])).toBe("replace");
        expect(providerOp("docker:index/remoteImage:RemoteImage", ["keepLocally"])).toBe("replace");
    });
});

describe("planning etcd membership changes on the ssh target", () => {
    const names = ["etcd-1", "etcd-2", "etcd-3", "etcd-4", "etcd-5", "cp-1", "cp-2", "dp-1", "dp-2", "lb-1"];
    const nodes = names.map((name, i) => ({ name, address: `192.168.101.${11 + i}`, sshUser: "deploy" }));
    const ssh = (members: number, extra: Record<string, unknown> = {}) => ({
        flavor: "apisix",
        target: "ssh",
        layout: "standard",
        etcd: { members },
        nodes: nodes.filter((n) => !/^etcd-/.test(n.name) || Number(n.name.slice(5)) <= members),
        // The agent: no key to pass as a secret.
        ssh: { agent: true, knownHosts: nodes.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${n.name.replace("-", "")}mockhostkey`), firewall: { operatorCidrs: ["192.168.100.0/24"] } },
        ...extra,
    });
    /** The founders record as the first deployment (3 members) printed it. */
    const founded = async () => {
        const three = await record(ssh(3));
        return String((three.resources.find((r) => r.name === "gateway-ha-etcd-founders")!.inputs.environment as Record<string, string>).ETCD_PLANNED_FOUNDERS);
    };

    it("3 -> 5: the running members and their files stay; members 4 and 5 join one after the other, each started after its join", async () => {
        const founders = `${await founded()}\n`;
        const stdoutOf = (name: string) => (name === "gateway-ha-etcd-founders" ? founders : undefined);
        const plan = planChange(await record(ssh(3), { stdoutOf }), await record(ssh(5), { stdoutOf }));
        const changed = ops(plan);
        // No running member restarts: their Compose files (flags from the kept records) are the same.
        expect(changed.filter((c) => /^(replace|delete) etcd-[123]-etcd(-files|-copy.*)?$/.test(c))).toEqual([]);
        expect(changed).toEqual(expect.arrayContaining(["create etcd-4-etcd-join", "create etcd-4-etcd", "create etcd-4-etcd-gate", "create etcd-5-etcd-join", "create etcd-5-etcd", "create etcd-5-etcd-gate"]));
        expect(plan.dependencies.get(`${T.command}::etcd-5-etcd-join`)).toContain(`${T.command}::etcd-4-etcd-join`);
        expect(plan.dependencies.get(`${T.remoteCommand}::etcd-4-etcd`)).toContain(`${T.command}::etcd-4-etcd-join`);
        expect(plan.dependencies.get(`${T.command}::etcd-5-etcd-gate`)).toContain(`${T.command}::etcd-4-etcd-gate`);
        // The management channel's certificates and their balancer are not etcd's business: nothing of them changes
        // (a renewal window derived from etcd's member count once moved, and the lone balancer restarted mid-load).
        expect(changed.filter((c) => /-management-/.test(c) || / lb-\d+-control-plane-lb$/.test(c))).toEqual([]);
    });

    it("5 -> 3 without protection: member 5's gate (member remove) goes before its service, then member 4's", async () => {
        const plan = planChange(await record(ssh(5, { protectData: false })), await record(ssh(3, { protectData: false })));
        const deletes = plan.changes.filter((c) => c.op === "delete").map((c) => c.name);
        expect(deletes.indexOf("etcd-5-etcd-gate")).toBeGreaterThanOrEqual(0);
        expect(deletes.indexOf("etcd-5-etcd-gate")).toBeLessThan(deletes.indexOf("etcd-5-etcd"));
        expect(deletes.indexOf("etcd-5-etcd")).toBeLessThan(deletes.indexOf("etcd-4-etcd-gate"));
        expect(deletes.indexOf("etcd-4-etcd-gate")).toBeLessThan(deletes.indexOf("etcd-4-etcd"));
    });
});
