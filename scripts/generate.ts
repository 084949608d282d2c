// Writes what is generated: from the config schema (components/config/schema.ts), the configuration
// reference in docs/configuration.md and GatewayPlatform's Args (components/platformArgs.ts); from
// those, the package schema @pulumi/pulumi's analyzer derives (pulumi-schema.json, reviewed in diffs).
// test/unit/config-reference.test.ts and test/unit/package.test.ts fail while any differs.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderPlatformArgsSource } from "../components/config/argsSource";
import { renderConfigReference, withReference } from "../components/config/reference";
import { PACKAGE_SCHEMA_FILE, exportedComponents, packageSchema } from "./lib/packageSchema";

const root = join(__dirname, "..");
const outputs: [string, (before: string) => string][] = [
    ["docs/configuration.md", (before) => withReference(before, renderConfigReference())],
    ["components/platformArgs.ts", () => renderPlatformArgsSource()],
    // After the Args are written: the analyzer reads them from disk. Loaded late for the same reason.
    [PACKAGE_SCHEMA_FILE, () => `${JSON.stringify(packageSchema(exportedComponents(require("../components"))), null, 2)}\n`],
];
for (const [file, render] of outputs) {
    const path = join(root, file);
    let before = "";
    try {
        before = readFileSync(path, "utf8");
    } catch {
        // A generated file may not exist yet.
    }
    const after = render(before);
    if (after !== before) writeFileSync(path, after);
    console.log(`${file}: ${after === before ? "up to date" : "written"}`);
}
