// A small evaluator of IAM and KMS policy documents, for the statements the AWS target writes:
// Allow/Deny, Action/NotAction and Resource with * and ? wildcards, and the String/Arn condition
// operators. An operator it does not know throws, so a policy it cannot judge fails the test
// instead of being misjudged. KMS: a key policy's statement for the account root delegates to IAM.
import type { PolicyDocument, PolicyStatement } from "../../components/render/awsPolicies";

export interface Request {
    principal: string;
    action: string;
    resource: string;
    context?: Record<string, string>;
}

const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function glob(pattern: string, value: string, caseless = false): boolean {
    const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp(`^${re}$`, caseless ? "i" : "").test(value);
}

function conditionHolds(op: string, key: string, values: string[], context: Record<string, string>): boolean {
    const actual = context[key];
    const negated = op.startsWith("StringNot") || op.startsWith("ArnNot");
    if (actual === undefined) return negated;
    const like = op.endsWith("Like");
    const equals = op.endsWith("Equals");
    if (!(like || equals) || !/^(String|Arn)(Not)?(Equals|Like)$/.test(op)) throw new Error(`iamEval: condition operator ${op} is not supported`);
    const any = values.some((v) => (like ? glob(v, actual) : v === actual));
    return negated ? !any : any;
}

function principalMatches(s: PolicyStatement, principal: string): boolean {
    if (s.Principal === undefined) return true; // identity policy: the principal it is attached to
    if (s.Principal === "*") return true;
    const account = principal.split(":")[4];
    return list(s.Principal.AWS).some((p) => p === principal || p === "*" || p === `arn:aws:iam::${account}:root`);
}

function statementMatches(s: PolicyStatement, r: Request): boolean {
    if (!principalMatches(s, r.principal)) return false;
    const actionHit = s.Action !== undefined ? list(s.Action).some((a) => glob(a, r.action, true)) : !list(s.NotAction).some((a) => glob(a, r.action, true));
    if (!actionHit) return false;
    if (!list(s.Resource).some((p) => glob(p, r.resource))) return false;
    return Object.entries(s.Condition ?? {}).every(([op, keys]) => Object.entries(keys).every(([k, v]) => conditionHolds(op, k, list(v), r.context ?? {})));
}

const effects = (docs: PolicyDocument[], r: Request) => docs.flatMap((d) => d.Statement.filter((s) => statementMatches(s, r)).map((s) => s.Effect));

/** Identity policies alone (SSM parameters have no resource policy). */
export function identityAllows(policies: PolicyDocument[], r: Request): boolean {
    const e = effects(policies, r);
    return e.includes("Allow") && !e.includes("Deny");
}

/**
 * A KMS key: an explicit deny anywhere refuses; else the key policy must allow the principal
 * directly, or allow the account root (delegation) while the principal's IAM policies allow.
 */
export function kmsAllows(keyPolicy: PolicyDocument, policies: PolicyDocument[], r: Request): boolean {
    if (effects([keyPolicy], r).includes("Deny") || effects(policies, r).includes("Deny")) return false;
    const account = r.principal.split(":")[4];
    const direct = keyPolicy.Statement.some((s) => s.Effect === "Allow" && s.Principal !== "*" && s.Principal !== undefined && list(s.Principal.AWS).includes(r.principal) && statementMatches(s, r));
    const delegated = keyPolicy.Statement.some((s) => s.Effect === "Allow" && s.Principal !== "*" && s.Principal !== undefined && list(s.Principal.AWS).includes(`arn:aws:iam::${account}:root`) && statementMatches(s, r));
    return direct || (delegated && identityAllows(policies, r));
}
