// Data-plane resilience under Pulumi's mock engine (index.ts end to end): the fallback buckets on
// a local S3-compatible server or on Amazon S3, who may do what with them, the dashboard's dump
// settings, and the standalone switch, which must change the gateways and nothing else.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { FallbackStorage } from "../../components/fallbackStorage";
import { SECRET_OUTPUT_KEYS } from "../../components/outputs";
import { MINIO_BOOTSTRAP_ENV, readerPolicy, tlsOnlyBucketPolicy, writerPolicy } from "../../components/render/fallback";
import { API7_GATEWAY_GROUP_ENV, APISIX_PATHS, SECRET_ENV } from "../../components/render/gateway";
import { SECRET_ENV_DIR, secretEnvWrapperOf, type Target, type WorkloadRole } from "../../components/service";
import { loadPlatform } from "../../components/config";
import { DEFAULT_IMAGES } from "../../components/config/schema";
import { defaultState, isSecretWrapper, unwrapSecrets, type RecordedResource } from "../../scripts/lib/mockEngine";
import { dpManagerIdentityConfig, withNewerApi7v3 } from "../config";
import { T, cfg, envs, find, findPlainSecrets, imageRef, label, ofType, registration, runPlatform, scanRun, services, upload, type PlatformRun } from "./helpers";

const DSN = "postgres://api7:Dsn-Secret-4c2e@db.internal:5432/api7ee?sslmode=verify-full";
const SECRET_KEYS = ["gateway-ha:controlPlane", "gateway-ha:dataPlane"];
const GATEWAY_CONFIG = "/usr/local/apisix/conf/config.yaml";
const DASHBOARD_CONFIG = "/app/conf/config.yaml";
const LOCAL = { kind: "local" };
const S3 = { kind: "s3", region: "eu-west-1", configBucket: "acme-gw-config", resourceBucket: "acme-gw-resources", noncurrentVersionDays: 14 };
const S3_ARNS = ["arn:aws:s3:::acme-gw-config", "arn:aws:s3:::acme-gw-resources"];

const AWS = {
    provider: "pulumi:providers:aws",
    bucket: "aws:s3/bucket:Bucket",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    user: "aws:iam/user:User",
    userPolicy: "aws:iam/userPolicy:UserPolicy",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
} as const;

