// Config rules for target aws and data-plane resilience, and the AWS network plan they feed.
import { describe, expect, it } from "vitest";
import { CTX as ctx, cfg, issuesOf, withNewerApi7v3 } from "../config";
import { bucketNameRule, cronSpecRule, isAwsRegion, loadPlatform } from "../../components/config";
import { awsNetworkPlan } from "../../components/topology";

const V3_DSN = "postgres://api7:pw@db.internal:5432/api7ee?sslmode=verify-full";
const AWS = { target: "aws", aws: { region: "eu-west-1" } };
const V3 = { flavor: "api7-v3", controlPlane: { databaseDsn: V3_DSN } };
const S3 = { kind: "s3", configBucket: "acme-gw-prod-config", resourceBucket: "acme-gw-prod-resources" };



describe("target aws: topology", () => {
    it("standard layout: no balancer node, etcd over 3 zones, control plane and gateways over 2, fixed addresses in their zone's private subnet", () => {
        const { topology } = loadPlatform(cfg(AWS), ctx);
        expect(topology.byRole["load-balancer"]).toEqual([]);
        expect(topology.nodes.map((n) => [n.name, n.zone, n.address])).toEqual([
            ["etcd-1", 0, "10.42.0.11"],
            ["etcd-2", 1, "10.42.16.11"],
            ["etcd-3", 2, "10.42.32.11"],
            ["cp-1", 0, "10.42.0.12"],
            ["cp-2", 1, "10.42.16.12"],
            ["dp-1", 0, "10.42.0.13"],
            ["dp-2", 1, "10.42.16.13"],
        ]);
        expect(topology.network?.privateSubnets).toEqual(["10.42.0.0/20", "10.42.16.0/20", "10.42.32.0/20"]);
        expect(topology.network?.publicSubnets).toEqual(["10.42.128.0/20", "10.42.144.0/20", "10.42.160.0/20"]);
        // The internal control-plane NLB's fixed addresses are what the Admin API must allow.
        expect(topology.balancerAddresses).toEqual(["10.42.0.10", "10.42.16.10", "10.42.32.10"]);
    });

    it("compact layout follows each node's first role round the zones", () => {
        const { topology } = loadPlatform(cfg({ ...AWS, layout: "compact" }), ctx);
        expect(topology.nodes.map((n) => [n.name, n.roles.join("+"), n.zone])).toEqual([
            ["node-1", "etcd+control-plane", 0],
            ["node-2", "etcd+control-plane", 1],
            ["node-3", "etcd", 2],
            ["node-4", "data-plane", 0],
            ["node-5", "data-plane", 1],
        ]);
    });

    it("an existing VPC's subnets are used as given, one zone each", () => {
        const subnets = (base: number) =>
            ["a", "b", "c"].map((z, i) => ({ id: `subnet-0000000${base + i}`, zone: `eu-west-1${z}`, cidr: `10.1.${base + i}.0/24` }));
        const existingVpc = { vpcId: "vpc-01234567", cidr: "10.1.0.0/16", privateSubnets: subnets(1), publicSubnets: subnets(4) };
        const { topology } = loadPlatform(cfg({ target: "aws", aws: { region: "eu-west-1", existingVpc } }), ctx);
        expect(topology.network?.privateSubnets).toEqual(["10.1.1.0/24", "10.1.2.0/24", "10.1.3.0/24"]);
        expect(topology.byRole.etcd.map((n) => n.address)).toEqual(["10.1.1.11", "10.1.2.11", "10.1.3.11"]);
    });

    it("awsNetworkPlan carves 1/16 blocks of the VPC per subnet", () => {
        const plan = awsNetworkPlan({ aws: { vpcCidr: "192.168.0.0/20", zones: ["x-1a", "x-1b", "x-1c", "x-1d"] } } as never);
        expect(plan.privateSubnets).toEqual(["192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/24", "192.168.3.0/24"]);
        expect(plan.publicSubnets[0]).toBe("192.168.8.0/24");
    });

    it("health checks default to the NLB's minimums on aws and stay fast elsewhere", () => {
        expect(loadPlatform(cfg(AWS), ctx).spec.loadBalancer.healthCheck).toMatchObject({ intervalSeconds: 5, timeoutSeconds: 2 });
        expect(loadPlatform(cfg({}), ctx).spec.loadBalancer.healthCheck).toMatchObject({ intervalSeconds: 2, timeoutSeconds: 1 });
    });
});

