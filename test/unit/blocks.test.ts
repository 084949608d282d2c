// The building blocks on their own (gateway-ha/blocks): a program that composes etcd, gateways and
// balancers itself (examples/blocks) runs under the mock engine; each block checks its Args at the
// top of its constructor; GatewayPlatform is made of exactly these blocks.
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import { defaultState } from "../../scripts/lib/mockEngine";
import { ofType, ROOT, runPlatform, scanRun, T, upload } from "./helpers";

describe("a program composing the blocks itself (examples/blocks)", () => {
    it("deploys etcd, three gateways and nginx in front of them on its own network, and no control plane", async () => {
        const run = await runPlatform({}, { program: join(ROOT, "examples", "blocks", "index.ts") });
        const containers = ofType(run, T.container);
        const services = containers.map((c) => c.inputs.name as string).filter((n) => !/-(etcd|cp|dp|lb)-\d+$/.test(n));
        expect(services.filter((n) => n.endsWith("-etcd"))).toHaveLength(3);
        expect(services.filter((n) => n.endsWith("-gateway"))).toHaveLength(3);
        // Only the gateways' balancer: the plan runs no control plane.
        expect(services.filter((n) => n.includes("-lb-"))).toEqual([`${run.stack}-edge-lb-1-gateway-lb`]);
        expect(services.some((n) => /-cp-|control-plane|apisix-cp/.test(n))).toBe(false);
        expect(ofType(run, T.network).map((n) => n.inputs.name)).toEqual(["edge"]);

        // The balancer node publishes the gateways' ports only.
        const anchor = containers.find((c) => c.inputs.name === `${run.stack}-edge-lb-1`)!;
        expect((anchor.inputs.ports as { external: number }[]).map((p) => p.external).sort()).toEqual([8080, 8443]);
        // Every node at the address the whole platform gives it: etcd-1 first, the gateways after the two control-plane addresses.
        const address = (node: string) => ((containers.find((c) => c.inputs.name === `${run.stack}-edge-${node}`)!.inputs.networksAdvanced as { ipv4Address: string }[])[0].ipv4Address);
        expect(["etcd-1", "etcd-3", "dp-1", "dp-3", "lb-1"].map(address)).toEqual(["172.30.0.11", "172.30.0.13", "172.30.0.16", "172.30.0.80", "172.30.0.18"]);

        const lb = containers.find((c) => c.inputs.name === `${run.stack}-edge-lb-1-gateway-lb`)!;
        const conf = upload(lb, "/etc/nginx/gateway-lb.conf");
        for (const dp of ["172.30.0.16", "172.30.0.17", "172.30.0.80"]) expect(conf).toContain(`server ${dp}:80 `);
        expect(run.outputs.gatewayUrl.value).toBe("http://127.0.0.1:8080");
        expect(run.outputs.etcdEndpoints.value).toEqual(["https://172.30.0.11:2379", "https://172.30.0.12:2379", "https://172.30.0.13:2379"]);
        expect(run.outputs.controlPlaneEtcdUser.secret).toBe(true);
        // No password or key the blocks generated appears in plain anywhere: inputs, state, outputs.
        expect(run.generatedSecrets.length).toBeGreaterThan(5);
        expect(scanRun(run, run.generatedSecrets)).toEqual([]);
    });
});

/** The blocks module and a mock engine that records what registers. */
async function blocksUnderMocks(stack: string) {
    const registered: string[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource: (a) => (registered.push(a.name), { id: `${a.name}-id`, state: defaultState(a.type, a.name, a.inputs) }),
            call: () => ({}),
        },
        "gateway-ha",
        stack,
        false,
    );
    vi.resetModules();
    const blocks = await import("gateway-ha/blocks");
    return { blocks, registered };
}

/** Lets the resources a test created finish registering before the next test replaces the mocks. */
const settled = () => new Promise((r) => setTimeout(r, 100));

const message = (f: () => unknown): string => {
    try {
        f();
    } catch (e) {
        return (e as Error).message;
    }
    return "(no error)";
};

