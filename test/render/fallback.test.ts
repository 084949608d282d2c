// Data-plane resilience, pure parts: the fallback buckets' policies, the fallback_cp blocks, the
// standalone gateway config and the local server's bootstrap script.
import { spawnSync } from "node:child_process";
import { readsOneFallbackBucket } from "../../components/config/images";
import { cfg, withNewerApi7v3 } from "../config";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderApi7v3DashboardConfig } from "../../components/render/controlPlane";
import {
    MINIO_BOOTSTRAP_ENV,
    MINIO_POLICIES,
    controlPlaneFallbackBlock,
    fallbackBucketArns,
    readerPolicy,
    renderMinioBootstrapScript,
    storageEndpoint,
    tlsOnlyBucketPolicy,
    writerPolicy,
    type PolicyDocument,
} from "../../components/render/fallback";
import { APISIX_PATHS, SECRET_ENV, renderGatewayConfig } from "../../components/render/gateway";
import { loadPlatform } from "../../components/config";

const DSN = "postgres://api7:s3cretpw@db.internal:5432/api7ee?sslmode=verify-full";
const S3 = { kind: "s3", region: "eu-west-1", configBucket: "acme-gw-config", resourceBucket: "acme-gw-resources" };
const ARNS = ["arn:aws:s3:::acme-gw-config", "arn:aws:s3:::acme-gw-resources"];

function platform(resilience: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const base = { flavor: "api7-v3", controlPlane: { databaseDsn: DSN }, resilience, ...extra };
    // The local server needs a release newer than 3.2.16, whose fallback_cp has an endpoint.
    const values = (resilience.fallbackStorage as { kind?: string } | undefined)?.kind === "local" ? withNewerApi7v3(base) : base;
    const config = cfg(values);
    return loadPlatform(config, { project: "gateway-ha", stack: "test" });
}

/** Anything that writes, deletes, restores or changes settings. */
const WRITE_ACTION = /Put|Delete|Create|Restore|Abort|Replicate|Bypass|Update|Tagging|Write|Acl/i;
/** Rights nobody gets: bucket deletion, policy changes, wildcards. */
const FORBIDDEN_ACTION = [/Delete\w*Bucket/i, /Bucket\w*Delete/i, /Put\w*Policy/i, /\*/];

/** Every rule a least-privilege document for the fallback buckets must keep, as a list of broken ones. */
function violations(doc: PolicyDocument, arns: string[], readOnly: boolean): string[] {
    const parsed = JSON.parse(JSON.stringify(doc)) as PolicyDocument;
    const allowed = new Set([...arns, ...arns.map((a) => `${a}/*`)]);
    const out: string[] = [];
    if (parsed.Version !== "2012-10-17") out.push(`version ${parsed.Version}`);
    const resources = new Set<string>();
    for (const st of parsed.Statement) {
        if (st.Effect !== "Allow") out.push(`${st.Sid}: effect ${st.Effect}`);
        if (st.Principal !== undefined) out.push(`${st.Sid}: an identity policy names no principal`);
        for (const a of st.Action) {
            if (!a.startsWith("s3:")) out.push(`${st.Sid}: ${a} is not an S3 action`);
            for (const f of FORBIDDEN_ACTION) if (f.test(a)) out.push(`${st.Sid}: forbidden ${a}`);
            if (readOnly && WRITE_ACTION.test(a)) out.push(`${st.Sid}: write ${a}`);
        }
        for (const r of st.Resource) {
            resources.add(r);
            if (!allowed.has(r)) out.push(`${st.Sid}: resource ${r}`);
        }
    }
    for (const r of allowed) if (!resources.has(r)) out.push(`missing resource ${r}`);
    return out;
}

const actions = (doc: PolicyDocument) => doc.Statement.flatMap((s) => s.Action).sort();

