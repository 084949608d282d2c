// Pulumi.yaml must declare every config key the program reads, with the schema's defaults,
// and every stack file must validate.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CONFIG_KEYS, loadPlatform, platformConfigSchema } from "../../components/config";
import { fillRequiredSecrets, stackConfig } from "../../scripts/preview-offline";

const root = path.resolve(__dirname, "../..");
const project = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));

describe("Pulumi.yaml", () => {
    it("is the gateway-ha project on nodejs with TypeScript and a local file backend", () => {
        expect(project.name).toBe("gateway-ha");
        expect(project.runtime).toMatchObject({ name: "nodejs", options: { typescript: true } });
        expect(project.backend.url).toMatch(/^file:\/\//);
    });

    it("declares exactly the keys the program reads, each with a description and a default", () => {
        expect(Object.keys(project.config).sort()).toEqual([...CONFIG_KEYS].sort());
        for (const key of CONFIG_KEYS) {
            expect(project.config[key].description, key).toMatch(/\w/);
            expect(project.config[key], key).toHaveProperty("default");
        }
    });

    it("declares the same defaults as the schema", () => {
        const defaults = platformConfigSchema.parse({});
        for (const key of ["flavor", "target", "layout"] as const) expect(project.config[key].default, key).toBe(defaults[key]);
        for (const key of ["nodes", "etcd", "controlPlane", "dataPlane", "loadBalancer", "docker", "aws", "ssh", "resilience"] as const) {
            // Structured keys default to empty: the schema fills them in, so there is one source of defaults.
            expect(project.config[key].default, key).toEqual(Array.isArray(defaults[key]) ? [] : {});
        }
    });
});

describe("stack files", () => {
    const stacks = fs.readdirSync(root).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f));
    it("include the dev stack", () => expect(stacks).toContain("Pulumi.dev.yaml"));
    it.each(stacks)("%s validates once its required secrets are set", (file) => {
        const { project, config } = stackConfig(path.join(root, "Pulumi.yaml"), path.join(root, file));
        const { config: complete } = fillRequiredSecrets(project, config);
        expect(() => loadPlatform(complete, { project, stack: file.split(".")[1] })).not.toThrow();
    });

    it("leave no required secret in plain text: the prod stack's DSN is set with `pulumi config set --secret`", () => {
        const { project, config } = stackConfig(path.join(root, "Pulumi.yaml"), path.join(root, "Pulumi.prod.yaml"));
        expect(fillRequiredSecrets(project, config).filled).toEqual(["controlPlane.databaseDsn"]);
        expect(() => loadPlatform(config, { project, stack: "prod" })).toThrow(/controlPlane.databaseDsn = \(unset\): required for flavor api7-v3/);
    });
});