const config = (resilience: Record<string, unknown>) => {
    const values = { flavor: "api7-v3", controlPlane: { databaseDsn: DSN }, dataPlane: { dpManagerIdentity: dpManagerIdentityConfig() }, resilience };
    // 3.2.16 cannot reach an S3-compatible server (no endpoint key): the local server needs a newer release.
    return cfg((resilience.fallbackStorage as { kind?: string } | undefined)?.kind === "local" ? withNewerApi7v3(values) : values);
};
const run$ = (resilience: Record<string, unknown>, stack?: string) => runPlatform(config(resilience), { secretKeys: SECRET_KEYS, stack });
const passwordOf = (run: PlatformRun, name: string) => unwrapSecrets(find(run, T.password, name).state.result) as string;
const envMap = (r: RecordedResource) => Object.fromEntries(envs(r).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
const dashboards = (run: PlatformRun) => services(run, "control-plane").filter((s) => label(s, "gateway-ha.service") === "dashboard");
const byKey = (run: PlatformRun) => new Map(run.resources.map((r) => [`${r.type}::${r.name}`, r]));
/** Every secret the run must keep secret: generated values, the DSN, and (on S3) the access key IDs. */
const allSecrets = (run: PlatformRun) => [...run.generatedSecrets, DSN, ...ofType(run, T.accessKey).map((k) => `${k.name}-id`)];

describe("fallback storage kind local (docker, api7-v3)", () => {
    let run: PlatformRun;
    let storageAddress: string;
    beforeAll(async () => {
        run = await run$({ fallbackStorage: LOCAL });
        storageAddress = (run.outputs.nodes.value as Record<string, { address: string; roles: string[] }>)["s3-1"].address;
    });

    it("runs the S3-compatible server on the storage node, data on a retained volume, with a health check that needs no shell", () => {
        expect((run.outputs.nodes.value as Record<string, { roles: string[] }>)["s3-1"].roles).toEqual(["storage"]);
        const [server] = services(run, "storage");
        expect(services(run, "storage")).toHaveLength(1);
        expect(server.name).toBe("s3-1-object-storage");
        expect(label(server, "gateway-ha.node")).toBe("s3-1");
        expect(imageRef(run, server)).toBe(DEFAULT_IMAGES.objectStorage);
        expect(server.inputs.command).toEqual(["server", "/data", "--address", ":9000"]);
        const volume = find(run, T.volume, "s3-1-object-storage-data");
        expect(server.inputs.volumes).toEqual([{ volumeName: volume.inputs.name, containerPath: "/data" }]);
        expect(registration(run, T.volume, volume.name).protect).toBe(true);
        // What the data is bound to is protected with it: the root login, the side users, the KMS key.
        const bound = run.registrations.filter((r) => r.name.startsWith("gateway-ha-fallback-") && (r.type === T.password || r.type === T.randomBytes));
        expect(bound.map((r) => r.name.slice("gateway-ha-fallback-".length)).sort()).toEqual(
            ["control-plane-access-key", "control-plane-secret-key", "data-plane-access-key", "data-plane-secret-key", "kms-key", "root-password", "root-user"],
        );
        expect(bound.every((r) => r.protect)).toBe(true);
        expect((server.inputs.healthcheck as { tests: string[] }).tests).toEqual(["CMD", "mc", "ready", "local"]);
        expect(server.inputs.wait).toBe(true);
    });

    it("the server's root credentials and KMS key are generated and reach it only as secret files its *_FILE variables name, never in its environment", () => {
        const server = find(run, T.container, "s3-1-object-storage");
        const env = envMap(server);
        const user = passwordOf(run, "gateway-ha-fallback-root-user");
        const password = passwordOf(run, "gateway-ha-fallback-root-password");
        const kms = unwrapSecrets(find(run, T.randomBytes, "gateway-ha-fallback-kms-key").state.base64) as string;
        expect(Buffer.from(kms, "base64")).toHaveLength(32);
        expect(env).toEqual({
            MINIO_ROOT_USER_FILE: "/run/secrets/minio-root-user",
            MINIO_ROOT_PASSWORD_FILE: "/run/secrets/minio-root-password",
            MINIO_KMS_SECRET_KEY_FILE: "/run/secrets/minio-kms-secret-key",
            MINIO_BROWSER: "off",
            MC_HOST_local: "http://127.0.0.1:9000",
        });
        expect(upload(server, "/run/secrets/minio-root-user")).toBe(user);
        expect(upload(server, "/run/secrets/minio-root-password")).toBe(password);
        expect(upload(server, "/run/secrets/minio-kms-secret-key")).toBe(`gateway-ha-fallback:${kms}`);
        expect(label(server, "gateway-ha.secret-files")!.split(",").sort()).toEqual(["/run/secrets/minio-kms-secret-key", "/run/secrets/minio-root-password", "/run/secrets/minio-root-user"]);
        for (const secret of [user, password, kms]) expect(JSON.stringify(unwrapSecrets(server.inputs.envs))).not.toContain(secret);
        const plain = JSON.stringify(server.inputs, (_k, v) => (isSecretWrapper(v) ? "[secret]" : v));
        for (const secret of [user, password, kms]) expect(plain).not.toContain(secret);
    });

    it("a bootstrap task runs mc inside the server after it is up, with every credential in its secret environment", () => {
        const task = find(run, T.command, "gateway-ha-fallback-bootstrap");
        expect(ofType(run, T.command).filter((c) => !c.name.endsWith("-lb-reload") && !c.name.endsWith("-rollout") && !c.name.endsWith("-facts"))).toHaveLength(1);
        const script = task.inputs.create as string;
        expect(script).toContain(`docker exec -i -e MC_HOST_gha unit`);
        expect(script).toMatch(/-s3-1-object-storage 'mc' "\$@"; }/);
        expect(script).toContain("tool admin user add gha");
        const env = task.inputs.environment as Record<string, unknown>;
        const e = MINIO_BOOTSTRAP_ENV;
        expect(unwrapSecrets(env)).toEqual({
            [e.rootUser]: passwordOf(run, "gateway-ha-fallback-root-user"),
            [e.rootPassword]: passwordOf(run, "gateway-ha-fallback-root-password"),
            [e.writerAccessKey]: passwordOf(run, "gateway-ha-fallback-control-plane-access-key"),
            [e.writerSecretKey]: passwordOf(run, "gateway-ha-fallback-control-plane-secret-key"),
            [e.readerAccessKey]: passwordOf(run, "gateway-ha-fallback-data-plane-access-key"),
            [e.readerSecretKey]: passwordOf(run, "gateway-ha-fallback-data-plane-secret-key"),
        });
        expect(findPlainSecrets(env, run.generatedSecrets, task.name)).toEqual([]);
        const reg = registration(run, T.command, task.name);
        expect(reg.dependencies.some((u) => u.endsWith("::s3-1-object-storage"))).toBe(true);
    });

    it("the dashboards dump to the local server with the writer's keys, after the bootstrap", () => {
        for (const d of dashboards(run)) {
            const conf = parse(upload(d, DASHBOARD_CONFIG));
            expect(conf.fallback_cp).toEqual({
                cron_spec: "@every 1m",
                aws_s3: {
                    region: "us-east-1",
                    config_bucket: "gateway-config",
                    resource_bucket: "gateway-resources",
                    custom_endpoint: `http://${storageAddress}:9000`,
                    use_path_style: true,
                    access_key: passwordOf(run, "gateway-ha-fallback-control-plane-access-key"),
                    secret_key: passwordOf(run, "gateway-ha-fallback-control-plane-secret-key"),
                },
            });
            expect(isSecretWrapper(d.inputs.uploads)).toBe(true);
            expect(registration(run, T.container, d.name).dependencies.some((u) => u.endsWith("::gateway-ha-fallback-bootstrap"))).toBe(true);
        }
        expect(dashboards(run)).toHaveLength(2);
    });

    it("connected gateways keep the normal config and carry no bucket keys", () => {
        for (const gw of services(run, "data-plane")) {
            const doc = parse(upload(gw, GATEWAY_CONFIG));
            expect(doc.deployment.role_traditional).toEqual({ config_provider: "etcd" });
            expect(doc.deployment).not.toHaveProperty("fallback_cp");
            expect(envs(gw)).toEqual([`${API7_GATEWAY_GROUP_ENV}=default`]);
        }
    });

    it("exports the buckets and the local endpoint, in plain text", () => {
        expect(run.outputs.fallbackBuckets).toEqual({
            value: { config: "gateway-config", resource: "gateway-resources", region: "us-east-1", endpoint: `http://${storageAddress}:9000`, mode: "connected" },
            secret: false,
        });
    });

    it("creates no AWS resources", () => {
        expect(run.resources.filter((r) => r.type.startsWith("aws:") || r.type === AWS.provider)).toEqual([]);
    });

    it("keeps every generated secret secret", () => {
        // Root user and password, KMS key (base64 + hex), two key pairs, the dashboard's admin password,
        // the management channel's private keys (its CA, two dashboards, the balancer), and the Docker
        // target's files digest key.
        expect(run.generatedSecrets).toHaveLength(14);
        expect(scanRun(run, allSecrets(run))).toEqual([]);
        expect(Object.entries(run.outputs).filter(([, o]) => o.secret).map(([k]) => k).sort()).toEqual([...SECRET_OUTPUT_KEYS].sort());
    });
});

