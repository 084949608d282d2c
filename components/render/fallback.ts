// Data-plane resilience (seed 002): the fallback buckets' access policies, the `fallback_cp`
// blocks the dashboard and standalone gateways read, and the local S3 server's bootstrap.
// The same policy documents go to AWS IAM and to MinIO, which speaks the AWS policy language.
import type { PlatformSpec } from "../config/types";
import { readsOneFallbackBucket } from "../config/images";
import type { Topology } from "../topology/types";

type FallbackStorageSpec = NonNullable<PlatformSpec["resilience"]["fallbackStorage"]>;

export interface PolicyStatement {
    Sid: string;
    Effect: "Allow" | "Deny";
    Principal?: "*";
    Action: string[];
    Resource: string[];
    Condition?: Record<string, Record<string, string>>;
}

export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: PolicyStatement[];
}

/**
 * How a side authenticates to the buckets: instance-profile roles (target aws: nothing to leak)
 * or an access key pair per side (IAM users, or users on the local server).
 */
export type S3Auth = "instance-role" | "access-keys";

export interface S3Keys {
    accessKey: string;
    secretKey: string;
}

/** The ARN partition of a region: China and GovCloud have their own. */
export function awsPartition(region: string): string {
    return region.startsWith("cn-") ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws";
}

export const bucketArn = (bucket: string, region = "us-east-1") => `arn:${awsPartition(region)}:s3:::${bucket}`;

/** The two fallback buckets' ARNs: instance config first, resources second. */
export function fallbackBucketArns(storage: Pick<FallbackStorageSpec, "configBucket" | "resourceBucket" | "region">): string[] {
    return [bucketArn(storage.configBucket, storage.region), bucketArn(storage.resourceBucket, storage.region)];
}

const objects = (bucketArns: readonly string[]) => bucketArns.map((a) => `${a}/*`);

/**
 * The control plane's dumper. It rewrites the same keys every `cron_spec`, so PutObject covers
 * the overwrite and versioning keeps the previous dump. No DeleteObject: on a versioned bucket a
 * delete only lays a marker that hides the last good dump from standalone gateways, and old
 * versions are expired by the lifecycle rule, not by the writer.
 */
export function writerPolicy(bucketArns: readonly string[]): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "ListFallbackBuckets", Effect: "Allow", Action: ["s3:ListBucket"], Resource: [...bucketArns] },
            { Sid: "ReadWriteDumps", Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: objects(bucketArns) },
        ],
    };
}

/** Standalone gateways only read the last dump. */
export function readerPolicy(bucketArns: readonly string[]): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "ListFallbackBuckets", Effect: "Allow", Action: ["s3:ListBucket"], Resource: [...bucketArns] },
            { Sid: "ReadDumps", Effect: "Allow", Action: ["s3:GetObject"], Resource: objects(bucketArns) },
        ],
    };
}

/** Refuses every request that does not arrive over TLS, whoever sends it. */
export function tlsOnlyBucketPolicy(bucketArn: string): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:*"],
                Resource: [bucketArn, `${bucketArn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ],
    };
}

/** A dump interrupted mid-upload leaves parts behind: abort them after this many days. */
export const ABORT_MULTIPART_DAYS = 7;

/** Where clients reach the buckets: "" for Amazon S3, the storage node's server for kind local. */
export function storageEndpoint(spec: PlatformSpec, topology: Topology): string {
    const storage = spec.resilience.fallbackStorage;
    if (!storage || storage.kind !== "local") return "";
    const node = topology.byRole.storage[0];
    if (!node) throw new Error("fallback storage kind local needs a node with role storage");
    return `http://${node.address}:${storage.port}`;
}

/**
 * The `aws_s3` block of `fallback_cp`. 3.2.16.x reads `{bucket, region, access_key, secret_key}`: the
 * dump goes to the config bucket, and only Amazon S3 can be reached (validation refuses kind local
 * there). Newer gateways and dashboards read the two buckets and an endpoint, which the dashboard
 * names `custom_endpoint` and the gateways `endpoint`; an S3-compatible server needs path-style
 * addressing (no bucket DNS names). Without keys the SDK's default chain picks up the instance role.
 */
export function fallbackS3Block(spec: PlatformSpec, topology: Topology, reader: "control-plane" | "data-plane", keys?: S3Keys) {
    const storage = spec.resilience.fallbackStorage;
    if (!storage) throw new Error("fallback_cp needs resilience.fallbackStorage");
    const credentials = keys ? { access_key: keys.accessKey, secret_key: keys.secretKey } : {};
    if (readsOneFallbackBucket(reader === "control-plane" ? spec.controlPlane.image : spec.dataPlane.image))
        return { region: storage.region, bucket: storage.configBucket, ...credentials };
    const endpoint = storageEndpoint(spec, topology);
    return {
        region: storage.region,
        config_bucket: storage.configBucket,
        resource_bucket: storage.resourceBucket,
        ...(endpoint ? { [reader === "control-plane" ? "custom_endpoint" : "endpoint"]: endpoint, use_path_style: true } : {}),
        ...credentials,
    };
}