describe("each block checks its Args at the top of its constructor, naming the argument", () => {
    it("a target without a plan, a block without a target, a reference on another target, a missing etcd: refused, nothing registered", async () => {
        const { blocks, registered } = await blocksUnderMocks("block-args");
        const { DockerTarget, EtcdCluster, GatewayGroup, LoadBalancer, planPlatform } = blocks;
        expect(message(() => new DockerTarget("t", {} as never))).toBe("DockerTarget t: args.plan must be a platform's plan (planPlatform), got undefined");
        const nodes = ["node-1", "node-2", "node-3", "node-4", "node-5", "lb-1"].map((name, i) => ({ name, address: `10.0.0.${i + 1}`, sshUser: "deploy" }));
        const knownHosts = nodes.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey${n.name.replace("-", "")}`);
        const ssh = planPlatform("p", { target: "ssh", layout: "compact", nodes, ssh: { agent: true, knownHosts, firewall: { operatorCidrs: ["10.1.0.0/24"] } } });
        expect(message(() => new DockerTarget("t", { plan: ssh }))).toBe("DockerTarget t: args.plan is for target ssh; DockerTarget deploys target docker");
        expect(message(() => new EtcdCluster("e", { target: {} as never }))).toBe("EtcdCluster e: args.target must be a gateway-ha target (DockerTarget, SshTarget or AwsTarget), got an object");
        expect(message(() => new GatewayGroup("g", undefined as never))).toBe("GatewayGroup g: args must be an object, got undefined");
        const api7 = planPlatform("v3", { localDevelopment: true, flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://u:p@db/x?sslmode=verify-full" }, docker: { networkName: "v3", subnet: "172.29.0.0/24", publishedPorts: { http: 8090, https: 8453, controlPlane: 19090 } } });
        expect(message(() => new EtcdCluster("e", { target: new DockerTarget("v3", { plan: api7 }) }))).toBe("EtcdCluster e: the plan has no etcd nodes (flavor api7-v3 keeps its state in PostgreSQL)");

        const plan = planPlatform("p", { localDevelopment: true });
        const one = new DockerTarget("one", { plan });
        // Another platform's target may not take this one's network, subnet or published ports.
        const sameNetwork = planPlatform("q", { localDevelopment: true, docker: { publishedPorts: { http: 8080 } } });
        expect(message(() => new DockerTarget("two-refused", { plan: sameNetwork }))).toBe(
            "DockerTarget two-refused: invalid args (4 problems):\n" +
                ["docker.networkName = \"gateway-ha\"", "docker.subnet = \"172.28.0.0/24\"", "docker.publishedPorts.https = 9443", "docker.publishedPorts.controlPlane = 19000"]
                    .map((k) => `  - args.plan.${k}: already DockerTarget one's in this program: two platforms cannot share it`)
                    .join("\n"),
        );
        const two = new DockerTarget("two", { plan: planPlatform("q", { localDevelopment: true, docker: { networkName: "q", subnet: "172.31.0.0/24", publishedPorts: { http: 8081, https: 8444, controlPlane: 19181 } } }) });
        const etcd = new EtcdCluster("etcd", { target: one });
        expect(message(() => new GatewayGroup("g", { target: two, etcd }))).toBe("GatewayGroup g: args.etcd is deployed on another target; the blocks of one platform share one target");
        expect(message(() => new GatewayGroup("g", { target: one }))).toBe("GatewayGroup g: args.etcd is required: flavor apisix's gateways watch etcd");
        expect(message(() => new GatewayGroup("g", { target: one, etcd: "etcd" as never }))).toBe("GatewayGroup g: args.etcd must be an EtcdCluster, got a string");
        expect(message(() => new LoadBalancer("lb", { target: one }))).toBe("LoadBalancer lb: args.management is required: the control plane serves HTTPS, which the balancers terminate");
        // Registration is asynchronous: only once it has run does an absent name prove nothing was registered.
        await settled();
        expect(registered.filter((n) => ["t", "e", "g", "lb", "two-refused"].includes(n))).toEqual([]);
        expect(registered).toEqual(expect.arrayContaining(["one", "two", "etcd", "v3"]));
    });

    it("FallbackStorage refuses a bucket another plan's storage holds in this program, registering nothing", async () => {
        const { blocks, registered } = await blocksUnderMocks("block-buckets");
        const { DockerTarget, FallbackStorage, planPlatform } = blocks;
        const storage = (name: string, subnet: string, port: number) =>
            planPlatform(name, {
                localDevelopment: true,
                flavor: "api7-v3",
                controlPlane: { databaseDsn: "postgres://u:p@db/x?sslmode=verify-full" },
                resilience: { fallbackStorage: { kind: "s3", region: "eu-west-1", configBucket: "acme-gw-config", resourceBucket: `${name}-resources` } },
                docker: { networkName: name, subnet, publishedPorts: { http: port, https: port + 1, controlPlane: port + 2 } },
            });
        new FallbackStorage("first", { target: new DockerTarget("a", { plan: storage("a", "172.30.1.0/24", 8100) }) });
        expect(message(() => new FallbackStorage("second", { target: new DockerTarget("b", { plan: storage("b", "172.30.2.0/24", 8200) }) }))).toBe(
            "FallbackStorage second: invalid args (1 problem):\n  - args.target.plan.resilience.fallbackStorage.configBucket = \"acme-gw-config\": already FallbackStorage first's in this program: two platforms cannot share it",
        );
        await settled();
        expect(registered).toContain("first");
        expect(registered).not.toContain("second");
    });

    it("planPlatform validates the Args as the stack config is, and its roles", async () => {
        const { blocks } = await blocksUnderMocks("plan-args");
        const { planPlatform } = blocks;
        expect(message(() => planPlatform("p", { localDevelopment: true, etcd: { members: 4 } }))).toMatch(/^planPlatform p: invalid args \(1 problem\):[\s\S]*args\.etcd\.members = 4: etcd needs an odd number of members/);
        expect(message(() => planPlatform("p", { localDevelopment: true }, { roles: [] }))).toBe("planPlatform p: opts.roles must list at least one of etcd, control-plane, data-plane, load-balancer, storage");
        expect(message(() => planPlatform("p", { localDevelopment: true }, { roles: ["etcd", "gateway" as never] }))).toBe('planPlatform p: opts.roles = ["gateway"]: not a role; roles are etcd, control-plane, data-plane, load-balancer, storage');
        expect(message(() => planPlatform("p", { localDevelopment: true }, { roles: ["data-plane", "load-balancer"] }))).toBe(
            "planPlatform p: opts.roles has data-plane without etcd: flavor apisix keeps its configuration in this plan's etcd",
        );
        expect(message(() => planPlatform("p", { localDevelopment: true, flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://u:p@db/x?sslmode=verify-full" } }, { roles: ["data-plane", "load-balancer"] }))).toBe(
            "planPlatform p: opts.roles has data-plane without control-plane: flavor api7-v3's gateways connect to this plan's DP Manager",
        );
    });

    it("a plan of some roles keeps their nodes at the whole platform's addresses, with only those roles' ports and flows", async () => {
        const { blocks } = await blocksUnderMocks("plan-roles");
        const args = { localDevelopment: true, layout: "compact" as const, dataPlane: { replicas: 3 } };
        const whole = blocks.planPlatform("p", args).topology;
        const part = blocks.planPlatform("p", args, { roles: ["etcd", "data-plane"] }).topology;
        expect(part.nodes.map((n) => [n.name, n.address, n.roles.join("+")])).toEqual(
            whole.nodes.filter((n) => n.roles.includes("etcd") || n.roles.includes("data-plane")).map((n) => [n.name, n.address, n.roles.filter((r) => r !== "control-plane").join("+")]),
        );
        // node-1 ran etcd and a control plane: it keeps etcd's ports only.
        expect(new Set(part.nodes.find((n) => n.name === "node-1")!.ports.map((p) => p.role))).toEqual(new Set(["etcd"]));
        expect(part.byRole["control-plane"]).toEqual([]);
        expect(part.flows.every((f) => f.to !== "control-plane" && f.to !== "load-balancer" && f.from !== "control-plane" && f.from !== "load-balancer")).toBe(true);
        expect(part.flows.some((f) => f.from === "data-plane" && f.to === "etcd")).toBe(true);
    });
});

describe("GatewayPlatform is composed of exactly the public blocks", () => {
    it("every component it registers is one of gateway-ha/blocks' classes, and its blocks are instances of them", async () => {
        const { blocks } = await blocksUnderMocks("composed");
        const { GatewayPlatform } = await import("gateway-ha");
        const platform = new GatewayPlatform("gateway-ha", { localDevelopment: true, loadBalancer: { keepalived: { vips: [] } } });
        const b = platform.blocks;
        expect(b.etcd).toBeInstanceOf(blocks.EtcdCluster);
        expect(b.controlPlane).toBeInstanceOf(blocks.ControlPlane);
        expect(b.gateways).toBeInstanceOf(blocks.GatewayGroup);
        expect(b.loadBalancer).toBeInstanceOf(blocks.LoadBalancer);
        // One target carries them all.
        expect(new Set([b.etcd!.target, b.controlPlane.target, b.gateways.target]).size).toBe(1);
        expect(b.etcd!.target).toBeInstanceOf(blocks.DockerTarget);
        await settled();

        const run = await runPlatform({ "gateway-ha:loadBalancer": JSON.stringify({ kind: "keepalived", keepalived: { vips: [{ name: "gw", address: "172.28.0.100", virtualRouterId: 52, protects: "data-plane" }, { name: "cp", address: "172.28.0.101", virtualRouterId: 51, protects: "control-plane" }] } }) });
        const components = new Set(run.registrations.map((r) => r.type).filter((t) => t.startsWith("gateway-ha:")));
        const publicBlocks = ["GatewayPlatform", "DockerTarget", "EtcdCluster", "ControlPlane", "GatewayGroup", "LoadBalancer", "VirtualIps", "FallbackStorage", "SshTarget", "AwsTarget"].map((c) => `gateway-ha:index:${c}`);
        expect([...components].filter((t) => !publicBlocks.includes(t))).toEqual([]);
        expect(components).toContain("gateway-ha:index:VirtualIps");
    });
});