describe("fallback storage kind s3 with protectData: false", () => {
    it("the stack owns the dumps: unprotected buckets that force-destroy, so a destroy cannot stop half-way", async () => {
        const run = await runPlatform({ ...config({ fallbackStorage: S3 }), ...cfg({ protectData: false }) }, { secretKeys: SECRET_KEYS });
        const buckets = ofType(run, AWS.bucket);
        expect(buckets).toHaveLength(2);
        for (const b of buckets) {
            expect(b.inputs.forceDestroy).toBe(true);
            expect(registration(run, AWS.bucket, b.name).protect).toBe(false);
        }
    });
});

describe("fallback storage kind s3 on target docker (IAM users)", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await run$({ fallbackStorage: S3 });
    });
    const forBucket = (type: string, bucket: string) => {
        const b = find(run, AWS.bucket, `gateway-ha-fallback-${bucket}-bucket`);
        const found = ofType(run, type).filter((r) => r.inputs.bucket === `${b.name}-id`);
        expect(found, `${type} for ${bucket}`).toHaveLength(1);
        return found[0];
    };

    it("two protected buckets that refuse force-destroy, through an explicit provider in the storage region", () => {
        expect(ofType(run, AWS.bucket).map((b) => b.inputs.bucket).sort()).toEqual(["acme-gw-config", "acme-gw-resources"]);
        for (const b of ofType(run, AWS.bucket)) {
            expect(b.inputs.forceDestroy).toBe(false);
            // A destroy fails at its preview, before the hardening below is deleted: it inherits the protection.
            expect(registration(run, AWS.bucket, b.name).protect).toBe(true);
            for (const child of run.registrations.filter((r) => r.parent.endsWith(`::${b.name}`))) expect(child.protect, child.name).toBe(true);
        }
        expect(run.registrations.filter((r) => r.parent.includes("s3/bucket:Bucket")).length).toBeGreaterThanOrEqual(12);
        const [provider] = ofType(run, AWS.provider);
        expect(ofType(run, AWS.provider)).toHaveLength(1);
        expect(provider.inputs.region).toBe("eu-west-1");
        for (const r of run.resources.filter((x) => x.type.startsWith("aws:")))
            expect(registration(run, r.type, r.name).provider, r.name).toMatch(/pulumi:providers:aws::gateway-ha-fallback-aws::/);
    });

    it("each bucket: versioning, SSE, owner-enforced, all public access blocked, TLS-only policy, expiry of old versions", () => {
        for (const [key, name] of [["config", "acme-gw-config"], ["resource", "acme-gw-resources"]] as const) {
            expect(forBucket(AWS.versioning, key).inputs.versioningConfiguration).toEqual({ status: "Enabled" });
            expect(forBucket(AWS.encryption, key).inputs.rules).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }]);
            expect(forBucket(AWS.ownership, key).inputs.rule).toEqual({ objectOwnership: "BucketOwnerEnforced" });
            expect(forBucket(AWS.publicAccessBlock, key).inputs).toMatchObject({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
            const policy = forBucket(AWS.bucketPolicy, key);
            expect(JSON.parse(policy.inputs.policy as string)).toEqual(tlsOnlyBucketPolicy(`arn:aws:s3:::${name}`));
            expect(registration(run, AWS.bucketPolicy, policy.name).dependencies.some((u) => u.includes(AWS.publicAccessBlock))).toBe(true);
            const [rule] = forBucket(AWS.lifecycle, key).inputs.rules as Record<string, unknown>[];
            expect(rule).toMatchObject({ status: "Enabled", noncurrentVersionExpiration: { noncurrentDays: 14 }, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } });
        }
    });

    it("one IAM user per side with its own least-privilege inline policy and an access key; no role policies", () => {
        expect(ofType(run, AWS.user).map((u) => u.inputs.name).sort()).toEqual([`gateway-ha-${run.stack}-fallback-reader`, `gateway-ha-${run.stack}-fallback-writer`]);
        const policyOf = (side: WorkloadRole) => JSON.parse(find(run, AWS.userPolicy, `gateway-ha-fallback-${side}-policy`).inputs.policy as string);
        expect(policyOf("control-plane")).toEqual(writerPolicy(S3_ARNS));
        expect(policyOf("data-plane")).toEqual(readerPolicy(S3_ARNS));
        expect(find(run, AWS.userPolicy, "gateway-ha-fallback-data-plane-policy").inputs.user).toBe(`gateway-ha-${run.stack}-fallback-reader`);
        expect(ofType(run, T.accessKey).map((k) => k.inputs.user).sort()).toEqual([`gateway-ha-${run.stack}-fallback-reader`, `gateway-ha-${run.stack}-fallback-writer`]);
        expect(ofType(run, AWS.rolePolicy)).toEqual([]);
    });

    it("the dashboards get the writer's access key; the secret comes from the provider's secret output", () => {
        const secret = unwrapSecrets(find(run, T.accessKey, "gateway-ha-fallback-control-plane-key").state.secret);
        expect(run.generatedSecrets).toContain(secret);
        for (const d of dashboards(run)) {
            const aws = parse(upload(d, DASHBOARD_CONFIG)).fallback_cp.aws_s3;
            // 3.2.16.3's keys: one bucket, the config bucket.
            expect(aws).toEqual({ region: "eu-west-1", bucket: "acme-gw-config", access_key: "gateway-ha-fallback-control-plane-key-id", secret_key: secret });
        }
    });

    it("access keys and secrets appear in no plain input or output", () => {
        expect(ofType(run, T.accessKey)).toHaveLength(2);
        expect(scanRun(run, allSecrets(run))).toEqual([]);
        expect(run.outputs.fallbackBuckets.value).toEqual({ config: "acme-gw-config", resource: "acme-gw-resources", region: "eu-west-1", endpoint: "", mode: "connected" });
    });
});

