import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { MINIO_IMAGE_USER } from "./flavors/images";
import {
    ABORT_MULTIPART_DAYS,
    MINIO_ADMIN_HOST_ENV,
    MINIO_BOOTSTRAP_ENV,
    bucketArn,
    fallbackBucketArns,
    readerPolicy,
    renderMinioBootstrapScript,
    storageEndpoint,
    tlsOnlyBucketPolicy,
    writerPolicy,
    type PolicyDocument,
    type S3Auth,
} from "./render/fallback";
import type { ServiceSpec, Target, WorkloadRole } from "./service";
import type { PlatformSpec } from "./config/types";
import type { Topology } from "./topology/types";
import { componentType, withPreviousToken } from "./tokens";
import { requireTarget } from "./blockArgs";
import { claimPhysical } from "./claims";

export interface FallbackStorageArgs {
    /** Where it runs: the buckets of the target's plan (resilience.fallbackStorage); kind local on its storage node. */
    target: Target;
    /** For the S3 and IAM resources (kind s3); must be in the storage region. Default: a provider for that region. */
    provider?: aws.Provider;
}

/** A key pair for one side; both halves are Pulumi secrets. */
export interface S3Credentials {
    accessKey: pulumi.Output<string>;
    secretKey: pulumi.Output<string>;
}

/** Who gets which policy: the control plane dumps, the gateways read. */
const SIDES: { role: WorkloadRole; access: "writer" | "reader"; policy: (arns: string[]) => PolicyDocument }[] = [
    { role: "control-plane", access: "writer", policy: writerPolicy },
    { role: "data-plane", access: "reader", policy: readerPolicy },
];

const MINIO_DATA_DIR = "/data";

/** Where the local S3 server's secrets are, one file each (Docker's secrets directory, which MinIO also searches). */
export const MINIO_SECRET_FILES = {
    rootUser: "/run/secrets/minio-root-user",
    rootPassword: "/run/secrets/minio-root-password",
    kmsKey: "/run/secrets/minio-kms-secret-key",
} as const;

const json = (doc: PolicyDocument) => JSON.stringify(doc);

/**
 * The two fallback buckets of seed 002 (instance config; resources) and least-privilege access to
 * them: write for the control plane's dumper, read for standalone gateways. Kind s3: Amazon S3
 * buckets, granted to the nodes' instance roles on target aws, else to one IAM user per side.
 * Kind local: an S3-compatible server (MinIO) on the storage node with one user per side.
 */
export class FallbackStorage extends pulumi.ComponentResource {
    readonly target: Target;
    readonly configBucket: string;
    readonly resourceBucket: string;
    readonly region: string;
    /** "" for Amazon S3; the local server's URL for kind local. */
    readonly endpoint: string;
    readonly auth: S3Auth;
    /** Per side, when `auth` is access-keys. */
    readonly credentials?: Record<WorkloadRole, S3Credentials>;
    /** Completes when the buckets and their access rules are in place. */
    readonly ready: pulumi.Resource[];

    constructor(name: string, args: FallbackStorageArgs, opts?: pulumi.ComponentResourceOptions) {
        const target = requireTarget("FallbackStorage", name, args);
        const { spec, topology } = target.plan;
        const storage = spec.resilience.fallbackStorage;
        if (!storage) throw new Error(`FallbackStorage ${name}: the plan has no resilience.fallbackStorage`);
        if (storage.kind === "local" && topology.byRole.storage.length !== 1)
            throw new Error(`FallbackStorage ${name}: kind local needs exactly one node with role storage, got ${topology.byRole.storage.length}`);
        claimPhysical(`FallbackStorage ${name}`, target.plan, "buckets", "args.target.plan.");
        super(componentType("FallbackStorage"), name, {}, withPreviousToken("gateway-ha:resilience:FallbackStorage", opts));
        this.target = target;
        const child = { parent: this };

        this.configBucket = storage.configBucket;
        this.resourceBucket = storage.resourceBucket;
        this.region = storage.region;
        this.endpoint = storageEndpoint(spec, topology);
        this.auth = storage.kind === "s3" && target.workloadRoles ? "instance-role" : "access-keys";

        if (storage.kind === "local") {
            const built = this.local(name, spec, topology, target);
            this.credentials = built.credentials;
            this.ready = [built.ready];
        } else {
            const provider = args.provider ?? new aws.Provider(`${name}-aws`, { region: storage.region }, child);
            const built = this.amazon(name, spec, target, { parent: this, provider });
            this.credentials = built.credentials;
            this.ready = built.ready;
        }
        this.registerOutputs({ configBucket: this.configBucket, resourceBucket: this.resourceBucket, region: this.region, endpoint: this.endpoint });
    }