describe("target aws: validation names the key, the value and the rule", () => {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
        ["no region", { target: "aws" }, "aws.region", /required on target aws/],
        ["bad region", { target: "aws", aws: { region: "europe" } }, "aws.region", /AWS region/],
        ["VPC too small", { target: "aws", aws: { region: "eu-west-1", vpcCidr: "10.0.0.0/26" } }, "aws.vpcCidr", /\/16 to \/24/],
        ["two zones for etcd", { target: "aws", aws: { region: "eu-west-1", zones: ["eu-west-1a", "eu-west-1b"] } }, "aws.zones", /etcd members spread over 3 zones/],
        ["zone outside the region", { target: "aws", aws: { region: "eu-west-1", zones: ["eu-west-1a", "eu-west-1b", "us-east-1c"] } }, "aws.zones", /in aws.region/],
        ["NLB interval below 5 s", { ...AWS, loadBalancer: { healthCheck: { intervalSeconds: 2 } } }, "loadBalancer.healthCheck.intervalSeconds", /AWS NLB target group accepts 5–300/],
        ["NLB threshold 1", { ...AWS, loadBalancer: { healthCheck: { fall: 1 } } }, "loadBalancer.healthCheck.fall", /accepts 2–10/],
        ["SSH from anywhere", { target: "aws", aws: { region: "eu-west-1", ssh: { keyName: "ops", sourceCidr: "0.0.0.0/0" } } }, "aws.ssh.sourceCidr", /must not be open to the internet/],
        ["control plane open to the internet", { target: "aws", aws: { region: "eu-west-1", operatorCidrs: ["0.0.0.0/0"] } }, "aws.operatorCidrs[0]", /must not be open/],
        [
            "internal gateway balancer open to all",
            { target: "aws", aws: { region: "eu-west-1", gatewayBalancer: { internetFacing: false, clientCidrs: ["0.0.0.0/0"] } } },
            "aws.gatewayBalancer.clientCidrs[0]",
            /internal balancer/,
        ],
        ["Graviton type on an x86 AMI", { target: "aws", aws: { region: "eu-west-1", instanceTypes: { "data-plane": "m7g.large" } } }, "aws.instanceTypes.data-plane", /arm64 but aws.ami.architecture is x86_64/],
        ["not an instance type", { target: "aws", aws: { region: "eu-west-1", instanceTypes: { default: "large" } } }, "aws.instanceTypes.default", /EC2 instance type/],
        ["a balancer node on aws", { ...AWS, layout: "custom", nodes: [{ name: "a", roles: ["load-balancer"] }] }, "nodes[0].roles", /NLBs, not nodes/],
        ["node size on aws", { ...AWS, nodes: [{ name: "dp-1", cpus: 8 }] }, "nodes[0].cpus", /aws.instanceTypes/],
        ["node address outside its zone's subnet", { ...AWS, nodes: [{ name: "etcd-2", address: "10.42.0.50" }] }, "nodes[0].address", /private subnet 10.42.16.0\/20/],
        ["node on the balancer's address", { ...AWS, nodes: [{ name: "etcd-1", address: "10.42.0.10" }] }, "nodes[0].address", /above \.10/],
    ];
    it.each(cases)("%s", (_name, values, key, rule) => {
        const issues = issuesOf(values);
        expect(issues, JSON.stringify(issues)).toContainEqual(expect.objectContaining({ key, rule: expect.stringMatching(rule) }));
    });

    it("accepts the defaults, the compact layout, api7-v3 over two zones and an explicit SSH source", () => {
        expect(issuesOf(AWS)).toEqual([]);
        expect(issuesOf({ ...AWS, layout: "compact" })).toEqual([]);
        expect(issuesOf({ ...V3, target: "aws", aws: { region: "eu-west-1", zones: ["eu-west-1a", "eu-west-1b"] } })).toEqual([]);
        expect(issuesOf({ target: "aws", aws: { region: "eu-west-1", ssh: { keyName: "ops", sourceCidr: "203.0.113.0/24" } } })).toEqual([]);
    });
});

