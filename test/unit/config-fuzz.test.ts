// Hostile input for the validator: every key of the config schema, at every depth the schema
// describes, given malformed values on top of each example stack's config. Loading either succeeds
// or fails with ConfigValidationError (the program's exit 2 with `gateway-ha:<key> = <value>: <rule>`
// lines); never another error, which would be a stack trace. No secret of the base config, and no
// value under a key the schema does not know, appears in any message.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigValidationError, loadPlatform } from "../../components/config";
import { imageReferenceProblem } from "../../components/config/images";
import { schemaKeys } from "../../components/config/reference";
import { namespacedConfig } from "../../components/config/load";
import { fillRequiredSecrets, stackConfig } from "../../scripts/preview-offline";
import { runPlatform } from "./helpers";
import { dpManagerIdentityConfig } from "../config";

const ROOT = join(__dirname, "..", "..");
const STACKS = readdirSync(ROOT).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f));

/** Values no key accepts everywhere: wrong types, empty, out of range, hostile strings. */
const MALFORMED: unknown[] = [null, "", " ", 0, -1, 3.5, 1e308, true, [], {}, [null], "fe80::1/64", "10.0.0/24", "a b", "x".repeat(300), "$(id)", "deploy@host", "a\nb"];

function setPath(config: Record<string, unknown>, path: (string | number)[], value: unknown): Record<string, unknown> {
    const copy = structuredClone(config);
    let at: Record<string | number, unknown> = copy;
    for (const [i, p] of path.entries()) {
        if (i === path.length - 1) at[p] = value;
        else {
            if (at[p] === null || typeof at[p] !== "object") at[p] = typeof path[i + 1] === "number" ? [] : {};
            at = at[p] as Record<string | number, unknown>;
        }
    }
    return copy;
}

