// gateway-ha as a Pulumi package: what `pulumi package add` would serve (the entry's components,
// the schema the analyzer derives from their types) and what TypeScript programs import by name.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { keyName, schemaKeys } from "../../components/config/reference";
import { PACKAGE_SCHEMA_FILE, exportedComponents, packageManifest, packageSchema } from "../../scripts/lib/packageSchema";
import { runProgram } from "../../scripts/lib/mockEngine";
import { ROOT, T, ofType, runPlatform, scanRun } from "./helpers";

interface SchemaProperty {
    type?: string;
    $ref?: string;
    items?: SchemaProperty;
    additionalProperties?: SchemaProperty;
    enum?: unknown;
}
interface PackageSpec {
    name: string;
    resources: Record<string, { isComponent: boolean; inputProperties: Record<string, SchemaProperty>; properties: Record<string, SchemaProperty>; requiredInputs?: string[] }>;
    types: Record<string, { type: string; properties?: Record<string, SchemaProperty>; enum?: { value: string }[] }>;
}

const TOKEN = "gateway-ha:index:GatewayPlatform";
let schema: PackageSpec;

beforeAll(async () => {
    const entry = await import("../../components");
    schema = packageSchema(exportedComponents(entry)) as PackageSpec;
}, 120_000);

/** Every key an input schema reaches, as the config writes keys (`loadBalancer.keepalived.vips[].address`). */
function inputKeys(properties: Record<string, SchemaProperty>, types: PackageSpec["types"], prefix = ""): string[] {
    return Object.entries(properties).flatMap(([key, p]) => {
        const name = prefix ? `${prefix}.${key}` : key;
        const element = p.items ? { at: `${name}[]`, p: p.items } : { at: name, p };
        const ref = element.p.$ref?.replace("#/types/", "");
        const object = ref ? types[ref] : undefined;
        // An array's element is a key of its own (`nodes[]`), as in the config schema.
        const keys = p.items ? [name, element.at] : [name];
        return object?.properties ? [...keys, ...inputKeys(object.properties, types, element.at)] : keys;
    });
}

describe("the package entry (package.json main)", () => {
    it("is components/index.ts and exports GatewayPlatform as its one component, the way the plugin host finds components", async () => {
        expect(packageManifest().main).toBe("components/index.ts");
        const entry = await import("../../components");
        expect(exportedComponents(entry)).toEqual(["GatewayPlatform"]);
        expect(Object.keys(entry)).toEqual(expect.arrayContaining(["GatewayPlatform", "Flavor", "BalancerKind", "platformOutput", "PLAIN_OUTPUT_KEYS"]));
    });

    it("creates nothing when loaded", async () => {
        const run = await runProgram({
            program: join(ROOT, "components", "index.ts"),
            project: "gateway-ha",
            stack: "entry",
            config: {},
            importer: (p) => {
                vi.resetModules();
                return import(p);
            },
        });
        expect(run.resources).toEqual([]);
    });

    it("PulumiPlugin.yaml makes the repository a nodejs plugin", () => {
        expect(parse(readFileSync(join(ROOT, "PulumiPlugin.yaml"), "utf8"))).toEqual({ runtime: "nodejs" });
    });
});

describe("the package schema (@pulumi/pulumi's component analyzer)", () => {
    it("the analyzer accepts every type, and the schema is the reviewed pulumi-schema.json (else: npm run generate, and review the diff)", () => {
        const golden = JSON.parse(readFileSync(join(ROOT, PACKAGE_SCHEMA_FILE), "utf8"));
        expect(schema).toEqual(golden);
        expect(Object.keys(schema.resources)).toEqual([TOKEN]);
        expect(schema.resources[TOKEN].isComponent).toBe(true);
    });

    it("GatewayPlatform's inputs are exactly the stack config's keys", () => {
        const inputs = inputKeys(schema.resources[TOKEN].inputProperties, schema.types);
        const config = schemaKeys().map((k) => keyName(k.path));
        expect([...inputs].sort()).toEqual([...config].sort());
    });

    it("secrets are inputs (Outputs allowed), everything else plain; the choices are enums", () => {
        const cp = schema.types["gateway-ha:index:ControlPlaneArgs"].properties!;
        expect(cp.databaseDsn).toMatchObject({ type: "string" });
        expect(cp.databaseDsn).not.toHaveProperty("plain");
        expect(cp.adminPort).toMatchObject({ type: "number", plain: true });
        expect(schema.resources[TOKEN].inputProperties.flavor).toMatchObject({ $ref: "#/types/gateway-ha:index:Flavor" });
        expect(schema.types["gateway-ha:index:Flavor"].enum!.map((e) => e.value)).toEqual(["apisix", "api7-v2", "api7-v3"]);
    });

    it("its outputs are the stack outputs' contract", async () => {
        const { PLAIN_OUTPUT_KEYS, SECRET_OUTPUT_KEYS } = await import("../../components/outputs");
        expect(Object.keys(schema.resources[TOKEN].properties).sort()).toEqual([...PLAIN_OUTPUT_KEYS, ...SECRET_OUTPUT_KEYS].sort());
    });

    it("examples/yaml uses the component's type and only inputs it has", () => {
        const program = parse(readFileSync(join(ROOT, "examples", "yaml", "Pulumi.yaml"), "utf8"));
        const { type, properties } = program.resources.platform;
        expect(type.replace(/^([^:]+):([^:]+)$/, "$1:index:$2")).toBe(TOKEN);
        const known = new Set(inputKeys(schema.resources[TOKEN].inputProperties, schema.types));
        const used = (o: Record<string, unknown>, at = ""): string[] =>
            Object.entries(o).flatMap(([k, v]) => (v && typeof v === "object" && !Array.isArray(v) ? [`${at}${k}`, ...used(v as Record<string, unknown>, `${at}${k}.`)] : [`${at}${k}`]));
        expect(used(properties).filter((k) => !known.has(k))).toEqual([]);
        for (const out of Object.values(program.outputs as Record<string, string>)) expect(Object.keys(schema.resources[TOKEN].properties)).toContain(/\$\{platform\.(\w+)\}/.exec(out)![1]);
    });
});