describe("resilience: validation names the key, the value and the rule", () => {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
        ["standalone without storage", { ...V3, resilience: { mode: "standalone" } }, "resilience.mode", /configure resilience.fallbackStorage/],
        ["unknown mode", { ...V3, resilience: { mode: "offline" } }, "resilience.mode", /unknown resilience mode/],
        ["apisix has no fallback_cp", { resilience: { fallbackStorage: { kind: "local" } } }, "resilience.fallbackStorage", /API7 Enterprise 3.x/],
        ["s3 without bucket names", { ...V3, resilience: { fallbackStorage: { kind: "s3", region: "eu-west-1" } } }, "resilience.fallbackStorage.configBucket", /bucket names are global/],
        ["s3 without a region off aws", { ...V3, resilience: { fallbackStorage: S3 } }, "resilience.fallbackStorage.region", /required for kind s3/],
        ["bad bucket name", { ...V3, resilience: { fallbackStorage: { ...S3, region: "eu-west-1", configBucket: "Gateway_Config" } } }, "resilience.fallbackStorage.configBucket", /lowercase/],
        ["same bucket twice", { ...V3, resilience: { fallbackStorage: { ...S3, region: "eu-west-1", resourceBucket: S3.configBucket } } }, "resilience.fallbackStorage.resourceBucket", /must differ/],
        ["cron too often", { ...V3, resilience: { fallbackStorage: { kind: "local", cronSpec: "@every 1s" } } }, "resilience.fallbackStorage.cronSpec", /at least 10s/],
        ["cron garbage", { ...V3, resilience: { fallbackStorage: { kind: "local", cronSpec: "every minute" } } }, "resilience.fallbackStorage.cronSpec", /5 cron fields/],
        ["local storage on aws", { ...V3, ...AWS, resilience: { fallbackStorage: { kind: "local" } } }, "resilience.fallbackStorage.kind", /target docker/],
        ["local storage with the pinned 3.2.16 images", { ...V3, resilience: { fallbackStorage: { kind: "local" } } }, "resilience.fallbackStorage.kind", /3\.2\.16 .* no endpoint for an S3-compatible server: use kind s3/],
    ];
    it.each(cases)("%s", (_name, values, key, rule) => {
        const issues = issuesOf(values);
        expect(issues, JSON.stringify(issues)).toContainEqual(expect.objectContaining({ key, rule: expect.stringMatching(rule) }));
    });

    it("local storage adds a storage node reached by the control plane and the gateways", () => {
        const { topology, spec } = loadPlatform(cfg(withNewerApi7v3({ ...V3, resilience: { fallbackStorage: { kind: "local" } } })), ctx);
        expect(topology.byRole.storage.map((n) => [n.name, n.ports.map((p) => p.port)])).toEqual([["s3-1", [9000]]]);
        expect(topology.flows.filter((f) => f.to === "storage").map((f) => f.from)).toEqual(["control-plane", "data-plane"]);
        expect(spec.resilience.fallbackStorage).toMatchObject({ configBucket: "gateway-config", resourceBucket: "gateway-resources", cronSpec: "@every 1m" });
    });

    it("s3 storage on aws takes aws.region and adds no node", () => {
        const { topology, spec } = loadPlatform(cfg({ ...V3, ...AWS, resilience: { mode: "standalone", fallbackStorage: S3 } }), ctx);
        expect(spec.resilience).toMatchObject({ mode: "standalone", fallbackStorage: { region: "eu-west-1" } });
        expect(topology.byRole.storage).toEqual([]);
    });
});

describe("pure rules", () => {
    it("cronSpecRule accepts robfig/cron's forms and names what is wrong", () => {
        for (const ok of ["@every 1m", "@every 1h30m", "@every 10s", "@hourly", "@daily", "*/5 * * * *", "0 3 * * MON-FRI", "15,45 */2 1-15 JAN,JUL ?"])
            expect(cronSpecRule(ok), ok).toBeUndefined();
        expect(cronSpecRule("@every 5s")).toMatch(/at least 10s/);
        expect(cronSpecRule("@every 1 minute")).toMatch(/Go duration/);
        expect(cronSpecRule("@fortnightly")).toMatch(/unknown descriptor/);
        expect(cronSpecRule("* * * *")).toMatch(/5 cron fields/);
        expect(cronSpecRule("60 * * * *")).toMatch(/minute .* outside 0–59/);
        expect(cronSpecRule("* 24 * * *")).toMatch(/hour .* outside 0–23/);
        expect(cronSpecRule("* * 0 * *")).toMatch(/day of month .* outside 1–31/);
        expect(cronSpecRule("* * * FOO *")).toMatch(/month/);
        expect(cronSpecRule("*/0 * * * *")).toMatch(/not valid/);
    });

    it("bucketNameRule follows S3's rules and refuses dots", () => {
        expect(bucketNameRule("acme-gateway-ha-prod-config")).toBeUndefined();
        expect(bucketNameRule("ab")).toMatch(/3–63/);
        expect(bucketNameRule("a".repeat(64))).toMatch(/3–63/);
        expect(bucketNameRule("acme.config")).toMatch(/no dots/);
        expect(bucketNameRule("-acme")).toMatch(/starting and ending/);
        expect(bucketNameRule("xn--acme")).toMatch(/reserved/);
        expect(bucketNameRule("acme-s3alias")).toMatch(/reserved/);
    });

    it("isAwsRegion", () => {
        for (const r of ["us-east-1", "eu-central-2", "ap-southeast-7", "us-gov-west-1", "cn-north-1", "il-central-1"]) expect(isAwsRegion(r), r).toBe(true);
        for (const r of ["eu-west", "EU-WEST-1", "europe-west1", "us-east-1a"]) expect(isAwsRegion(r), r).toBe(false);
    });
});