/** Pulumi's map: structured values as JSON text, strings as they are. */
const asPulumiConfig = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).map(([k, v]) => [`gateway-ha:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));

function load(config: Record<string, unknown>): { ok: true } | { ok: false; message: string } {
    try {
        loadPlatform(asPulumiConfig(config), { project: "gateway-ha", stack: "fuzz" });
        return { ok: true };
    } catch (e) {
        if (e instanceof ConfigValidationError) return { ok: false, message: e.message };
        throw new Error(`not a validation error: ${e instanceof Error ? e.stack : String(e)}`);
    }
}

describe("the validator under malformed values at every key of the schema", () => {
    const paths = schemaKeys().map((k) => k.path);

    it("walks the whole schema", () => {
        expect(paths.length).toBeGreaterThan(100);
        expect(paths.map((p) => p.join("."))).toEqual(expect.arrayContaining(["loadBalancer.keepalived.vips.0.address", "nodes.0.sshUser", "dataPlane.image", "ssh.knownHosts.0"]));
    });

    for (const file of STACKS) {
        it(`${file}: every key, every malformed value: a validation error or a load, never a crash or a secret in the message`, () => {
            const { project, config } = stackConfig(join(ROOT, "Pulumi.yaml"), join(ROOT, file));
            // The secrets a stack file leaves to `pulumi config set --secret`, as recognizable values.
            const filled = JSON.stringify(fillRequiredSecrets(project, config).config).replaceAll("placeholder", "Fz9Secret");
            const base = namespacedConfig(JSON.parse(filled) as Record<string, string>);
            expect(load(base), file).toEqual({ ok: true });
            let loads = 0;
            for (const path of paths)
                for (const value of MALFORMED) {
                    const r = load(setPath(base, path, value));
                    if (r.ok) loads++;
                    else expect(r.message, `${path.join(".")} = ${JSON.stringify(value)}`).not.toContain("Fz9Secret");
                }
            // Most malformed values are refused; the count only shows the walk ran.
            expect(loads).toBeLessThan(paths.length * MALFORMED.length);
        });
    }

    it("the findings of the security review: each refused, naming the key, the value and the rule", () => {
        const refused = (config: Record<string, unknown>, line: RegExp) => {
            const r = load(config);
            expect(r.ok, JSON.stringify(config)).toBe(false);
            if (!r.ok) expect(r.message).toMatch(line);
        };
        const vip = (address: string) => ({ loadBalancer: { kind: "haproxy", keepalived: { interface: "eth0", vips: [{ name: "gw", address, virtualRouterId: 51, protects: "load-balancer" }] } } });
        refused(vip("fe80::1/64"), /gateway-ha:loadBalancer\.keepalived\.vips\[0\]\.address = "fe80::1\/64": must be an IPv4 address/);
        refused(vip("10.0.0/24"), /vips\[0\]\.address = "10\.0\.0\/24": must be an IPv4 address/);
        refused({ target: "ssh", ssh: "" }, /gateway-ha:ssh = "": Invalid input: expected object/);
        refused({ controlPlane: null }, /gateway-ha:controlPlane = null: Invalid input: expected object/);
        refused({ dataPlane: { image: "apache/apisix: 3.14" } }, /gateway-ha:dataPlane\.image = "apache\/apisix: 3\.14": must be an image reference/);
        refused({ dataPlane: { image: "apache/apisix:" } }, /gateway-ha:dataPlane\.image = "apache\/apisix:": must be an image reference/);
        refused({ target: "ssh", nodes: [{ name: "node-1", address: "10.0.0.1", sshUser: "deploy@host" }] }, /gateway-ha:nodes\[0\]\.sshUser = "deploy@host": must be a user name/);
        const subnets = (zones: string[]) => zones.map((zone, i) => ({ id: `subnet-0abc12${i}${i}`, cidr: `10.0.${i}.0/24`, zone }));
        const vpc = (zones: string[]) => ({ target: "aws", aws: { region: "eu-west-1", existingVpc: { vpcId: "vpc-0abc1234", cidr: "10.0.0.0/16", privateSubnets: subnets(zones), publicSubnets: subnets(zones) } } });
        refused(vpc(["eu-west-1a", "us-east-1b", "eu-west-1c"]), /gateway-ha:aws\.existingVpc\.privateSubnets\[1\]\.zone = "us-east-1b": must be an availability zone of aws\.region eu-west-1/);
        refused(vpc(["eu-west-1a", "eu-west-12b", "eu-west-1c"]), /privateSubnets\[1\]\.zone = "eu-west-12b": must be an availability zone/);
    });

    it("an empty section in a stack file (`gateway-ha:ssh:` with nothing under it) is refused by the validator, not a crash of the offline preview's secret placeholders", () => {
        for (const [target, flavor, key] of [["ssh", "apisix", "ssh"], ["docker", "api7-v3", "controlPlane"]])
            for (const empty of ["null", '""', "[]", "not json"]) {
                const config = { "gateway-ha:target": target, "gateway-ha:flavor": flavor, [`gateway-ha:${key}`]: empty };
                const { config: filled, filled: keys } = fillRequiredSecrets("gateway-ha", config);
                expect(keys, empty).toEqual([]);
                expect(load(namespacedConfig(filled)).ok, empty).toBe(false);
            }
    });

    it("under `pulumi up` the program stops with the issues as a RunError: Pulumi prints the message alone, no stack trace", async () => {
        const failure = await runPlatform({ "gateway-ha:etcd": JSON.stringify({ members: 4 }), "gateway-ha:databaseDns": "postgres://u:Leaked-Secret-78@h/db?sslmode=verify-full" }).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect((failure as { __pulumiRunError?: boolean } | undefined)?.__pulumiRunError, String(failure)).toBe(true);
        expect(String((failure as Error).message)).toContain("gateway-ha:etcd.members = 4");
        expect(String((failure as Error).message)).toContain("gateway-ha:databaseDns = (not shown): unknown key");
        expect(String((failure as Error).message)).not.toContain("Leaked-Secret-78");
    });

    it("under `pulumi up`: a DSN set without --secret, or an empty state passphrase outside a local development stack, stops the program first", async () => {
        const dsn = "postgres://api7:Plain-Dsn-51@db:5432/api7?sslmode=verify-full";
        const v3 = { "gateway-ha:flavor": "api7-v3", "gateway-ha:controlPlane": JSON.stringify({ databaseDsn: dsn }), "gateway-ha:dataPlane": JSON.stringify({ dpManagerIdentity: dpManagerIdentityConfig() }) };
        const failure = (config: Record<string, string>, secretKeys?: string[]) =>
            runPlatform(config, { secretKeys }).then(
                (run) => `created ${run.resources.length} resources`,
                (e: unknown) => String((e as Error).message),
            );
        const plain = await failure(v3, ["gateway-ha:dataPlane"]);
        expect(plain).toContain("gateway-ha:controlPlane.databaseDsn = (not shown): holds a secret but was set in plain text");
        expect(plain).not.toContain("Plain-Dsn-51");
        const before = process.env.PULUMI_CONFIG_PASSPHRASE;
        process.env.PULUMI_CONFIG_PASSPHRASE = "";
        try {
            expect(await failure({})).toContain("gateway-ha:localDevelopment = false: PULUMI_CONFIG_PASSPHRASE is empty");
            expect(await failure({ "gateway-ha:localDevelopment": "true" })).toMatch(/^created \d+ resources$/);
        } finally {
            if (before === undefined) delete process.env.PULUMI_CONFIG_PASSPHRASE;
            else process.env.PULUMI_CONFIG_PASSPHRASE = before;
        }
    });

    it("a misspelled or unknown key never echoes its value, at the top or nested", () => {
        const secret = "postgres://api7:Leaked-Secret-77@db:5432/api7?sslmode=verify-full";
        for (const config of [{ databaseDns: secret }, { controlPlane: { databseDsn: secret } }, { ssh: { privatKey: secret } }, { nodes: [{ name: "dp-1", passwd: secret }] }]) {
            const r = load(config);
            expect(r.ok).toBe(false);
            if (!r.ok) {
                expect(r.message).not.toContain("Leaked-Secret-77");
                expect(r.message).toMatch(/unknown key/);
            }
        }
    });
});

describe("image references by the reference grammar (components/config/images.ts)", () => {
    it("accepts what registries accept, pinned", () => {
        for (const ref of [
            "apache/apisix:3.14.1-debian",
            "gcr.io/etcd-development/etcd:v3.6.9",
            "haproxy:3.2",
            "localhost:5000/team/gw:1",
            "registry.example.com:8443/a/b/c:v1_2.3-x",
            "[fd00::1]:5000/gw:1",
            `apache/apisix@sha256:${"a".repeat(64)}`,
            `apache/apisix:3.14@sha256:${"0f".repeat(32)}`,
            "a__b/c--d.e:1",
        ])
            expect(imageReferenceProblem(ref), ref).toBeUndefined();
    });

    it("refuses what a registry client cannot parse, and what is not pinned", () => {
        for (const [ref, rule] of [
            ["apache/apisix: 3.14", /image reference/],
            ["apache/apisix:", /image reference/],
            ["Apache/apisix:1", /lowercase/],
            ["apache//apisix:1", /image reference/],
            ["apache/apisix:1 ", /image reference/],
            ["apache/apisix:-1", /image reference/],
            [`apache/apisix:${"x".repeat(129)}`, /image reference/],
            ["apache/apisix@sha256:abc", /image reference/],
            [`apache/apisix@sha256:${"a".repeat(63)}`, /image reference/],
            ["apache/apisix", /pinned/],
            ["apache/apisix:latest", /pinned/],
            ["", /image reference/],
            [`r.io/${"a".repeat(260)}:1`, /longer than 255/],
        ] as const)
            expect(imageReferenceProblem(ref), ref).toMatch(rule);
    });
});
