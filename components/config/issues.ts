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

/** What the keys are: the stack config's (`gateway-ha:etcd.members`), or a component's Args (`args.etcd.members`). */
export interface IssueSubject {
    title: string;
    keyPrefix: string;
}
export const STACK_CONFIG: IssueSubject = { title: "invalid stack configuration", keyPrefix: `${NAMESPACE}:` };

export const formatIssue = (issue: ConfigIssue): string => issueLine(issue, STACK_CONFIG);

function issueLine(issue: ConfigIssue, subject: IssueSubject): string {
    const shown = issue.hideValue ? "(not shown)" : SECRET_KEY.test(issue.key) && issue.value !== undefined ? "[secret]" : JSON.stringify(issue.value);
    return `${subject.keyPrefix}${issue.key} = ${shown ?? "(unset)"}: ${issue.rule}`;
}

/** Thrown before any resource exists; lists every problem, not only the first. */
export class ConfigValidationError extends Error {
    constructor(
        readonly issues: ConfigIssue[],
        subject: IssueSubject = STACK_CONFIG,
    ) {
        super(
            `${subject.title} (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
                issues.map((i) => `  - ${issueLine(i, subject)}`).join("\n"),
        );
        this.name = "ConfigValidationError";
    }
}
