// The configuration reference in docs/configuration.md is the schema's own descriptions, rendered:
// a key added, renamed or re-defaulted in the schema shows here until `npm run docs:config` is run.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { REFERENCE_BEGIN, REFERENCE_END, keyName, renderConfigReference, schemaKeys, undocumentedKeys, withReference } from "../../components/config/reference";
import { DEFAULT_IMAGES, platformConfigSchema } from "../../components/config/schema";

const PAGE = join(__dirname, "..", "..", "docs", "configuration.md");

describe("configuration reference", () => {
    it("docs/configuration.md holds the reference the schema renders (else: npm run docs:config)", () => {
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