    private amazon(name: string, spec: PlatformSpec, target: Target, opts: pulumi.CustomResourceOptions) {
        const storage = spec.resilience.fallbackStorage!;
        const ready: pulumi.Resource[] = [];
        const buckets = [
            { key: "config", bucket: storage.configBucket },
            { key: "resource", bucket: storage.resourceBucket },
        ].map(({ key, bucket }) => {
            const prefix = `${name}-${key}`;
            // Protected (its hardening children inherit it), so a destroy fails at its preview before
            // anything is deleted, rather than at a non-empty bucket after its public access block
            // and policy are gone. With protectData off, the stack owns the dumps: forceDestroy.
            const b = new aws.s3.Bucket(`${prefix}-bucket`, { bucket, forceDestroy: !spec.protectData }, { ...opts, protect: spec.protectData });
            const on = { ...opts, parent: b };
            const publicBlock = new aws.s3.BucketPublicAccessBlock(
                `${prefix}-public-access-block`,
                { bucket: b.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
                on,
            );
            ready.push(
                new aws.s3.BucketOwnershipControls(`${prefix}-ownership`, { bucket: b.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, on),
                publicBlock,
                new aws.s3.BucketVersioning(`${prefix}-versioning`, { bucket: b.id, versioningConfiguration: { status: "Enabled" } }, on),
                // SSE-S3: encrypted at rest with no KMS key policy to grant to either side.
                new aws.s3.BucketServerSideEncryptionConfiguration(
                    `${prefix}-encryption`,
                    { bucket: b.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }] },
                    on,
                ),
                new aws.s3.BucketLifecycleConfiguration(
                    `${prefix}-lifecycle`,
                    {
                        bucket: b.id,
                        rules: [
                            {
                                id: "expire-old-dumps",
                                status: "Enabled",
                                filter: {},
                                noncurrentVersionExpiration: { noncurrentDays: storage.noncurrentVersionDays },
                                abortIncompleteMultipartUpload: { daysAfterInitiation: ABORT_MULTIPART_DAYS },
                            },
                        ],
                    },
                    on,
                ),
                // After the public-access block, so S3 judges the policy with the block in place.
                new aws.s3.BucketPolicy(`${prefix}-tls-only`, { bucket: b.id, policy: json(tlsOnlyBucketPolicy(bucketArn(bucket, storage.region))) }, { ...on, dependsOn: [publicBlock] }),
            );
            return b;
        });
        const arns = fallbackBucketArns(storage);
        const after = { ...opts, dependsOn: buckets };

        if (this.auth === "instance-role") {
            for (const side of SIDES)
                for (const n of target.workloadRoles!(side.role))
                    ready.push(new aws.iam.RolePolicy(`${name}-${n.node}-policy`, { role: n.role, policy: json(side.policy(arns)) }, after));
            return { ready, credentials: undefined };
        }
        const keys = SIDES.map((side) => {
            const user = new aws.iam.User(`${name}-${side.role}-user`, { name: `${spec.project}-${spec.instance}-fallback-${side.access}`, path: `/${spec.project}/` }, opts);
            ready.push(new aws.iam.UserPolicy(`${name}-${side.role}-policy`, { user: user.name, policy: json(side.policy(arns)) }, { ...after, parent: user }));
            const key = new aws.iam.AccessKey(`${name}-${side.role}-key`, { user: user.name }, { ...opts, parent: user });
            return [side.role, { accessKey: pulumi.secret(key.id), secretKey: pulumi.secret(key.secret) }] as const;
        });
        return { ready, credentials: Object.fromEntries(keys) as Record<WorkloadRole, S3Credentials> };
    }

