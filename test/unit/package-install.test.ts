// The package as another repository installs it: `npm pack` (which builds dist/ through `prepare`),
// unpacked into a consumer's node_modules; the examples type-check against it by package name and
// its entries load from dist/ without TypeScript, creating nothing.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers";

let consumer: string;

// Asynchronous, so the test worker keeps answering vitest while npm and tsc run (a worker blocked
// for the build's half minute misses vitest's RPC timeout on a loaded machine).
const run = async (file: string, args: string[], cwd: string): Promise<string> => (await promisify(execFile)(file, args, { cwd, encoding: "utf8", maxBuffer: 64 << 20 })).stdout;

beforeAll(async () => {
    consumer = mkdtempSync(join(tmpdir(), "gateway-ha-consumer-"));
    const packed = (await run("npm", ["pack", "--silent", "--pack-destination", consumer], ROOT)).trim().split("\n").at(-1)!;
    const modules = join(consumer, "node_modules");
    mkdirSync(join(modules, "gateway-ha"), { recursive: true });
    await run("tar", ["xzf", join(consumer, packed), "-C", join(modules, "gateway-ha"), "--strip-components=1"], consumer);
    // The package's dependencies, as npm would install them beside it.
    for (const dep of ["@pulumi", "@types", "yaml", "zod"]) symlinkSync(join(ROOT, "node_modules", dep), join(modules, dep));
    for (const example of ["consumer", "component", "blocks"]) cpSync(join(ROOT, "examples", example, "index.ts"), join(consumer, `${example}.ts`));
}, 180_000);

afterAll(() => rmSync(consumer, { recursive: true, force: true }));

const tsc = (moduleResolution: string): Promise<string> => {
    const module = moduleResolution === "node" ? "commonjs" : "node16";
    writeFileSync(
        join(consumer, "tsconfig.json"),
        JSON.stringify({ compilerOptions: { strict: true, target: "ES2020", module, moduleResolution, esModuleInterop: true, noEmit: true, types: ["node"] }, files: ["consumer.ts", "component.ts", "blocks.ts"] }),
    );
    return run(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", consumer], consumer);
};

describe("the packed package, installed by another repository", () => {
    it("ships the built entries, the TypeScript sources the plugin host runs, the plugin file and the schema; no tests, no lab", () => {
        const pkg = join(consumer, "node_modules", "gateway-ha");
        const files = readdirSync(pkg);
        expect(files).toEqual(expect.arrayContaining(["dist", "components", "PulumiPlugin.yaml", "pulumi-schema.json", "package.json"]));
        expect(files).not.toContain("test");
        expect(files).not.toContain("lab");
        expect(readdirSync(join(pkg, "dist", "components"))).toEqual(expect.arrayContaining(["index.js", "index.d.ts", "outputs.js", "outputs.d.ts", "blocks.js", "blocks.d.ts"]));
    });

    it("examples/consumer, examples/component and examples/blocks type-check against it by package name: classic node resolution (Pulumi's default) and node16 (the exports map)", async () => {
        expect(await tsc("node")).toBe("");
        expect(await tsc("node16")).toBe("");
    }, 180_000);

    it("loads from dist/ in plain Node, creating nothing: the component, the enums, the output contract and its StackReference helper, the building blocks", async () => {
        const out = await run(
            process.execPath,
            [
                "-e",
                `const p = require("gateway-ha"); const o = require("gateway-ha/outputs"); const b = require("gateway-ha/blocks");
                 console.log(JSON.stringify({ entry: require.resolve("gateway-ha"), component: typeof p.GatewayPlatform, flavor: p.Flavor.Api7V3, helper: typeof o.platformOutput, keys: o.PLAIN_OUTPUT_KEYS.length,
                   blocks: ["planPlatform", "DockerTarget", "EtcdCluster", "GatewayGroup", "LoadBalancer"].map((k) => typeof b[k]) }));`,
            ],
            consumer,
        );
        const seen = JSON.parse(out);
        expect(seen).toMatchObject({ component: "function", flavor: "api7-v3", helper: "function", keys: 13, blocks: Array(5).fill("function") });
        expect(seen.entry).toMatch(/node_modules\/gateway-ha\/dist\/components\/index\.js$/);
    });
});
