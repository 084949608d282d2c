// Stable identity: the components' type tokens are `gateway-ha:index:<Class>`, and a stack created
// with the previous tokens (`gateway-ha:etcd:EtcdCluster`, …) updates in place, every resource
// matched to its old URN by an alias. The engine's alias rules are modelled here: a resource is
// known by each of its own aliases (name and type default to its own) under its parent's URN or
// any of the parent's aliases.
import { beforeAll, describe, expect, it } from "vitest";
import { componentType } from "../../components/tokens";
import type { Registration } from "../../scripts/lib/mockEngine";
import { dpManagerIdentityConfig, withNewerApi7v3 } from "../config";
import { cfg, runPlatform, type PlatformRun } from "./helpers";

const SSH_NODES = ["node-1", "node-2", "node-3", "node-4", "node-5", "lb-1"].map((name, i) => ({ name, address: `192.168.101.${11 + i}`, sshUser: "deploy" }));

/** The tokens before `gateway-ha:index:<Class>`. */
const PREVIOUS: Record<string, string> = {
    GatewayPlatform: "gateway-ha:platform:GatewayPlatform",
    EtcdCluster: "gateway-ha:etcd:EtcdCluster",
    ControlPlane: "gateway-ha:control-plane:ControlPlane",
    GatewayGroup: "gateway-ha:data-plane:GatewayGroup",
    LoadBalancer: "gateway-ha:load-balancer:LoadBalancer",
    VirtualIps: "gateway-ha:load-balancer:VirtualIps",
    FallbackStorage: "gateway-ha:resilience:FallbackStorage",
    DockerTarget: "gateway-ha:targets:DockerTarget",
    SshTarget: "gateway-ha:targets:SshTarget",
    AwsTarget: "gateway-ha:targets:AwsTarget",
};
const previousOf = (type: string) => Object.entries(PREVIOUS).find(([cls]) => componentType(cls) === type)?.[1] ?? type;

/** URN keys (`<qualified type>::<name>`, the part of a URN after project) as the engine forms them: the whole chain of parent types. */
function urnModel(run: PlatformRun, opts: { withAliases: boolean }) {
    const byMockUrn = new Map(run.resources.map((r) => [r.urn, r]));
    const reg = new Map(run.registrations.map((g) => [`${g.type}::${g.name}`, g]));
    const parentOf = (g: Registration): Registration | undefined => {
        const p = byMockUrn.get(g.parent);
        return p && reg.get(`${p.type}::${p.name}`);
    };
    const qualified = (g: Registration, map: (t: string) => string): string => {
        const p = parentOf(g);
        return p ? `${qualified(p, map)}$${map(g.type)}` : map(g.type);
    };
    const aliasQualified = (g: Registration): Set<string> => {
        const p = parentOf(g);
        const parents = p ? [qualified(p, (t) => t), ...aliasQualified(p)] : [undefined];
        const specs = [{}, ...(opts.withAliases ? g.aliases : [])] as { type?: string }[];
        return new Set(parents.flatMap((pq) => specs.map((s) => (pq ? `${pq}$${s.type ?? g.type}` : (s.type ?? g.type)))));
    };
    return {
        registrations: run.registrations,
        current: (g: Registration) => `${qualified(g, (t) => t)}::${g.name}`,
        previous: (g: Registration) => `${qualified(g, previousOf)}::${g.name}`,
        knownAs: (g: Registration) => new Set([...aliasQualified(g)].map((q) => `${q}::${g.name}`)),
    };
}

describe.each([
    ["docker, haproxy", cfg({})],
    ["docker, keepalived VIPs", cfg({ loadBalancer: { kind: "keepalived", keepalived: { vips: [{ name: "gw", address: "172.28.0.100", virtualRouterId: 51, protects: "data-plane" }, { name: "cp", address: "172.28.0.101", virtualRouterId: 52, protects: "control-plane" }] } } })],
    ["aws", cfg({ target: "aws", aws: { region: "eu-west-1" } })],
    ["ssh", cfg({ target: "ssh", layout: "compact", nodes: SSH_NODES, ssh: { agent: true, knownHosts: SSH_NODES.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey`), firewall: { operatorCidrs: ["192.168.100.0/24"] } } })],
    [
        "api7-v3, local fallback storage",
        cfg(withNewerApi7v3({ flavor: "api7-v3", controlPlane: { databaseDsn: "postgres://u:p@db:5432/api7?sslmode=require" }, dataPlane: { dpManagerIdentity: dpManagerIdentityConfig() }, resilience: { fallbackStorage: { kind: "local" } } })),
    ],
])("type tokens gateway-ha:index:<Class>, aliased from the previous ones (%s)", (_name, config) => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config);
    });

    it("every component has a token in the package's index module", () => {
        const components = run.registrations.filter((g) => g.type.startsWith("gateway-ha:"));
        expect(components.length).toBeGreaterThanOrEqual(5);
        for (const g of components) expect(g.type, g.name).toMatch(/^gateway-ha:index:[A-Z][A-Za-z]+$/);
    });

    it("every resource whose URN the rename changes is known by its previous URN: the next `up` updates it in place", () => {
        const model = urnModel(run, { withAliases: true });
        const moved = model.registrations.filter((g) => model.previous(g) !== model.current(g));
        // Every resource sits under the platform: all of them move.
        expect(moved.length).toBe(model.registrations.length);
        expect(moved.filter((g) => !model.knownAs(g).has(model.previous(g))).map((g) => g.name)).toEqual([]);
    });

    it("without the aliases, none would be: the check is not vacuous", () => {
        const model = urnModel(run, { withAliases: false });
        expect(model.registrations.filter((g) => model.knownAs(g).has(model.previous(g)))).toEqual([]);
    });
});