/** The dashboard's `fallback_cp`: dump the configuration to the buckets every `cron_spec`. */
export function controlPlaneFallbackBlock(spec: PlatformSpec, topology: Topology, keys?: S3Keys) {
    const storage = spec.resilience.fallbackStorage;
    if (!storage) throw new Error("fallback_cp needs resilience.fallbackStorage");
    return { cron_spec: storage.cronSpec, aws_s3: fallbackS3Block(spec, topology, "control-plane", keys) };
}

/** Names the local server's bootstrap uses; the values come from the task's environment. */
export const MINIO_BOOTSTRAP_ENV = {
    rootUser: "MINIO_ROOT_USER",
    rootPassword: "MINIO_ROOT_PASSWORD",
    writerAccessKey: "FALLBACK_CP_ACCESS_KEY",
    writerSecretKey: "FALLBACK_CP_SECRET_KEY",
    readerAccessKey: "FALLBACK_DP_ACCESS_KEY",
    readerSecretKey: "FALLBACK_DP_SECRET_KEY",
} as const;

/** The mc alias the bootstrap defines through MC_HOST_<alias> (forwarded into the server container). */
export const MINIO_ADMIN_ALIAS = "gha";
export const MINIO_ADMIN_HOST_ENV = `MC_HOST_${MINIO_ADMIN_ALIAS}`;

/** Policy names on the local server. */
export const MINIO_POLICIES = { writer: "gateway-ha-fallback-writer", reader: "gateway-ha-fallback-reader" } as const;

/**
 * `mc ilm import` JSON (minio-go's lifecycle.Configuration): expire noncurrent versions. MinIO has
 * no AbortIncompleteMultipartUpload rule; it drops stale uploads itself (api stale_uploads_expiry).
 */
export function minioLifecycle(noncurrentVersionDays: number) {
    return {
        Rules: [{ ID: "expire-old-dumps", Status: "Enabled", Filter: { Prefix: "" }, NoncurrentVersionExpiration: { NoncurrentDays: noncurrentVersionDays } }],
    };
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs on the deployer; `tool` is `mc` inside the server container with MC_HOST_<alias> forwarded.
 * Every step is idempotent so the task can re-run on any container replacement. Secret keys reach
 * `mc admin user add` on stdin; only the access key (the user's name) is an argument, to attach
 * its policy. No TLS-only bucket policy: the local server speaks plain HTTP on the platform
 * network, so `aws:SecureTransport` is always false there and the Deny would lock everyone out.
 */
export function renderMinioBootstrapScript(spec: PlatformSpec): string {
    const storage = spec.resilience.fallbackStorage;
    if (!storage || storage.kind !== "local") throw new Error("the local bootstrap is for fallback storage kind local");
    const e = MINIO_BOOTSTRAP_ENV;
    const a = MINIO_ADMIN_ALIAS;
    const arns = fallbackBucketArns(storage);
    const lifecycle = JSON.stringify(minioLifecycle(storage.noncurrentVersionDays));
    const user = (policy: string, doc: PolicyDocument, accessKey: string, secretKey: string) => [
        `printf '%s' ${sq(JSON.stringify(doc))} | tool admin policy create ${a} ${policy} /dev/stdin`,
        // Its "Added user <access key>" would land in the task's stdout, kept in plain state.
        `printf '%s\\n%s\\n' "$${accessKey}" "$${secretKey}" | tool admin user add ${a} >/dev/null`,
        // Attaching an attached policy fails with "already in effect": that is the state we want.
        `if ! out=$(tool admin policy attach ${a} ${policy} --user "$${accessKey}" 2>&1); then`,
        `  case "$out" in *"already in effect"*) ;; *) printf '%s\\n' "$out" >&2; exit 1 ;; esac`,
        `fi`,
    ];
    return [
        `${MINIO_ADMIN_HOST_ENV}="http://\${${e.rootUser}}:\${${e.rootPassword}}@127.0.0.1:${storage.port}"`,
        `export ${MINIO_ADMIN_HOST_ENV}`,
        `for bucket in ${sq(storage.configBucket)} ${sq(storage.resourceBucket)}; do`,
        `  tool mb --ignore-existing "${a}/$bucket"`,
        `  tool version enable "${a}/$bucket"`,
        `  tool encrypt set sse-s3 "${a}/$bucket"`,
        `  tool anonymous set none "${a}/$bucket"`,
        `  printf '%s' ${sq(lifecycle)} | tool ilm import "${a}/$bucket"`,
        `done`,
        ...user(MINIO_POLICIES.writer, writerPolicy(arns), e.writerAccessKey, e.writerSecretKey),
        ...user(MINIO_POLICIES.reader, readerPolicy(arns), e.readerAccessKey, e.readerSecretKey),
        "",
    ].join("\n");
}
