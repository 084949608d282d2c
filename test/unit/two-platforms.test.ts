// Two GatewayPlatforms in one program (test/unit/fixtures/two-platforms.ts): every resource has a
// URN of its own and every physical name (containers, volumes, SSM paths) belongs to one platform;
// the project's platform keeps exactly the identities a stack of it alone has, so adding a second
// platform to a running stack changes nothing of the first. What two cannot share is refused.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, T, cfg, ofType, runPlatform, type PlatformRun } from "./helpers";

const TWO = join(ROOT, "test", "unit", "fixtures", "two-platforms.ts");
const run2 = (shared: Record<string, unknown>, edge: Record<string, unknown>, stack: string) =>
    runPlatform({ "fixture:shared": JSON.stringify(shared), "fixture:edge": JSON.stringify(edge) }, { program: TWO, stack, secretKeys: [] });
const failure = async (p: Promise<PlatformRun>) => (await p).outputs.refused.value as string;

const hosts = (prefix: string) => ["node-1", "node-2", "node-3", "node-4", "node-5", "lb-1"].map((name, i) => ({ name, address: `${prefix}.${11 + i}`, sshUser: "deploy" }));
const sshArgs = (nodes: { address: string }[]) => ({
    target: "ssh",
    layout: "compact",
    nodes,
    ssh: { agent: true, knownHosts: nodes.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey`), firewall: { operatorCidrs: ["192.168.100.0/24"] } },
});

function expectSideBySide(two: PlatformRun, alone: PlatformRun): void {
    const urns = two.resources.map((r) => r.urn);
    expect(new Set(urns).size).toBe(urns.length);
    // The project's platform: every URN of the stack alone, unchanged.
    expect(urns).toEqual(expect.arrayContaining(alone.resources.map((r) => r.urn)));
    const edge = two.resources.filter((r) => !alone.resources.some((a) => a.urn === r.urn));
    expect(edge.length).toBeGreaterThan(alone.resources.length * 0.9);
    expect(edge.every((r) => r.name.startsWith("edge"))).toBe(true);
}

describe("two platforms in one program", () => {
    it("docker: side by side on one engine, containers and volumes named <stack>-edge-…", async () => {
        const edge = { docker: { networkName: "edge", subnet: "172.29.0.0/24", publishedPorts: { http: 8080, https: 8443, controlPlane: 18000 } } };
        const two = await run2({ localDevelopment: true }, edge, "pair");
        expect(two.outputs.refused.value).toBe("");
        const alone = await runPlatform(cfg({ localDevelopment: true }), { stack: "pair" });
        expectSideBySide(two, alone);
        const names = [...ofType(two, T.container), ...ofType(two, T.volume)].map((c) => c.inputs.name as string);
        expect(new Set(names).size).toBe(names.length);
        expect(names.filter((n) => n.startsWith("pair-edge-")).length).toBe(names.length / 2);
        expect(ofType(two, T.network).map((n) => n.inputs.name).sort()).toEqual(["edge", "gateway-ha"]);
        expect(two.outputs.urls.value).toEqual(["http://127.0.0.1:9080", "http://127.0.0.1:8080"]);
    });

    it("docker: a network, subnet or published port the other platform holds is refused, naming the arg", async () => {
        const message = await failure(run2({ localDevelopment: true }, { docker: { subnet: "172.29.0.0/24", publishedPorts: { http: 8080, https: 8443, controlPlane: 19000 } } }, "clash"));
        expect(message).toContain("GatewayPlatform edge: invalid args (2 problems)");
        expect(message).toContain(`args.docker.networkName = "gateway-ha": already GatewayPlatform gateway-ha's in this program`);
        expect(message).toContain("args.docker.publishedPorts.controlPlane = 19000: already GatewayPlatform gateway-ha's");
    });

    it("ssh: side by side on their own hosts; a host of the other platform is refused", async () => {
        const two = await run2(sshArgs(hosts("192.168.101")), sshArgs(hosts("192.168.102")), "pair");
        const alone = await runPlatform(cfg(sshArgs(hosts("192.168.101"))), { stack: "pair" });
        expectSideBySide(two, alone);
        const message = await failure(run2(sshArgs(hosts("192.168.101")), sshArgs([...hosts("192.168.102").slice(0, 5), hosts("192.168.101")[5]]), "clash"));
        expect(message).toContain(`args.nodes = "lb-1 at 192.168.101.16": already GatewayPlatform gateway-ha's in this program`);
    });

    it("aws: side by side in one account and region, SSM parameters under /gateway-ha/<stack>-edge/", async () => {
        const aws = { target: "aws", layout: "compact", aws: { region: "eu-west-1" } };
        const two = await run2(aws, { aws: { region: "eu-west-1", vpcCidr: "10.43.0.0/16" } }, "pair");
        const alone = await runPlatform(cfg(aws), { stack: "pair" });
        expectSideBySide(two, alone);
        const paths = ofType(two, "aws:ssm/parameter:Parameter").map((p) => p.inputs.name as string);
        expect(new Set(paths).size).toBe(paths.length);
        expect(paths.some((p) => p.startsWith("/gateway-ha/pair-edge/"))).toBe(true);
        expect(paths.some((p) => p.startsWith("/gateway-ha/pair/"))).toBe(true);
    });
});
