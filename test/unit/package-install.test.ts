// The package as another repository installs it: `npm pack` (which builds dist/ through `prepare`),
// unpacked into a consumer's node_modules; the examples type-check against it by package name and
// its entries load from dist/ without TypeScript, creating nothing.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers";

let consumer: string;

beforeAll(() => {
    consumer = mkdtempSync(join(tmpdir(), "gateway-ha-consumer-"));
    const packed = execFileSync("npm", ["pack", "--silent", "--pack-destination", consumer], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").at(-1)!;
    const modules = join(consumer, "node_modules");
    mkdirSync(join(modules, "gateway-ha"), { recursive: true });
    execFileSync("tar", ["xzf", join(consumer, packed), "-C", join(modules, "gateway-ha"), "--strip-components=1"]);
    // The package's dependencies, as npm would install them beside it.
    for (const dep of ["@pulumi", "@types", "yaml", "zod"]) symlinkSync(join(ROOT, "node_modules", dep), join(modules, dep));
    for (const example of ["consumer", "component"]) cpSync(join(ROOT, "examples", example, "index.ts"), join(consumer, `${example}.ts`));
}, 180_000);

afterAll(() => rmSync(consumer, { recursive: true, force: true }));

const tsc = (moduleResolution: string) => {
    const module = moduleResolution === "node" ? "commonjs" : "node16";
    writeFileSync(
        join(consumer, "tsconfig.json"),
        JSON.stringify({ compilerOptions: { strict: true, target: "ES2020", module, moduleResolution, esModuleInterop: true, noEmit: true, types: ["node"] }, files: ["consumer.ts", "component.ts"] }),
    );
    return execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", consumer], { encoding: "utf8" });
};

describe("the packed package, installed by another repository", () => {
    it("ships the built entries, the TypeScript sources the plugin host runs, the plugin file and the schema; no tests, no lab", () => {
        const pkg = join(consumer, "node_modules", "gateway-ha");
        const files = readdirSync(pkg);
        expect(files).toEqual(expect.arrayContaining(["dist", "components", "PulumiPlugin.yaml", "pulumi-schema.json", "package.json"]));
        expect(files).not.toContain("test");
        expect(files).not.toContain("lab");
        expect(readdirSync(join(pkg, "dist", "components"))).toEqual(expect.arrayContaining(["index.js", "index.d.ts", "outputs.js", "outputs.d.ts"]));
    });

    it("examples/consumer and examples/component type-check against it by package name: classic node resolution (Pulumi's default) and node16 (the exports map)", () => {
        expect(tsc("node")).toBe("");
        expect(tsc("node16")).toBe("");
    });

    it("loads from dist/ in plain Node, creating nothing: the component, the enums, the output contract and its StackReference helper", () => {
        const out = execFileSync(
            process.execPath,
            [
                "-e",
                `const p = require("gateway-ha"); const o = require("gateway-ha/outputs");
                 console.log(JSON.stringify({ entry: require.resolve("gateway-ha"), component: typeof p.GatewayPlatform, flavor: p.Flavor.Api7V3, helper: typeof o.platformOutput, keys: o.PLAIN_OUTPUT_KEYS.length }));`,
            ],
            { cwd: consumer, encoding: "utf8" },
        );
        const seen = JSON.parse(out);
        expect(seen).toMatchObject({ component: "function", flavor: "api7-v3", helper: "function", keys: 13 });
        expect(seen.entry).toMatch(/node_modules\/gateway-ha\/dist\/components\/index\.js$/);
    });
});
