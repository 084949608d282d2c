// A small checker for the parts of a parsed YAML document a flavor contract describes: required
// keys, types, enums, patterns. Each check appends a Violation naming the file, the key path and
// the rule, so one pass reports everything a real program would refuse or silently ignore.

/** One thing in a rendered file that the pinned program would refuse, ignore or get wrong. */
export interface Violation {
    /** Stable id of the rule, e.g. `etcd-tls-ip-host`. */
    rule: string;
    /** The file, as the service sees it. */
    file: string;
    /** Dotted key path inside the file (`deployment.etcd.host[0]`); "" for the whole file. */
    path: string;
    message: string;
    /** Where the upstream says so: a file at a tag, or a doc page. */
    source: string;
}

type Doc = Record<string, unknown>;

export const isObject = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v);

/** The value at a dotted path (`a.b.c`), undefined when any step is missing. */
export function at(doc: unknown, path: string): unknown {
    let v: unknown = doc;
    for (const k of path.split(".")) {
        if (!isObject(v)) return undefined;
        v = v[k];
    }
    return v;
}

/** Collects violations for one file against one upstream source. */
export class Checker {
    readonly violations: Violation[] = [];

    constructor(
        readonly file: string,
        readonly doc: unknown,
        private source: string,
    ) {}

    /** Later checks cite `source`. */
    citing(source: string): this {
        this.source = source;
        return this;
    }

    fail(rule: string, path: string, message: string): void {
        this.violations.push({ rule, file: this.file, path, message, source: this.source });
    }

    get(path: string): unknown {
        return at(this.doc, path);
    }

    required(rule: string, path: string): boolean {
        if (this.get(path) !== undefined) return true;
        this.fail(rule, path, "is required");
        return false;
    }

    absent(rule: string, path: string, why: string): void {
        if (this.get(path) !== undefined) this.fail(rule, path, why);
    }

    type(rule: string, path: string, type: "string" | "integer" | "boolean" | "object" | "array"): boolean {
        const v = this.get(path);
        if (v === undefined) return true;
        const ok =
            type === "integer" ? Number.isInteger(v) : type === "object" ? isObject(v) : type === "array" ? Array.isArray(v) : typeof v === type;
        if (!ok) this.fail(rule, path, `must be ${type === "integer" || type === "array" || type === "object" ? "an" : "a"} ${type}, got ${JSON.stringify(v)}`);
        return ok;
    }

    oneOf(rule: string, path: string, allowed: readonly unknown[]): boolean {
        const v = this.get(path);
        if (v === undefined || allowed.includes(v)) return true;
        this.fail(rule, path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`);
        return false;
    }

    equals(rule: string, path: string, expected: unknown, why: string): void {
        const v = this.get(path);
        if (JSON.stringify(v) !== JSON.stringify(expected)) this.fail(rule, path, `must be ${JSON.stringify(expected)}, got ${JSON.stringify(v)}: ${why}`);
    }

    /** Every item of an array at `path` is a string matching `re`. */
    items(rule: string, path: string, re: RegExp, what: string, minItems = 1): string[] {
        const v = this.get(path);
        if (v === undefined) return [];
        if (!Array.isArray(v)) {
            this.fail(rule, path, `must be a list, got ${JSON.stringify(v)}`);
            return [];
        }
        if (v.length < minItems) this.fail(rule, path, `needs at least ${minItems} item(s)`);
        v.forEach((item, i) => {
            if (typeof item !== "string" || !re.test(item)) this.fail(rule, `${path}[${i}]`, `must be ${what}, got ${JSON.stringify(item)}`);
        });
        return v.filter((item): item is string => typeof item === "string");
    }

    /** Keys of the object at `path` that are not in `known`. */
    onlyKeys(rule: string, path: string, known: readonly string[], why: string): void {
        const v = this.get(path);
        if (!isObject(v)) return;
        for (const k of Object.keys(v)) if (!known.includes(k)) this.fail(rule, `${path}.${k}`, why);
    }
}
