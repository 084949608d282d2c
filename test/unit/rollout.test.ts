// Rolling, health-gated replacement on the docker target, under the mock engine: each replica of a
// role behind balancers has a rollout step replaced with its container, and the next replica waits
// for it; what the steps run is checked against the real balancers in test/render/balancers.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import { GATEWAY_BACKENDS, STOP_MARGIN_SECONDS, controlPlaneBackend } from "../../components/render/rollout";
import { ROLLOUT_CONTAINER_ENV } from "../../components/targets/docker";
import { APISIX_PATHS } from "../../components/render/gateway";
import { q } from "../../components/render/ssh";
import { dpManagerIdentityConfig } from "../config";
import { T, cfg, dependsOn, find, ofType, registration, runPlatform, upload, type PlatformRun } from "./helpers";

const backends = (...names: string[]) => `for be in ${names.map(q).join(" ")}; do`;

const rollouts = (run: PlatformRun) => ofType(run, T.command).filter((c) => ROLLOUT_CONTAINER_ENV in ((c.inputs.environment as Record<string, string>) ?? {}));

describe("rolling replacement (docker target)", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ flavor: "apisix", dataPlane: { replicas: 3, shutdownTimeoutSeconds: 45 } }), { stack: "test" });
    });

    it("every gateway, control-plane and balancer container is replaced delete-first, and has a rollout step triggered by its ID", () => {
        const names = ["dp-1-gateway", "dp-2-gateway", "dp-3-gateway", "cp-1-apisix-cp", "cp-2-apisix-cp", "lb-1-gateway-lb", "lb-1-control-plane-lb"];
        for (const name of names) {
            expect(registration(run, T.container, name).deleteBeforeReplace, name).toBe(true);
            const step = find(run, T.command, `${name}-rollout`);
            expect(dependsOn(registration(run, T.command, step.name), T.container, name), name).toBe(true);
            // Its trigger is the container's ID: a replaced container replaces the step, whose deletion (the drain) runs first.
            expect(step.inputs.triggers, name).toEqual([`${name}-id`]);
            expect((step.inputs.environment as Record<string, string>)[ROLLOUT_CONTAINER_ENV]).toBe(`test-${name}`);
        }
        // etcd members roll through their membership steps, not this chain.
        expect(rollouts(run).map((r) => r.name).filter((n) => n.startsWith("etcd"))).toEqual([]);
    });

    it("each replica waits for the previous one's rollout step: one gateway, one control plane, one balancer at a time", () => {
        for (const [role, n] of [["dp", 3], ["cp", 2]] as const) {
            const service = role === "dp" ? "gateway" : "apisix-cp";
            expect(registration(run, T.container, `${role}-1-${service}`).dependencies.some((u) => u.endsWith("-rollout"))).toBe(false);
            for (let i = 2; i <= n; i++) expect(dependsOn(registration(run, T.container, `${role}-${i}-${service}`), T.command, `${role}-${i - 1}-${service}-rollout`), `${role}-${i}`).toBe(true);
        }
    });

    it("a balancer's reload step waits for the rollout step of every replica behind it: an added replica is ready before the balancer sends it requests", () => {
        const gatewayLb = registration(run, T.command, "lb-1-gateway-lb-reload");
        for (const i of [1, 2, 3]) expect(dependsOn(gatewayLb, T.command, `dp-${i}-gateway-rollout`), `dp-${i}`).toBe(true);
        expect(dependsOn(gatewayLb, T.command, "cp-1-apisix-cp-rollout")).toBe(false);
        const cpLb = registration(run, T.command, "lb-1-control-plane-lb-reload");
        for (const i of [1, 2]) expect(dependsOn(cpLb, T.command, `cp-${i}-apisix-cp-rollout`), `cp-${i}`).toBe(true);
        expect(dependsOn(cpLb, T.command, "dp-1-gateway-rollout")).toBe(false);
    });

    it("the drain step takes the gateway out of both gateway backends of every balancer, then stops it with its graceful signal above its shutdown timeout", () => {
        const step = find(run, T.command, "dp-2-gateway-rollout");
        const drain = step.inputs.delete as string;
        expect(drain).toContain(`balancers='|test-lb-1-gateway-lb'`);
        expect(drain).toContain(backends(...GATEWAY_BACKENDS));
        expect(drain).toContain('setsrv "$b" "$be" "state drain"');
        expect(drain).toContain("server='dp-2'");
        expect(drain).toContain(`stop --signal QUIT --time ${45 + STOP_MARGIN_SECONDS} "\${self#*|}"`);
        // The drain waits for the sessions to end, at most the shutdown timeout.
        expect(drain).toContain('while [ "$i" -lt 45 ]; do');
        const ready = step.inputs.create as string;
        expect(ready).toContain('setsrv "$b" "$be" "state ready"');
        expect(ready).toContain('= UP ]');
        expect(step.inputs.update).toBe(ready);
    });

    it("the gateways stop within the shutdown timeout the rollout waits for: nginx_config.worker_shutdown_timeout", () => {
        const config = upload(find(run, T.container, "dp-1-gateway"), APISIX_PATHS.config);
        expect(config).toMatch(/nginx_config:\n\s+worker_shutdown_timeout: 45s/);
    });

    it("the control plane drains on its own backends", () => {
        const drain = find(run, T.command, "cp-1-apisix-cp-rollout").inputs.delete as string;
        expect(drain).toContain(`balancers='|test-lb-1-control-plane-lb'`);
        expect(drain).toContain(backends(controlPlaneBackend("apisix-admin")));
    });
});

describe("rolling replacement behind other balancers", () => {
    it("api7-v3: dashboard and DP Manager each drain on their own port's backend and chain separately", async () => {
        const run = await runPlatform(cfg({ flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://u:pw@db:5432/api7ee?sslmode=verify-full" }, dataPlane: { dpManagerIdentity: dpManagerIdentityConfig() } }), {
            stack: "test",
            secretKeys: ["gateway-ha:controlPlane", "gateway-ha:dataPlane"],
        });
        expect(find(run, T.command, "cp-1-dashboard-rollout").inputs.delete).toContain(backends(controlPlaneBackend("dashboard")));
        expect(find(run, T.command, "cp-1-dp-manager-rollout").inputs.delete).toContain(backends(controlPlaneBackend("dp-manager")));
        expect(find(run, T.command, "cp-1-dp-manager-rollout").inputs.delete).toContain("stop --signal TERM");
        expect(dependsOn(registration(run, T.container, "cp-2-dp-manager"), T.command, "cp-1-dp-manager-rollout")).toBe(true);
        expect(dependsOn(registration(run, T.container, "cp-2-dashboard"), T.command, "cp-1-dashboard-rollout")).toBe(true);
        expect(dependsOn(registration(run, T.container, "cp-2-dashboard"), T.command, "cp-1-dp-manager-rollout")).toBe(false);
    });

    it("nginx has no runtime state: nothing is drained, and the ready step waits its fail_timeout (interval x fall)", async () => {
        const run = await runPlatform(cfg({ flavor: "apisix", loadBalancer: { kind: "nginx", healthCheck: { intervalSeconds: 3, fall: 4 } } }), { stack: "test" });
        const step = find(run, T.command, "dp-1-gateway-rollout");
        expect(step.inputs.delete).not.toContain("state drain");
        expect(step.inputs.delete).not.toContain("for b in $balancers");
        expect(step.inputs.delete).toContain("stop --signal QUIT");
        expect(step.inputs.create).toContain("sleep 12");
    });
});