describe("GatewayPlatform from a program's own Args (examples/component)", () => {
    it("deploys with its typed Args: the compact layout's five nodes, a third gateway, nginx balancers on the given network and ports", async () => {
        const run = await runPlatform({}, { program: join(ROOT, "examples", "component", "index.ts") });
        const containers = ofType(run, T.container).map((c) => c.inputs.name as string);
        expect(containers.filter((n) => n.endsWith("-gateway"))).toHaveLength(3);
        expect(containers.some((n) => n.endsWith("-lb") || n.includes("nginx") || n.includes("-lb-"))).toBe(true);
        expect(ofType(run, T.network).map((n) => n.inputs.name)).toEqual(["edge"]);
        expect(run.outputs.gatewayUrl.value).toBe("http://127.0.0.1:8080");
        expect(run.outputs.adminKey.secret).toBe(true);
        expect((run.outputs.gatewayAddresses.value as string[]).length).toBe(3);
    });
});

describe("GatewayPlatform's Args are validated as the stack config is", () => {
    it("bad Args throw before anything is registered, naming args.<key>, the value and the rule", async () => {
        const registered: string[] = [];
        await pulumi.runtime.setMocks(
            {
                newResource: (a) => (registered.push(a.name), { id: `${a.name}-id`, state: a.inputs }),
                call: () => ({}),
            },
            "gateway-ha",
            "args",
            false,
        );
        vi.resetModules();
        const { GatewayPlatform } = await import("../../components");
        let message = "";
        try {
            new GatewayPlatform("bad", { etcd: { members: 4 }, dataPlane: { replicas: 1 }, localDevelopment: true, controlPlane: { databaseDsn: "postgres://u:hunter2@db/x" } });
        } catch (e) {
            message = (e as Error).message;
        }
        expect(message).toMatch(/^GatewayPlatform bad: invalid args \(3 problems\):/);
        expect(message).toContain("args.etcd.members = 4: etcd needs an odd number of members");
        expect(message).toContain("args.dataPlane.replicas = 1:");
        expect(message).toContain("args.controlPlane.databaseDsn = [secret]: only used by flavor api7-v3");
        expect(message).not.toContain("hunter2");
        // Only an Output (or a Promise) waits for its value: a secret of the wrong type fails at once.
        expect(() => new GatewayPlatform("typed", { flavor: "api7-v3", localDevelopment: true, controlPlane: { databaseDsn: 5 as unknown as string } })).toThrow(
            /GatewayPlatform typed: invalid args[\s\S]*args\.controlPlane\.databaseDsn = \[secret\]: Invalid input: expected string/,
        );
        await new Promise((r) => setTimeout(r, 10));
        expect(registered).toEqual([]);
    });

    const secretInput = (dsn: string) =>
        runProgram({
            program: join(ROOT, "test", "unit", "fixtures", "secret-input.ts"),
            project: "gateway-ha",
            stack: "secret-input",
            config: { "fixture:dsn": dsn },
            importer: (p) => {
                vi.resetModules();
                return import(p);
            },
        });

    it("a secret given as an Output is checked once known: a good one deploys, still a secret where it lands", async () => {
        const dsn = "postgres://api7:pw@db.internal:5432/api7?sslmode=verify-full";
        const run = await secretInput(dsn);
        expect(run.outputs.gatewayUrl.value).toMatch(/^http:\/\//);
        // It reached the dashboards' files, and only inside secret wrappers.
        expect(run.resources.filter((r) => JSON.stringify(r.inputs).includes("db.internal")).length).toBeGreaterThan(0);
        expect(scanRun(run, [dsn])).toEqual([]);
    });

    it("a bad secret given as an Output fails the resources it reaches, naming the key, never the value", async () => {
        const failure = await secretInput("mysql://api7:topsecret@db.internal/api7").then(
            () => "deployed",
            (e: Error) => e.message,
        );
        expect(failure).toContain("args.controlPlane.databaseDsn = [secret]: must be a PostgreSQL URL");
        expect(failure).not.toContain("topsecret");
    });
});
