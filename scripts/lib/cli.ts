// Command-line options shared by the scripts: `--name VALUE`, repeatable `--name VALUE`, `--flag`.

/** Bad usage or arguments: the scripts print it with their usage line and exit 2. */
export class UsageError extends Error {}

export interface OptionSpec {
    values?: string[];
    repeated?: string[];
    flags?: string[];
}

export interface ParsedOptions {
    values: Map<string, string>;
    repeated: Map<string, string[]>;
    flags: Set<string>;
}

export function parseOptions(argv: string[], spec: OptionSpec): ParsedOptions {
    const parsed: ParsedOptions = { values: new Map(), repeated: new Map(), flags: new Set() };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (spec.flags?.includes(a)) {
            parsed.flags.add(a);
            continue;
        }
        const takesValue = spec.values?.includes(a) || spec.repeated?.includes(a);
        if (!takesValue) throw new UsageError(`unknown argument ${a}`);
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${a} needs a value`);
        if (spec.repeated?.includes(a)) parsed.repeated.set(a, [...(parsed.repeated.get(a) ?? []), v]);
        else parsed.values.set(a, v);
    }
    return parsed;
}