    private local(name: string, spec: PlatformSpec, topology: Topology, target: Target) {
        const storage = spec.resilience.fallbackStorage!;
        // Bound to the server's data: the root login and the KMS key that encrypts the objects (the
        // side users are kept in its IAM store), protected with the volume.
        const child = { parent: this, protect: spec.protectData };
        const secret = (id: string, length: number) =>
            pulumi.secret(new random.RandomPassword(`${name}-${id}`, { length, special: false }, child).result);
        const rootUser = secret("root-user", 20);
        const rootPassword = secret("root-password", 40);
        // The built-in KMS key (`name:base64 of 32 bytes`) lets the server encrypt objects (SSE-S3).
        const kmsKey = pulumi.interpolate`gateway-ha-fallback:${new random.RandomBytes(`${name}-kms-key`, { length: 32 }, child).base64}`;
        const credentials = Object.fromEntries(
            SIDES.map((side) => [side.role, { accessKey: secret(`${side.role}-access-key`, 20), secretKey: secret(`${side.role}-secret-key`, 40) }]),
        ) as Record<WorkloadRole, S3Credentials>;

        const node = topology.byRole.storage[0];
        const svc: ServiceSpec = {
            name: `${node.name}-object-storage`,
            node,
            role: "storage",
            service: "object-storage",
            image: storage.image,
            user: MINIO_IMAGE_USER,
            // The image's entrypoint prefixes `minio`.
            command: ["server", MINIO_DATA_DIR, "--address", `:${storage.port}`],
            // MinIO reads each secret from the file its *_FILE variable names (its docs: MINIO_ROOT_USER_FILE,
            // MINIO_ROOT_PASSWORD_FILE, MINIO_KMS_SECRET_KEY_FILE): the container's configuration holds paths only.
            env: {
                MINIO_ROOT_USER_FILE: MINIO_SECRET_FILES.rootUser,
                MINIO_ROOT_PASSWORD_FILE: MINIO_SECRET_FILES.rootPassword,
                MINIO_KMS_SECRET_KEY_FILE: MINIO_SECRET_FILES.kmsKey,
                // No web console: the port matrix opens only the S3 port.
                MINIO_BROWSER: "off",
                // The health check's alias: an anonymous client is enough for the health endpoint.
                MC_HOST_local: `http://127.0.0.1:${storage.port}`,
            },
            files: [
                { path: MINIO_SECRET_FILES.rootUser, content: rootUser, secret: true },
                { path: MINIO_SECRET_FILES.rootPassword, content: rootPassword, secret: true },
                { path: MINIO_SECRET_FILES.kmsKey, content: pulumi.secret(kmsKey), secret: true },
            ],
            volumes: [{ name: `${node.name}-object-storage-data`, containerPath: MINIO_DATA_DIR }],
            // The image has mc but no curl; `mc ready` asks the server's cluster health endpoint.
            healthCheck: { command: ["mc", "ready", "local"], intervalSeconds: 5, timeoutSeconds: 3, retries: 5, startPeriodSeconds: 10 },
        };
        const server = target.deployService(svc, child);
        const e = MINIO_BOOTSTRAP_ENV;
        const ready = target.runTask(
            {
                name: `${name}-bootstrap`,
                runIn: svc,
                toolArgv: ["mc"],
                toolEnv: [MINIO_ADMIN_HOST_ENV],
                script: renderMinioBootstrapScript(spec),
                env: {
                    [e.rootUser]: rootUser,
                    [e.rootPassword]: rootPassword,
                    [e.writerAccessKey]: credentials["control-plane"].accessKey,
                    [e.writerSecretKey]: credentials["control-plane"].secretKey,
                    [e.readerAccessKey]: credentials["data-plane"].accessKey,
                    [e.readerSecretKey]: credentials["data-plane"].secretKey,
                },
                triggers: [server.resource.id],
            },
            { ...child, dependsOn: [server.resource] },
        );
        return { credentials, ready };
    }
}
