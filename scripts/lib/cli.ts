// Command-line options of the scripts: node:util parseArgs, strict and without positionals.
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Bad usage or arguments: the scripts print it with their usage line and exit 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The options' values; parseArgs' own refusals (an unknown option, a missing value) become UsageErrors. */
export function parseCli<O extends Options>(argv: string[], options: O) {
    try {
        return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
    } catch (e) {
        if (e instanceof TypeError && String((e as { code?: unknown }).code).startsWith("ERR_PARSE_ARGS")) throw new UsageError(e.message);
        throw e;
    }
}
