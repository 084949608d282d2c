// The configuration reference (docs/configuration.md) from the schema itself: one row per key that
// carries a description, its default read from the schema unless the key says otherwise.
import type { z } from "zod";
import { platformConfigSchema, type KeyDoc } from "./schema";

/** A key's place: object keys by name, an array's elements as 0. */
export type SchemaPath = (string | number)[];

export interface Def {
    type: string;
    innerType?: z.ZodType;
    in?: z.ZodType;
    element?: z.ZodType;
    shape?: Record<string, z.ZodType>;
    options?: z.ZodType[];
    valueType?: z.ZodType;
}
const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;
const WRAPPERS = new Set(["optional", "default", "prefault", "nullable", "readonly"]);

/** A key as declared: its outermost schema (what parses the value), and the documentation found on any of its wrappers. */
export interface SchemaKey {
    path: SchemaPath;
    schema: z.ZodType;
    doc?: KeyDoc;
    /** An object or an array: its keys (an array's: its element's) follow it. */
    container: boolean;
}

/** A schema and what it wraps (optional, default, …), outermost first. */
function layers(schema: z.ZodType): z.ZodType[] {
    const def = defOf(schema);
    const inner = WRAPPERS.has(def.type) ? def.innerType : def.type === "pipe" ? def.in : undefined;
    return inner ? [schema, ...layers(inner)] : [schema];
}

/** The first value of a metadata key on a schema or what it wraps. */
export function metaOf<T>(schema: z.ZodType, key: string): T | undefined {
    for (const layer of layers(schema)) {
        const value = (layer.meta() as Record<string, unknown> | undefined)?.[key];
        if (value !== undefined) return value as T;
    }
    return undefined;
}

function docOf(schema: z.ZodType): KeyDoc | undefined {
    const description = metaOf<string>(schema, "description");
    if (!description) return undefined;
    const defaultText = metaOf<string>(schema, "defaultText");
    return defaultText === undefined ? { description } : { description, defaultText };
}

/** What a key holds once its wrappers are peeled: its type's definition. */
export function innerDef(schema: z.ZodType): Def {
    return defOf(layers(schema).at(-1)!);
}
const unwrap = (schema: z.ZodType): z.ZodType => layers(schema).at(-1)!;

/** Every key the schema declares, depth first in declaration order, objects entered and arrays' elements as 0. */
export function schemaKeys(schema: z.ZodType = platformConfigSchema, path: SchemaPath = []): SchemaKey[] {
    const inner = defOf(unwrap(schema));
    const self = (container: boolean): SchemaKey[] => (path.length ? [{ path, schema, doc: docOf(schema), container }] : []);
    switch (inner.type) {
        case "object":
            return [...self(true), ...Object.entries(inner.shape!).flatMap(([k, v]) => schemaKeys(v, [...path, k]))];
        case "array":
            return [...self(true), ...schemaKeys(inner.element!, [...path, 0])];
        case "union":
            return [...self(true), ...inner.options!.flatMap((o) => schemaKeys(o, path).slice(path.length ? 1 : 0))];
        default:
            return self(false);
    }
}

/** `loadBalancer.keepalived.vips[].address`: the form `pulumi config set --path` takes, any element. */
export const keyName = (path: SchemaPath): string => path.map((p, i) => (typeof p === "number" ? "[]" : i === 0 ? p : `.${p}`)).join("");

/** Keys that neither carry a description nor sit under a key that does: what the reference would leave out. */
export function undocumentedKeys(keys: SchemaKey[]): string[] {
    const documented = keys.filter((k) => k.doc).map((k) => keyName(k.path));
    return keys
        .filter((k) => !k.container && !k.doc)
        .map((k) => keyName(k.path))
        .filter((name) => !documented.some((d) => name.startsWith(`${d}.`) || name.startsWith(`${d}[]`)));
}

/** YAML-flow-like and unquoted, as the docs write values: `{http: 9080, https: 9443}`, `[127.0.0.0/24]`. */
export function formatValue(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(formatValue).join(", ")}]`;
    if (value !== null && typeof value === "object")
        return `{${Object.entries(value)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => `${k}: ${formatValue(v)}`)
            .join(", ")}}`;
    return String(value);
}

/** The default column: the key's own text, else what the schema gives an absent key: a value, nothing (—), or a refusal (required). */
export function defaultCell(key: SchemaKey): string {
    if (key.doc?.defaultText !== undefined) return key.doc.defaultText;
    const parsed = key.schema.safeParse(undefined);
    if (!parsed.success) return "required";
    return parsed.data === undefined ? "—" : `\`${formatValue(parsed.data)}\``;
}

const cell = (text: string) => text.replace(/\|/g, "\\|");

/** The Markdown table: key, default, meaning; one row per documented key. */
export function renderConfigReference(keys: SchemaKey[] = schemaKeys()): string {
    const rows = keys.filter((k) => k.doc).map((k) => `| \`${keyName(k.path)}\` | ${cell(defaultCell(k))} | ${cell(k.doc!.description)} |`);
    return ["| key | default | meaning |", "|---|---|---|", ...rows].join("\n") + "\n";
}

export const REFERENCE_BEGIN = "<!-- BEGIN configuration reference: generated from components/config/schema.ts by `npm run generate`; edit the schema's descriptions, not this table -->";
export const REFERENCE_END = "<!-- END configuration reference -->";

/** `page` with the text between the markers replaced by `table`; throws when the markers are missing. */
export function withReference(page: string, table: string): string {
    const begin = page.indexOf(REFERENCE_BEGIN);
    const end = page.indexOf(REFERENCE_END);
    if (begin < 0 || end < begin) throw new Error("the page lacks the configuration reference's markers");
    return `${page.slice(0, begin + REFERENCE_BEGIN.length)}\n${table}${page.slice(end)}`;
}