/** Resource inputs that differ between two runs, by resource and top-level input. */
function diffInputs(a: PlatformRun, b: PlatformRun): Record<string, string[]> {
    const left = byKey(a);
    const right = byKey(b);
    expect([...right.keys()].sort()).toEqual([...left.keys()].sort());
    const out: Record<string, string[]> = {};
    for (const [k, r] of left) {
        const other = right.get(k)!;
        const fields = [...new Set([...Object.keys(r.inputs), ...Object.keys(other.inputs)])].filter(
            (f) => JSON.stringify(r.inputs[f]) !== JSON.stringify(other.inputs[f]),
        );
        if (fields.length) out[k] = fields.sort();
    }
    return out;
}

describe.each([
    { kind: "local", storage: LOCAL },
    { kind: "s3", storage: S3 },
])("the standalone switch (kind $kind)", ({ kind, storage }) => {
    let connected: PlatformRun;
    let standalone: PlatformRun;
    beforeAll(async () => {
        connected = await run$({ mode: "connected", fallbackStorage: storage }, `switch-${kind}`);
        standalone = await run$({ mode: "standalone", fallbackStorage: storage }, `switch-${kind}`);
    });

    it("changes exactly the gateway containers' files, start (the secrets wrapper before the image's) and secret-files label (standalone gateways carry no DP Manager key)", () => {
        expect(diffInputs(connected, standalone)).toEqual({
            [`${T.container}::dp-1-gateway`]: ["command", "entrypoints", "labels", "uploads"],
            [`${T.container}::dp-2-gateway`]: ["command", "entrypoints", "labels", "uploads"],
        });
        for (const gw of services(connected, "data-plane")) expect(label(gw, "gateway-ha.secret-files")).toBe(APISIX_PATHS.dpKey);
        for (const gw of services(standalone, "data-plane"))
            expect(label(gw, "gateway-ha.secret-files")).toBe([SECRET_ENV.s3AccessKey, SECRET_ENV.s3SecretKey].map((k) => `${SECRET_ENV_DIR}/${k}`).join(","));
        // Nor does any parent, provider or dependency move, but the gateways' wait for the reader's key they now use.
        const readerKey = /::gateway-ha-fallback-data-plane-(access-key|secret-key|key)$/;
        const shape = (run: PlatformRun) =>
            run.registrations.map((r) => JSON.stringify({ ...r, dependencies: r.dependencies.filter((u) => !readerKey.test(u)).sort() })).sort();
        expect(shape(standalone)).toEqual(shape(connected));
        const added = (gw: string) => {
            const deps = (run: PlatformRun) => registration(run, T.container, gw).dependencies;
            return deps(standalone).filter((u) => !deps(connected).includes(u)).map((u) => u.slice(u.lastIndexOf("::") + 2)).sort();
        };
        const expected = kind === "local" ? ["gateway-ha-fallback-data-plane-access-key", "gateway-ha-fallback-data-plane-secret-key"] : ["gateway-ha-fallback-data-plane-key"];
        for (const gw of ["dp-1-gateway", "dp-2-gateway"]) expect(added(gw)).toEqual(expected);
    });

    it("standalone gateways read the last dump with the reader's keys, as secret files behind the wrapper, referenced from the file", () => {
        for (const gw of services(standalone, "data-plane")) {
            const text = upload(gw, GATEWAY_CONFIG);
            const doc = parse(text);
            expect(doc.deployment.role).toBe("data_plane");
            expect(doc.deployment.role_data_plane).toEqual({ config_provider: "yaml" });
            expect(doc.deployment).not.toHaveProperty("etcd");
            expect(doc.deployment.fallback_cp.aws_s3).toMatchObject({
                access_key: `\${{${SECRET_ENV.s3AccessKey}}}`,
                secret_key: `\${{${SECRET_ENV.s3SecretKey}}}`,
            });
            expect(doc.apisix.status).toEqual({ ip: "0.0.0.0", port: 7085 });
            const plainEnv = envMap(gw);
            // The group's short ID names the dump's object; the reader's keys are secrets the file only references.
            expect(plainEnv).toEqual({ [API7_GATEWAY_GROUP_ENV]: "default" });
            const env = Object.fromEntries([SECRET_ENV.s3AccessKey, SECRET_ENV.s3SecretKey].map((k) => [k, upload(gw, `${SECRET_ENV_DIR}/${k}`)]));
            expect(secretEnvWrapperOf(gw.inputs.entrypoints as string[])?.script).toContain(`${SECRET_ENV.s3AccessKey}=$(cat ${SECRET_ENV_DIR}/${SECRET_ENV.s3AccessKey})`);
            for (const k of [SECRET_ENV.s3AccessKey, SECRET_ENV.s3SecretKey]) expect(text).not.toContain(env[k]);
            if (kind === "local") {
                expect(env[SECRET_ENV.s3AccessKey]).toBe(passwordOf(standalone, "gateway-ha-fallback-data-plane-access-key"));
                expect(env[SECRET_ENV.s3SecretKey]).toBe(passwordOf(standalone, "gateway-ha-fallback-data-plane-secret-key"));
            } else {
                expect(env[SECRET_ENV.s3AccessKey]).toBe("gateway-ha-fallback-data-plane-key-id");
                expect(env[SECRET_ENV.s3SecretKey]).toBe(unwrapSecrets(find(standalone, T.accessKey, "gateway-ha-fallback-data-plane-key").state.secret));
            }
        }
        expect(standalone.outputs.fallbackBuckets.value).toMatchObject({ mode: "standalone" });
    });

    it("keeps the reader's keys secret in standalone mode too", () => {
        expect(scanRun(standalone, allSecrets(standalone))).toEqual([]);
    });
});

