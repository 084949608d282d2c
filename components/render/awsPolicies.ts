// The AWS target's IAM and KMS policy documents, pure so tests can evaluate them.
//
// Each node has a role of its own. It may read and decrypt only the parameters under its own
// prefix: the parameters are SecureStrings under a customer-managed key (the account's aws/ssm key
// lets every principal that may call SSM decrypt), and the key's own policy refuses each node role
// any use of the key but decrypting, through SSM, a parameter under that node's prefix.

export interface PolicyStatement {
    Sid?: string;
    Effect: "Allow" | "Deny";
    Principal?: { AWS: string | string[] } | "*";
    Action?: string | string[];
    NotAction?: string | string[];
    Resource: string | string[];
    Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: PolicyStatement[];
}

/** The encryption context key Parameter Store sets on every SecureString it encrypts or decrypts. */
export const PARAMETER_CONTEXT = "kms:EncryptionContext:PARAMETER_ARN";

/**
 * What the SSM agent needs for Run Command (the gates and steps) and Session Manager, and nothing
 * else: AmazonSSMManagedInstanceCore also allows ssm:GetParameter(s) on every parameter.
 */
export const SSM_AGENT_ACTIONS = [
    "ssm:UpdateInstanceInformation",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
] as const;

export function ssmAgentPolicy(): PolicyDocument {
    return { Version: "2012-10-17", Statement: [{ Sid: "SsmAgent", Effect: "Allow", Action: [...SSM_AGENT_ACTIONS], Resource: "*" }] };
}

export interface NodeParameters {
    /** `arn:<partition>:ssm:<region>:<account>:parameter/gateway-ha/<stack>/<node>`, no trailing slash. */
    prefixArn: string;
    keyArn: string;
    region: string;
}

/** A node role's own parameters: read them, and decrypt them through SSM only. */
export function nodeParametersPolicy(p: NodeParameters): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "ReadOwnParameters", Effect: "Allow", Action: ["ssm:GetParameter", "ssm:GetParameters"], Resource: `${p.prefixArn}/*` },
            {
                Sid: "DecryptOwnParameters",
                Effect: "Allow",
                Action: "kms:Decrypt",
                Resource: p.keyArn,
                Condition: {
                    StringLike: { [PARAMETER_CONTEXT]: `${p.prefixArn}/*` },
                    StringEquals: { "kms:ViaService": `ssm.${p.region}.amazonaws.com` },
                },
            },
        ],
    };
}

export interface ParameterKeyPolicy {
    /** `arn:<partition>:iam::<account>:root`: the account administers the key through IAM, as AWS's default key policy does. */
    accountRoot: string;
    nodes: { roleArn: string; prefixArn: string }[];
}

/**
 * The parameter key's policy: IAM decides for the account's principals (the deployer encrypts),
 * and whatever a node role's IAM policies say, the key denies it everything but decrypting its
 * own parameters. (A missing context makes StringNotLike true: denied.)
 */
export function parameterKeyPolicy(p: ParameterKeyPolicy): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "AccountAdministersThroughIam", Effect: "Allow", Principal: { AWS: p.accountRoot }, Action: "kms:*", Resource: "*" },
            ...p.nodes.flatMap((n, i): PolicyStatement[] => [
                { Sid: `Node${i}OnlyDecrypts`, Effect: "Deny", Principal: { AWS: n.roleArn }, NotAction: "kms:Decrypt", Resource: "*" },
                { Sid: `Node${i}OwnParametersOnly`, Effect: "Deny", Principal: { AWS: n.roleArn }, Action: "kms:Decrypt", Resource: "*", Condition: { StringNotLike: { [PARAMETER_CONTEXT]: `${n.prefixArn}/*` } } },
            ]),
        ],
    };
}
