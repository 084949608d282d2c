// The TypeScript source of components/platformArgs.ts: GatewayPlatform's Args as the stack config's
// keys, written from the config schema (`npm run generate`) so the two cannot drift. Its shapes are
// the ones Pulumi's component analyzer turns into a package schema: named interfaces, enums as
// `as const` objects, maps as index signatures, secrets as `pulumi.Input<string>`.
import type { z } from "zod";
import { platformConfigSchema, type KeyChoices } from "./schema";
import { defaultCell, innerDef, keyName, metaOf, type SchemaPath } from "./reference";
import { SECRET_CONFIG_PATHS } from "./validate";

/** A nested object's interface name: its own (`argsType`), else its key's, PascalCased, + "Args". */
const interfaceName = (schema: z.ZodType, key: string) => metaOf<string>(schema, "argsType") ?? `${pascal(key)}Args`;
/** `fallbackStorage` → FallbackStorage, `api7-v2` → Api7V2, `TCP_CHECK` → TcpCheck. */
const pascal = (s: string) =>
    s
        .split(/[^A-Za-z0-9]+/)
        .filter(Boolean)
        .map((w) => w[0].toUpperCase() + (w === w.toUpperCase() ? w.slice(1).toLowerCase() : w.slice(1)))
        .join("");
const property = (key: string) => (/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key));
/** Markdown links as their text: the JSDoc travels into other languages' SDKs, where docs/ links do not resolve. */
const plain = (markdown: string) => markdown.replace(/\[([^\]]+)\]\([^)]+\)/g, "$1");

interface Emitted {
    interfaces: Map<string, string>;
    enums: Map<string, KeyChoices>;
}

function emitType(schema: z.ZodType, path: SchemaPath, out: Emitted): string {
    const def = innerDef(schema);
    const choices = metaOf<KeyChoices>(schema, "choices");
    if (choices) {
        const known = out.enums.get(choices.typeName);
        if (known && known.values.join() !== choices.values.join()) throw new Error(`enum ${choices.typeName} is declared twice with different values`);
        out.enums.set(choices.typeName, choices);
        return choices.typeName;
    }
    switch (def.type) {
        case "string":
            return (SECRET_CONFIG_PATHS as readonly string[]).includes(keyName(path)) ? "pulumi.Input<string>" : "string";
        case "number":
            return "number";
        case "boolean":
            return "boolean";
        case "array":
            return `${emitType(def.element!, [...path, 0], out)}[]`;
        case "record":
            return `{ [key: string]: ${emitType(def.valueType!, [...path, 0], out)} }`;
        case "object": {
            const key = String(path.filter((p) => typeof p === "string").at(-1) ?? "GatewayPlatform");
            const name = path.length === 0 ? "GatewayPlatformArgs" : interfaceName(schema, key);
            emitInterface(name, def.shape!, path, out);
            return name;
        }
        default:
            throw new Error(`${keyName(path)}: no Args type for a schema of type ${def.type}`);
    }
}

function emitInterface(name: string, shape: Record<string, z.ZodType>, path: SchemaPath, out: Emitted): void {
    const fields = Object.entries(shape).map(([key, field]) => {
        const at = [...path, key];
        const type = emitType(field, at, out);
        const required = !field.safeParse(undefined).success;
        const description = metaOf<string>(field, "description");
        const fallback = defaultCell({ path: at, schema: field, container: false, doc: description ? { description, defaultText: metaOf<string>(field, "defaultText") } : undefined });
        // A section's default is its keys' defaults, each told on its own key.
        const section = !description && innerDef(field).type === "object";
        const told = !section && !fallback.startsWith("—") && fallback !== "required" ? `default: ${plain(fallback)}` : undefined;
        const doc = description ? plain(description) + (told ? ` (${told})` : "") : told ? told[0].toUpperCase() + told.slice(1) : "";
        return `${doc ? `    /** ${doc.replace(/\*\//g, "*\\/")} */\n` : ""}    ${property(key)}${required ? "" : "?"}: ${type};`;
    });
    const source = `export interface ${name} {\n${fields.join("\n")}\n}`;
    const known = out.interfaces.get(name);
    if (known !== undefined && known !== source) throw new Error(`${keyName(path)}: interface ${name} would be declared twice with different fields; give one an argsType`);
    out.interfaces.set(name, source);
}

const member = (value: string) => pascal(value) || value;

/** The generated module's whole text. */
export function renderPlatformArgsSource(schema: z.ZodType = platformConfigSchema): string {
    const out: Emitted = { interfaces: new Map(), enums: new Map() };
    emitType(schema, [], out);
    const enums = [...out.enums.values()].map(
        ({ typeName, values }) =>
            `export const ${typeName} = {\n${values.map((v) => `    ${member(v)}: ${JSON.stringify(v)},`).join("\n")}\n} as const;\nexport type ${typeName} = (typeof ${typeName})[keyof typeof ${typeName}];`,
    );
    return [
        "// Generated from components/config/schema.ts by `npm run generate`; edit the schema, not this file.",
        "// GatewayPlatform's Args: the stack config's keys (docs/configuration.md), secrets as Inputs.",
        'import type * as pulumi from "@pulumi/pulumi";',
        "",
        ...enums.flatMap((e) => [e, ""]),
        // Interfaces were emitted innermost first; the Args read best from the top.
        ...[...out.interfaces.values()].reverse().flatMap((i) => [i, ""]),
    ].join("\n");
}
