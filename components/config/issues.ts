/** One broken rule: which config key, the offending value, and the rule it breaks. */
export interface ConfigIssue {
    /** Dotted path under the `gateway-ha:` namespace, e.g. `etcd.members` or `nodes[2].address`. */
    key: string;
    value: unknown;
    rule: string;
    /** Never shown: a key the schema does not know may hold a secret under a misspelled name. */
    hideValue?: boolean;
}

export const NAMESPACE = "gateway-ha";

/** Values never echoed back in messages: they are secrets. */
const SECRET_KEY = /(dsn|password|secret|token|key|authPass)$/i;

export function formatIssue(issue: ConfigIssue): string {
    const shown = issue.hideValue ? "(not shown)" : SECRET_KEY.test(issue.key) && issue.value !== undefined ? "[secret]" : JSON.stringify(issue.value);
    return `${NAMESPACE}:${issue.key} = ${shown ?? "(unset)"}: ${issue.rule}`;
}

/** Thrown before any resource exists; lists every problem, not only the first. */
export class ConfigValidationError extends Error {
    constructor(readonly issues: ConfigIssue[]) {
        super(
            `invalid stack configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
                issues.map((i) => `  - ${formatIssue(i)}`).join("\n"),
        );
        this.name = "ConfigValidationError";
    }
}
