// The update drills' planner (scripts/lab/change.ts) on two mock-engine runs of the program: what
// `pulumi up` would create, update, replace or delete, and in which order.
import { describe, expect, it } from "vitest";
import { planChange, type ChangePlan, type RunRecord } from "../../scripts/lab/change";
import { unwrapSecrets } from "../../scripts/lib/mockEngine";
import { T, cfg, runPlatform } from "./helpers";

async function record(config: Record<string, unknown>): Promise<RunRecord> {
    const run = await runPlatform(cfg(config), { stack: "plan" });
    return { resources: run.resources.map((r) => ({ ...r, inputs: unwrapSecrets(r.inputs) as Record<string, unknown> })), registrations: run.registrations };
}

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

    it("an etcd image: the three members are replaced with nothing between them (the lab's update drill shows them out at once)", async () => {
        const plan = planChange(await record({ flavor: "apisix" }), await record({ flavor: "apisix", etcd: { image: "gcr.io/etcd-development/etcd:v3.5.22" } }));
        const members = plan.changes.filter((c) => c.type === T.container);
        expect(members.map((c) => c.name)).toEqual(["etcd-1-etcd", "etcd-2-etcd", "etcd-3-etcd"]);
        const chained = (i: number) => (plan.dependencies.get(`${T.container}::etcd-${i}-etcd`) ?? []).some((k) => k.includes("etcd-") && k.endsWith("-etcd") && k !== `${T.container}::etcd-${i}-etcd`);
        expect([1, 2, 3].map(chained)).toEqual([false, false, false]);
        expect(ops(plan)).toContain("delete local-gcr-io-etcd-development-etcd-v3-5-21");
    });
});