describe("fallback bucket policies", () => {
    it("the checker itself flags wildcards, bucket deletion, policy rights, writes for readers and foreign resources", () => {
        const bad: PolicyDocument = {
            Version: "2012-10-17",
            Statement: [
                { Sid: "A", Effect: "Allow", Action: ["s3:*", "s3:DeleteBucket", "s3:PutBucketPolicy", "s3:PutObject"], Resource: [...ARNS, "arn:aws:s3:::other/*"] },
            ],
        };
        const found = violations(bad, ARNS, true);
        for (const needle of ["forbidden s3:*", "forbidden s3:DeleteBucket", "forbidden s3:PutBucketPolicy", "write s3:PutObject", "resource arn:aws:s3:::other/*", "missing resource arn:aws:s3:::acme-gw-config/*"])
            expect(found.join("\n")).toContain(needle);
        expect(violations(readerPolicy(ARNS), ARNS.slice(0, 1), true)).toContain("ReadDumps: resource arn:aws:s3:::acme-gw-resources/*");
    });

    it("bucket ARNs are the two configured buckets", () => {
        expect(fallbackBucketArns(S3)).toEqual(ARNS);
    });

    it("gateways (reader) may only list and get, on exactly the two buckets and their objects", () => {
        expect(violations(readerPolicy(ARNS), ARNS, true)).toEqual([]);
        expect(actions(readerPolicy(ARNS))).toEqual(["s3:GetObject", "s3:ListBucket"]);
    });

    it("the control plane (writer) may list, get and put, and no more: no DeleteObject, no bucket or policy rights", () => {
        expect(violations(writerPolicy(ARNS), ARNS, false)).toEqual([]);
        expect(actions(writerPolicy(ARNS))).toEqual(["s3:GetObject", "s3:ListBucket", "s3:PutObject"]);
        // ListBucket applies to buckets, object actions to objects: nothing crosses over.
        for (const st of writerPolicy(ARNS).Statement)
            expect(st.Resource.every((r) => r.endsWith("/*")), st.Sid).toBe(!st.Action.includes("s3:ListBucket"));
    });

    it("the TLS-only bucket policy denies everything to everyone when SecureTransport is false", () => {
        const arn = ARNS[0];
        const doc = JSON.parse(JSON.stringify(tlsOnlyBucketPolicy(arn)));
        expect(doc.Statement).toEqual([
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:*"],
                Resource: [arn, `${arn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ]);
    });
});

describe("fallback_cp blocks", () => {
    const keys = { accessKey: "AKIAEXAMPLE", secretKey: "wJalr-example" };

    it("3.2.16 on Amazon S3 with keys: region and one bucket (the config bucket), no endpoint, the writer's keys", () => {
        const { spec, topology } = platform({ fallbackStorage: { ...S3, cronSpec: "@every 2m" } });
        expect(storageEndpoint(spec, topology)).toBe("");
        expect(controlPlaneFallbackBlock(spec, topology, keys)).toEqual({
            cron_spec: "@every 2m",
            aws_s3: { region: "eu-west-1", bucket: "acme-gw-config", access_key: keys.accessKey, secret_key: keys.secretKey },
        });
    });

    it("a newer release on Amazon S3: both buckets, still no endpoint", () => {
        const { spec, topology } = platform({ fallbackStorage: S3 }, withNewerApi7v3({ controlPlane: { databaseDsn: DSN } }));
        expect(controlPlaneFallbackBlock(spec, topology).aws_s3).toEqual({ region: "eu-west-1", config_bucket: "acme-gw-config", resource_bucket: "acme-gw-resources" });
    });

    it("instance roles: no keys at all", () => {
        const { spec, topology } = platform({ fallbackStorage: S3 });
        const block = controlPlaneFallbackBlock(spec, topology);
        expect(block.aws_s3).toEqual({ region: "eu-west-1", bucket: "acme-gw-config" });
    });

    it("the version decides per side: a digest counts as the pinned 3.2.16", () => {
        expect(readsOneFallbackBucket("api7/api7-ee-3-gateway:3.2.16.3")).toBe(true);
        expect(readsOneFallbackBucket("api7/api7-ee-3-integrated:v3.2.16.1")).toBe(true);
        expect(readsOneFallbackBucket("api7/api7-ee-3-gateway@sha256:" + "a".repeat(64))).toBe(true);
        expect(readsOneFallbackBucket("api7/api7-ee-3-gateway:3.2.17.0")).toBe(false);
        expect(readsOneFallbackBucket("api7/api7-ee-3-gateway:3.7.3")).toBe(false);
    });

    it("local server: custom_endpoint on the storage node, path-style addressing, default bucket names", () => {
        const { spec, topology } = platform({ fallbackStorage: { kind: "local", port: 9100 } });
        const node = topology.byRole.storage[0];
        expect(node.name).toBe("s3-1");
        const block = controlPlaneFallbackBlock(spec, topology, keys);
        expect(block.aws_s3).toEqual({
            region: "us-east-1",
            config_bucket: "gateway-config",
            resource_bucket: "gateway-resources",
            custom_endpoint: `http://${node.address}:9100`,
            use_path_style: true,
            access_key: keys.accessKey,
            secret_key: keys.secretKey,
        });
    });

    it("the dashboard config gains fallback_cp only when fallback storage is configured", () => {
        const withStorage = platform({ fallbackStorage: S3 });
        const doc = parse(renderApi7v3DashboardConfig(withStorage.spec, withStorage.topology, DSN, keys));
        expect(doc.database).toEqual({ dsn: DSN });
        expect(doc.fallback_cp).toEqual(controlPlaneFallbackBlock(withStorage.spec, withStorage.topology, keys));
        const without = platform({});
        expect(parse(renderApi7v3DashboardConfig(without.spec, without.topology, DSN))).not.toHaveProperty("fallback_cp");
    });
});

describe("gateway config.yaml and resilience.mode", () => {
    const ref = (name: string) => `\${{${name}}}`;

    it("connected: the normal traditional config on the DP Manager, no fallback_cp", () => {
        const { spec, topology } = platform({ mode: "connected", fallbackStorage: S3 });
        const doc = parse(renderGatewayConfig(spec, topology));
        expect(doc.deployment.role).toBe("traditional");
        expect(doc.deployment.role_traditional).toEqual({ config_provider: "etcd" });
        expect(doc.deployment.etcd.host).toEqual([`https://${topology.byRole["load-balancer"][0].address}:7943`]);
        expect(doc.deployment).not.toHaveProperty("fallback_cp");
        const plain = platform({});
        expect(renderGatewayConfig(spec, topology)).toBe(renderGatewayConfig(plain.spec, plain.topology));
    });

    it("standalone on Amazon S3 with keys: yaml provider, fallback_cp with env-referenced keys, same listeners, status and metrics", () => {
        const { spec, topology } = platform({ mode: "standalone", fallbackStorage: S3 }, { dataPlane: { httpPort: 8080, statusPort: 7086, metricsPort: 9092 }, loadBalancer: { healthCheck: { port: 7086 } } });
        const text = renderGatewayConfig(spec, topology);
        const doc = parse(text);
        expect(doc.deployment).toEqual({
            role: "data_plane",
            role_data_plane: { config_provider: "yaml" },
            fallback_cp: {
                aws_s3: {
                    region: "eu-west-1",
                    bucket: "acme-gw-config",
                    access_key: ref(SECRET_ENV.s3AccessKey),
                    secret_key: ref(SECRET_ENV.s3SecretKey),
                },
            },
        });
        expect(doc.apisix.node_listen).toEqual([{ port: 8080 }]);
        expect(doc.apisix.ssl.listen).toEqual([{ port: 443 }]);
        expect(doc.apisix.status).toEqual({ ip: "0.0.0.0", port: 7086 });
        expect(doc.plugin_attr.prometheus.export_addr).toEqual({ ip: "0.0.0.0", port: 9092 });
        // Only the deployment block differs from the connected config, and the DP Manager's CA, which standalone gateways never call.
        const connected = parse(renderGatewayConfig(platform({ fallbackStorage: S3 }, { dataPlane: { httpPort: 8080, statusPort: 7086, metricsPort: 9092 }, loadBalancer: { healthCheck: { port: 7086 } } }).spec, topology));
        expect(connected.apisix.ssl.ssl_trusted_certificate).toBe(APISIX_PATHS.dpTrustBundle);
        expect(doc.apisix.ssl).not.toHaveProperty("ssl_trusted_certificate");
        const { ssl_trusted_certificate: _bundle, ...connectedSsl } = connected.apisix.ssl;
        expect({ ...doc, deployment: null }).toEqual({ ...connected, apisix: { ...connected.apisix, ssl: connectedSsl }, deployment: null });
    });

    it("standalone on instance roles: no keys in the file", () => {
        const { spec, topology } = platform({ mode: "standalone", fallbackStorage: S3 });
        const aws = parse(renderGatewayConfig(spec, topology, "instance-role")).deployment.fallback_cp.aws_s3;
        expect(aws).not.toHaveProperty("access_key");
        expect(aws).not.toHaveProperty("secret_key");
    });

    it("standalone on the local server: endpoint and path-style", () => {
        const { spec, topology } = platform({ mode: "standalone", fallbackStorage: { kind: "local" } });
        const aws = parse(renderGatewayConfig(spec, topology)).deployment.fallback_cp.aws_s3;
        expect(aws).toMatchObject({ endpoint: `http://${topology.byRole.storage[0].address}:9000`, use_path_style: true, region: "us-east-1" });
        expect(aws).not.toHaveProperty("custom_endpoint");
    });
});

describe("local server bootstrap script", () => {
    const { spec } = platform({ fallbackStorage: { kind: "local", noncurrentVersionDays: 12 } });
    const script = renderMinioBootstrapScript(spec);

    it("creates both buckets versioned, SSE-S3 encrypted, private, with the noncurrent-version expiry", () => {
        for (const b of ["gateway-config", "gateway-resources"]) expect(script).toContain(`'${b}'`);
        for (const step of ["tool mb --ignore-existing", "tool version enable", "tool encrypt set sse-s3", "tool anonymous set none", "tool ilm import"])
            expect(script).toContain(step);
        const lifecycle = script.match(/printf '%s' '(\{"Rules".*?)' \| tool ilm import/);
        expect(JSON.parse(lifecycle![1])).toEqual({
            Rules: [{ ID: "expire-old-dumps", Status: "Enabled", Filter: { Prefix: "" }, NoncurrentVersionExpiration: { NoncurrentDays: 12 } }],
        });
    });

    it("installs the same writer and reader policies as on AWS", () => {
        const policies = [...script.matchAll(/printf '%s' '(\{"Version".*?)' \| tool admin policy create gha (\S+) \/dev\/stdin/g)];
        expect(policies.map((m) => m[2])).toEqual([MINIO_POLICIES.writer, MINIO_POLICIES.reader]);
        const arns = ["arn:aws:s3:::gateway-config", "arn:aws:s3:::gateway-resources"];
        expect(JSON.parse(policies[0][1])).toEqual(writerPolicy(arns));
        expect(JSON.parse(policies[1][1])).toEqual(readerPolicy(arns));
    });

    it("takes every credential from its environment and feeds secret keys on stdin, never as arguments", () => {
        const e = MINIO_BOOTSTRAP_ENV;
        expect(script).toContain(`printf '%s\\n%s\\n' "$${e.writerAccessKey}" "$${e.writerSecretKey}" | tool admin user add gha >/dev/null\n`);
        expect(script).toContain(`printf '%s\\n%s\\n' "$${e.readerAccessKey}" "$${e.readerSecretKey}" | tool admin user add gha >/dev/null\n`);
        expect(script).toContain(`MC_HOST_gha="http://\${${e.rootUser}}:\${${e.rootPassword}}@127.0.0.1:9000"`);
        for (const line of script.split("\n").filter((l) => /\btool\b/.test(l))) {
            const args = line.slice(line.indexOf("tool"));
            for (const secret of [e.rootPassword, e.writerSecretKey, e.readerSecretKey]) expect(args, line).not.toContain(secret);
        }
        // Re-runs are fine: an attached policy is the state we want.
        expect(script.match(/already in effect/g)).toHaveLength(2);
    });

    it("run against an mc stand-in that prints what mc prints: no access key or secret reaches the task's stdout, which the state keeps in plain", () => {
        const e = MINIO_BOOTSTRAP_ENV;
        const env: Record<string, string> = {
            PATH: process.env.PATH ?? "",
            [e.rootUser]: "root-user-1",
            [e.rootPassword]: "root-password-1",
            [e.writerAccessKey]: "WRITERKEY4711",
            [e.writerSecretKey]: "writer-secret-4711",
            [e.readerAccessKey]: "READERKEY0815",
            [e.readerSecretKey]: "reader-secret-0815",
        };
        // mc's own messages (mc 2025): user add names the access key; the others name buckets and policies.
        const mc = `tool() {
  case "$1 $2" in
    "admin user") read -r key; read -r _; echo "Added user \\\`$key\\\` successfully." ;;
    "admin policy") cat >/dev/null 2>&1 || true; echo "Created policy \\\`$4\\\` successfully." ;;
    *) cat >/dev/null 2>&1 || true; echo "Bucket created successfully \\\`$2\\\`." ;;
  esac
}`;
        const r = spawnSync("sh", ["-c", `${mc}\n${script}`], { env, encoding: "utf8", input: "" });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain("Created policy");
        for (const secret of Object.values(env).slice(1)) expect(r.stdout + r.stderr, secret).not.toContain(secret);
    });

    it("is only for kind local", () => {
        expect(() => renderMinioBootstrapScript(platform({ fallbackStorage: S3 }).spec)).toThrow(/kind local/);
    });
});

describe("bucket ARNs", () => {
    it("carry the region's partition, so policies in China and GovCloud name the buckets", () => {
        expect(fallbackBucketArns({ configBucket: "a-config", resourceBucket: "a-res", region: "eu-west-1" })).toEqual(["arn:aws:s3:::a-config", "arn:aws:s3:::a-res"]);
        expect(fallbackBucketArns({ configBucket: "a-config", resourceBucket: "a-res", region: "cn-north-1" })[0]).toBe("arn:aws-cn:s3:::a-config");
        expect(fallbackBucketArns({ configBucket: "a-config", resourceBucket: "a-res", region: "us-gov-west-1" })[1]).toBe("arn:aws-us-gov:s3:::a-res");
    });
});
