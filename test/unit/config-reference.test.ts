// What is generated from the config schema stays what the schema says: the configuration reference
// in docs/configuration.md and GatewayPlatform's Args (components/platformArgs.ts). A key added,
// renamed or re-defaulted in the schema fails here until `npm run generate` is run.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { REFERENCE_BEGIN, REFERENCE_END, keyName, renderConfigReference, schemaKeys, undocumentedKeys, withReference } from "../../components/config/reference";
import { DEFAULT_IMAGES, platformConfigSchema } from "../../components/config/schema";
import { renderPlatformArgsSource } from "../../components/config/argsSource";

const PAGE = join(__dirname, "..", "..", "docs", "configuration.md");

describe("configuration reference", () => {
    it("docs/configuration.md holds the reference the schema renders (else: npm run generate)", () => {
        const page = readFileSync(PAGE, "utf8");
        expect(page).toContain(REFERENCE_BEGIN);
        expect(withReference(page, renderConfigReference())).toBe(page);
    });

    it("documents every key of the schema, itself or under a documented key", () => {
        expect(undocumentedKeys(schemaKeys())).toEqual([]);
        const rows = renderConfigReference().split("\n").filter((l) => l.startsWith("| `"));
        // Every top-level key the program reads is reached: documented, or its section's keys are.
        for (const key of Object.keys(platformConfigSchema.shape)) expect(rows.some((r) => r.startsWith(`| \`${key}`))).toBe(true);
    });

    it("finds an undocumented key, unless a documented key above it covers it", () => {
        const schema = z.strictObject({
            documented: z.strictObject({ inner: z.string() }).describe("covers inner"),
            section: z.strictObject({ bare: z.number().default(1), told: z.boolean().describe("has its own") }),
            list: z.array(z.strictObject({ field: z.string() })),
        });
        expect(undocumentedKeys(schemaKeys(schema))).toEqual(["section.bare", "list[].field"]);
    });

    it("reads each default from the schema: a value, nothing, a refusal, or the key's own text", () => {
        const schema = z.strictObject({
            port: z.number().default(2379).describe("client port"),
            ports: z.strictObject({ http: z.number().default(9080), https: z.number().default(9443) }).prefault({}).describe("published"),
            cidrs: z.array(z.string()).default(["127.0.0.0/24"]).describe("allowed"),
            token: z.string().optional().describe("optional"),
            vips: z.array(z.strictObject({ address: z.string().describe("IPv4") })).default([]),
            image: z.string().optional().meta({ description: "image", defaultText: "per flavor" }),
            check: z.string().optional().describe("`http | port`"),
        });
        expect(renderConfigReference(schemaKeys(schema)).split("\n")).toEqual([
            "| key | default | meaning |",
            "|---|---|---|",
            "| `port` | `2379` | client port |",
            "| `ports` | `{http: 9080, https: 9443}` | published |",
            "| `cidrs` | `[127.0.0.0/24]` | allowed |",
            "| `token` | — | optional |",
            "| `vips[].address` | required | IPv4 |",
            "| `image` | per flavor | image |",
            "| `check` | — | `http \\| port` |",
            "",
        ]);
    });

    it("renders the real schema's defaults and key names as `pulumi config set --path` takes them", () => {
        const table = renderConfigReference();
        expect(table).toContain(`| \`etcd.image\` | \`${DEFAULT_IMAGES.etcd}\` |`);
        expect(table).toContain("| `docker.publishedPorts` | `{http: 9080, https: 9443, controlPlane: 19000}` |");
        expect(table).toContain("| `loadBalancer.keepalived.vips[].virtualRouterId` | required |");
        expect(schemaKeys().map((k) => keyName(k.path))).toContain("ssh.knownHosts[]");
    });

    it("refuses a page without the markers rather than losing it", () => {
        expect(() => withReference("# Configuration\n", "| key |\n")).toThrow(/markers/);
        expect(withReference(`a\n${REFERENCE_BEGIN}\nold\n${REFERENCE_END}\nb`, "new\n")).toBe(`a\n${REFERENCE_BEGIN}\nnew\n${REFERENCE_END}\nb`);
    });
});

describe("GatewayPlatform's Args source", () => {
    it("components/platformArgs.ts is what the schema generates (else: npm run generate)", () => {
        expect(readFileSync(join(__dirname, "..", "..", "components", "platformArgs.ts"), "utf8")).toBe(renderPlatformArgsSource());
    });

    it("writes the analyzer's shapes: choices as as-const enums, maps as index signatures, secrets as Inputs, nested objects as named interfaces", () => {
        const schema = z.strictObject({
            kind: z.string().meta({ choices: { typeName: "Kind", values: ["TCP_CHECK", "per-zone"] } }).default("per-zone").describe("the kind"),
            weights: z.record(z.string(), z.number()).optional(),
            controlPlane: z.strictObject({ databaseDsn: z.string().optional(), port: z.number().default(1) }).prefault({}),
            list: z.array(z.strictObject({ name: z.string() }).meta({ argsType: "ItemArgs" })).default([]),
        });
        const source = renderPlatformArgsSource(schema);
        expect(source).toContain('export const Kind = {\n    TcpCheck: "TCP_CHECK",\n    PerZone: "per-zone",\n} as const;\nexport type Kind = (typeof Kind)[keyof typeof Kind];');
        expect(source).toContain("    /** the kind (default: `per-zone`) */\n    kind?: Kind;");
        expect(source).toContain("    weights?: { [key: string]: number };");
        expect(source).toContain("export interface ControlPlaneArgs {\n    databaseDsn?: pulumi.Input<string>;\n    /** Default: `1` */\n    port?: number;\n}");
        expect(source).toContain("    list?: ItemArgs[];");
        expect(source).toContain("export interface ItemArgs {\n    name: string;\n}");
    });

    it("refuses two different objects under one interface name", () => {
        const schema = z.strictObject({ a: z.strictObject({ check: z.strictObject({ x: z.string() }) }), b: z.strictObject({ check: z.strictObject({ y: z.string() }) }) });
        expect(() => renderPlatformArgsSource(schema)).toThrow(/b\.check: interface CheckArgs would be declared twice/);
    });
});
