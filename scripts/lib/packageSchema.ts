// The Pulumi package schema of gateway-ha as `pulumi package add` derives it: @pulumi/pulumi's
// component analyzer over this package (its entry: package.json's `main`), for the components the
// entry exports, the way the plugin host finds them (getPulumiComponents).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Analyzer } from "@pulumi/pulumi/provider/experimental/analyzer";
import { getPulumiComponents } from "@pulumi/pulumi/provider/experimental/provider";
import { generateSchema } from "@pulumi/pulumi/provider/experimental/schema";

export const PACKAGE_ROOT = join(__dirname, "..", "..");
/** The reviewed copy: every change to the package's public API shows in its diff. */
export const PACKAGE_SCHEMA_FILE = "pulumi-schema.json";

export function packageManifest(root = PACKAGE_ROOT): { name: string; version: string; description: string; main: string } {
    return JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
}

/** The components the plugin host would serve: every ComponentResource class the entry module exports. */
export function exportedComponents(entry: Record<string, unknown>): string[] {
    return getPulumiComponents(entry).map((c) => c.name);
}

/** Throws, as `pulumi package add` would fail, on the first type the analyzer cannot express. */
export function packageSchema(components: string[], root = PACKAGE_ROOT): unknown {
    const manifest = packageManifest(root);
    const analyzer = new Analyzer(root, manifest.name, manifest, new Set(components));
    const { components: defs, typeDefinitions, dependencies } = analyzer.analyze();
    return generateSchema(manifest.name, manifest.version, manifest.description, defs, typeDefinitions, dependencies);
}