describe("kind s3 on a target with instance roles (aws)", () => {
    it("grants the writer and reader policies to the nodes' roles and creates no users or keys", async () => {
        const recorded: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => {
                    recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
                    return { id: `${args.name}-id`, state: defaultState(args.type, args.name, args.inputs) };
                },
                call: () => ({}),
            },
            "gateway-ha",
            "roles",
            false,
        );
        const { spec, topology } = loadPlatform(config({ fallbackStorage: S3 }), { project: "gateway-ha", stack: "roles" });
        const unused = () => {
            throw new Error("kind s3 deploys nothing on the nodes");
        };
        const target: Target = {
            plan: { name: "gateway-ha", spec, topology, secrets: {} },
            deployService: unused,
            runTask: unused,
            runStep: unused,
            entryPoints: unused,
            complete: unused,
            workloadRoles: (role) => topology.byRole[role].map((n) => ({ node: n.name, role: pulumi.output(`node-role-${n.name}`) })),
        };
        const storage = new FallbackStorage("fb", { target });
        expect(storage.auth).toBe("instance-role");
        expect(storage.credentials).toBeUndefined();
        expect(storage.endpoint).toBe("");
        await Promise.all(storage.ready.map((r) => new Promise((resolve) => r.urn.apply(resolve))));

        const rolePolicies = recorded.filter((r) => r.type === AWS.rolePolicy);
        // Every control-plane node writes, every gateway reads, and no other node has either.
        expect(Object.fromEntries(rolePolicies.map((p) => [p.inputs.role, JSON.parse(p.inputs.policy as string)]))).toEqual(
            Object.fromEntries([
                ...topology.byRole["control-plane"].map((n) => [`node-role-${n.name}`, writerPolicy(S3_ARNS)]),
                ...topology.byRole["data-plane"].map((n) => [`node-role-${n.name}`, readerPolicy(S3_ARNS)]),
            ]),
        );
        expect(rolePolicies).toHaveLength(topology.byRole["control-plane"].length + topology.byRole["data-plane"].length);
        expect(recorded.filter((r) => r.type === AWS.user || r.type === T.accessKey || r.type === AWS.userPolicy)).toEqual([]);
        expect(recorded.filter((r) => r.type === AWS.bucket)).toHaveLength(2);
    });
});
