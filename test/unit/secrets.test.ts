// Secrets stay Pulumi secrets end to end: generated passwords, private keys and the database DSN
// never appear in plain text in a resource input or a non-secret stack output, for every flavor.
//
// The mocks return provider-declared secret outputs (RandomPassword.result, PrivateKey.privateKeyPem)
// as secrets, as the real engine does (see PROVIDER_SECRET_OUTPUTS in helpers.ts).
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { PLAIN_OUTPUT_KEYS, SECRET_OUTPUT_KEYS } from "../../components/outputs";
import { loadPlatform } from "../../components/config";
import { DockerTarget } from "../../components/targets/docker";
import { SshTarget } from "../../components/targets/ssh";
import type { ServiceSpec } from "../../components/service";
import type { TopologyNode } from "../../components/topology/types";
import { LABELS, secretEnvWrapperOf } from "../../components/service";
import { parse } from "yaml";
import { IMAGE_FACTS_MARKER, renderImageFactsScript } from "../../components/render/imageFacts";
import { MOCK_IMAGE_FACTS, SECRET_SIG, SECRET_SIG_KEY, defaultState, resolveAssets, unwrapSecrets, type RecordedResource } from "../../scripts/lib/mockEngine";
import { T, cfg, envs, find, findPlainSecrets, imageRef, label, ofType, runPlatform, scanRun, services, uploads, type PlatformRun } from "./helpers";
import { dpManagerIdentityConfig, withNewerApi7v3 } from "../config";

const DSN = "postgres://api7:Dsn-Secret-7b1d@db.internal:5432/api7ee?sslmode=verify-full";
const FLAVORS = [
    { flavor: "apisix", config: cfg({ flavor: "apisix" }), secretKeys: [] as string[] },
    { flavor: "api7-v2", config: cfg({ flavor: "api7-v2", dataPlane: { clusterId: "c1" } }), secretKeys: [] as string[] },
    { flavor: "api7-v3", config: cfg({ flavor: "api7-v3", controlPlane: { databaseDsn: DSN } }), secretKeys: ["gateway-ha:controlPlane"] },
] as const;

const wrap = (value: unknown) => ({ [SECRET_SIG_KEY]: SECRET_SIG, value });
const fake = (name: string, inputs: Record<string, unknown>): RecordedResource => ({ type: "test:index:Fake", name, urn: "", inputs, state: {} });

describe("the leak scan itself", () => {
    const secrets = ["s3cr3t-value", "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"];

    it("finds a secret as a substring anywhere in plain inputs, with its path", () => {
        const leaks = findPlainSecrets(
            { envs: ["A=1", "PW=s3cr3t-value"], nested: { list: [{ file: "k", content: `x${secrets[1]}y` }] }, n: 3, b: true, u: null },
            secrets,
            "r",
        );
        expect(leaks).toEqual([
            { where: "r", path: "envs[1]", secret: "s3cr3t-value" },
            { where: "r", path: "nested.list[0].content", secret: secrets[1] },
        ]);
    });

    it("skips secret-wrapped subtrees, however deep", () => {
        expect(findPlainSecrets({ envs: wrap(["PW=s3cr3t-value"]), a: [wrap({ k: secrets[1] })] }, secrets, "r")).toEqual([]);
    });

    it("flags a synthetic resource list and a plain output that leak, and passes a clean one", () => {
        const leaky = {
            resources: [fake("clean", { a: "nothing here", s: wrap("s3cr3t-value") }), fake("leaky", { uploads: [{ content: "password: s3cr3t-value" }] })],
            outputs: { hidden: { value: "s3cr3t-value", secret: true }, shown: { value: { url: "x", pw: "s3cr3t-value" }, secret: false } },
        };
        expect(scanRun(leaky, secrets)).toEqual([
            { where: "test:index:Fake leaky", path: "uploads[0].content", secret: "s3cr3t-value" },
            { where: "output shown", path: "pw", secret: "s3cr3t-value" },
        ]);
        expect(scanRun({ resources: [leaky.resources[0]], outputs: { hidden: leaky.outputs.hidden } }, secrets)).toEqual([]);
    });
});

describe.each(FLAVORS)("flavor $flavor", ({ flavor, config, secretKeys }) => {
    let run: PlatformRun;
    let secrets: string[];
    beforeAll(async () => {
        run = await runPlatform(config, { secretKeys: [...secretKeys] });
        // From the recorded mock state: every generated password and private key, plus the DSN.
        const fromState = [
            ...ofType(run, T.password).map((r) => unwrapSecrets(r.state.result) as string),
            ...ofType(run, T.privateKey).map((r) => unwrapSecrets(r.state.privateKeyPem) as string),
        ];
        secrets = [...fromState, ...(flavor === "api7-v3" ? [DSN] : [])];
        expect(new Set(fromState)).toEqual(new Set(run.generatedSecrets));
    });

    it("has secrets to protect (the scan is not vacuous)", () => {
        // Passwords: etcd's users (not api7-v3), the flavor's logins, the Docker target's digest key. Keys:
        // etcd's CA, members and clients (not api7-v3), and the management channel's CA, nodes and balancer.
        const counts = { apisix: [5, 10], "api7-v2": [6, 10], "api7-v3": [2, 4] }[flavor];
        expect([ofType(run, T.password).length, ofType(run, T.privateKey).length]).toEqual(counts);
        expect(secrets.length).toBeGreaterThan(0);
        // Every one of them does reach some resource input (behind a secret wrapper), or a secret output: the
        // API7 v3 dashboard's admin password only reaches the dashboard through its API (npm run api7:identity).
        // The digest key reaches nothing: it only keys the balancers' files digest.
        const digestKey = unwrapSecrets(ofType(run, T.password).find((p) => p.name.endsWith("-files-digest-key"))!.state.result) as string;
        const everything = JSON.stringify([...run.resources.map((r) => unwrapSecrets(r.inputs)), ...Object.values(run.outputs).filter((o) => o.secret).map((o) => o.value)]);
        expect(everything).not.toContain(digestKey);
        for (const s of secrets.filter((x) => x !== digestKey)) expect(everything.includes(s) || everything.includes(JSON.stringify(s).slice(1, -1)), s.slice(0, 30)).toBe(true);
    });

    it("exports exactly adminKey, dashboardAdmin and etcdCredentials as secrets", () => {
        const secretOutputs = Object.entries(run.outputs)
            .filter(([, o]) => o.secret)
            .map(([k]) => k)
            .sort();
        expect(secretOutputs).toEqual([...SECRET_OUTPUT_KEYS].sort());
        // The stack program exports the whole contract, nothing less (a new output forgotten in index.ts fails here).
        expect(Object.keys(run.outputs).sort()).toEqual([...PLAIN_OUTPUT_KEYS, ...SECRET_OUTPUT_KEYS].sort());
        for (const k of ["flavor", "gatewayUrl", "controlPlaneUrl", "etcdEndpoints", "nodes", "etcdCaCert"]) expect(run.outputs[k]?.secret, k).toBe(false);
    });

    it("no secret value appears in a non-secret resource input or output", () => {
        expect(scanRun(run, secrets)).toEqual([]);
    });

    it("the secret outputs hold the generated values", () => {
        const creds = run.outputs.etcdCredentials.value as Record<string, { user: string; password: string }>;
        if (flavor === "api7-v3") {
            expect(creds.root).toEqual({ user: "root", password: "" });
            expect(run.outputs.adminKey.value).toBe("");
        } else {
            for (const user of ["root", "control-plane", "gateway"]) {
                expect(creds[user].user).toBe(user);
                expect(secrets).toContain(creds[user].password);
            }
            if (flavor === "apisix") expect(secrets).toContain(run.outputs.adminKey.value);
        }
    });
});

/** Mocks that record every registration's inputs as the engine received them (StringAssets resolved after). */
async function recordingMocks(stack: string): Promise<RecordedResource[]> {
    const recorded: RecordedResource[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const state = defaultState(args.type, args.name, args.inputs);
                recorded.push({ type: args.type, name: args.name, urn: "", inputs: args.inputs, state });
                return { id: `${args.name}-id`, state };
            },
            call: () => ({}),
        },
        "gateway-ha",
        stack,
        false,
    );
    return recorded;
}

/** A service with one plain file and one declared secret whose content is plain text. */
const probeService = (node: TopologyNode): ServiceSpec => ({
    name: "probe",
    node,
    role: "data-plane",
    service: "probe",
    image: "busybox:1.36",
    files: [
        { path: "/etc/public.conf", content: "nothing to hide" },
        { path: "/etc/secret.conf", content: "password: plain-text-s3cret", secret: true },
    ],
});

describe("the Docker target", () => {
    it("keeps a file declared secret a secret even when its content is plain text, and lists it in the secret-files label", async () => {
        const recorded = await recordingMocks("target");
        const { spec, topology } = loadPlatform({}, { project: "gateway-ha", stack: "target" });
        const target = new DockerTarget("t", { plan: { name: "gateway-ha", spec, topology, secrets: {} } });
        const { resource } = target.deployService(probeService(topology.byRole["data-plane"][0]), {});
        await new Promise((resolve) => resource.urn.apply(resolve));
        const probe = recorded.find((r) => r.type === T.container && r.name === "probe")!;
        expect(findPlainSecrets(probe.inputs, ["plain-text-s3cret"], "probe")).toEqual([]);
        expect(unwrapSecrets(probe.inputs.uploads)).toEqual([
            { file: "/etc/public.conf", content: "nothing to hide" },
            { file: "/etc/secret.conf", content: "password: plain-text-s3cret" },
        ]);
        const labels = unwrapSecrets(probe.inputs.labels) as { label: string; value: string }[];
        expect(labels).toContainEqual({ label: LABELS.secretFiles, value: "/etc/secret.conf" });
    });

    it("replaces a reloadable service when a file its program does not reload changes (a renewed key or certificate), not when its reloaded config does; the digest is keyed and plain", async () => {
        const recorded = await recordingMocks("target");
        const { spec, topology } = loadPlatform({}, { project: "gateway-ha", stack: "target" });
        const target = new DockerTarget("t", { plan: { name: "gateway-ha", spec, topology, secrets: {} } });
        const node = topology.byRole["data-plane"][0];
        const reloadable = (name: string, config: string, key: string): ServiceSpec => ({
            ...probeService(node),
            name,
            files: [
                { path: "/etc/public.conf", content: config },
                { path: "/etc/tls.key", content: key, secret: true },
            ],
            reload: { files: ["/etc/public.conf"], check: (p) => ["true", p], signal: "HUP" },
        });
        const variants = [reloadable("base", "a", "key-1-s3cret"), reloadable("config-changed", "b", "key-1-s3cret"), reloadable("key-renewed", "a", "key-2-s3cret"), probeService(node)];
        for (const svc of variants) {
            const { resource } = target.deployService(svc, {});
            await new Promise((resolve) => resource.urn.apply(resolve));
        }
        const digest = (name: string) => {
            const raw = recorded.find((r) => r.type === T.container && r.name === name)!.inputs.labels as unknown[];
            const entry = raw.find((l) => (unwrapSecrets(l) as { label: string }).label === LABELS.filesDigest);
            if (entry === undefined) return undefined;
            expect(JSON.stringify(entry), name).not.toContain(SECRET_SIG);
            return (entry as { value: string }).value;
        };
        expect(digest("base")).toMatch(/^[0-9a-f]{20}$/);
        expect(digest("config-changed")).toBe(digest("base"));
        expect(digest("key-renewed")).not.toBe(digest("base"));
        expect(digest("probe")).toBeUndefined();
        const plainSha = createHash("sha256").update("/etc/tls.key\0key-1-s3cret\0").digest("hex").slice(0, 20);
        expect(digest("base")).not.toBe(plainSha);
    });
});

describe("the SSH target", () => {
    it("copies a file declared secret as a secret asset even when its content is plain text; its install script and trigger stay plain and reveal nothing", async () => {
        const recorded = await recordingMocks("target-ssh");
        const nodes = ["node-1", "node-2", "node-3", "node-4", "node-5", "lb-1"].map((name, i) => ({ name, address: `192.168.101.${11 + i}`, sshUser: "deploy" }));
        const knownHosts = nodes.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey${n.name.replace("-", "")}`);
        const { spec, topology } = loadPlatform(cfg({ target: "ssh", layout: "compact", nodes, ssh: { agent: true, knownHosts, firewall: { operatorCidrs: ["192.168.100.0/24"] } } }), { project: "gateway-ha", stack: "target-ssh" });
        const target = new SshTarget("t", { plan: { name: "gateway-ha", spec, topology, secrets: {} } });
        const { resource } = target.deployService(probeService(topology.byRole["data-plane"][0]), {});
        await new Promise((resolve) => resource.urn.apply(resolve));
        for (const r of recorded) r.inputs = (await resolveAssets(r.inputs)) as Record<string, unknown>;
        const copy = (name: string) => recorded.find((r) => r.type === T.copyToRemote && r.name === name)!;
        expect(copy("probe-copy-etc-secret.conf").inputs.source).toMatchObject({ [SECRET_SIG_KEY]: SECRET_SIG, value: { text: "password: plain-text-s3cret" } });
        expect(copy("probe-copy-etc-public.conf").inputs.source).toEqual({ text: "nothing to hide" });
        expect(recorded.filter((r) => r.type === T.copyToRemote).map((r) => r.name).sort()).toEqual(["probe-copy-compose", "probe-copy-etc-public.conf", "probe-copy-etc-secret.conf"]);
        const install = recorded.find((r) => r.type === T.remoteCommand && r.name === "probe-files")!;
        expect(typeof install.inputs.stdin).toBe("string");
        expect(install.inputs.stdin).toContain("'/opt/gateway-ha/secrets/probe/etc/secret.conf'");
        for (const r of recorded) expect(findPlainSecrets(r.inputs, ["plain-text-s3cret"], r.name)).toEqual([]);
    });
});

/**
 * What each target hands a container as its environment: Docker's `envs`, the ssh target's env files
 * (their staged copies), the aws target's env parameters (the values its instances write to env files).
 */
function environments(run: PlatformRun): { where: string; value: unknown }[] {
    return [
        ...ofType(run, T.container).map((c) => ({ where: `${c.name} envs`, value: unwrapSecrets(c.inputs.envs ?? []) })),
        ...ofType(run, T.copyToRemote)
            .filter((c) => c.name.endsWith("-copy-env"))
            .map((c) => ({ where: c.name, value: unwrapSecrets(c.inputs.source) })),
        ...ofType(run, "aws:ssm/parameter:Parameter")
            // /gateway-ha/<stack>/<node>/<service>/env/<NAME>; the deployer's steps and files have their own.
            .filter((p) => /^\/gateway-ha\/[^/]+\/[^/]+\/[^/]+\/env\//.test(p.inputs.name as string) && !/\/steps\//.test(p.inputs.name as string))
            .map((p) => ({ where: p.inputs.name as string, value: unwrapSecrets(p.inputs.value) })),
    ];
}

/**
 * The secrets each flavor's programs read from their environment (APISIX's `${{VAR}}`): each must
 * reach them as a file. API7 v3 gateways read S3 keys only when standalone and not on aws (whose
 * instance roles need none); connected, they hold no such secret (the DP Manager's mTLS key is a file).
 */
const ENV_SECRETS: Record<string, { values: Record<string, unknown>; secretKeys?: string[]; files: Partial<Record<string, string[]>> }> = {
    apisix: { values: {}, files: { docker: ["GATEWAY_HA_ADMIN_KEY", "GATEWAY_HA_ETCD_PASSWORD"], ssh: ["GATEWAY_HA_ADMIN_KEY", "GATEWAY_HA_ETCD_PASSWORD"], aws: ["GATEWAY_HA_ADMIN_KEY", "GATEWAY_HA_ETCD_PASSWORD"] } },
    "api7-v2": { values: { flavor: "api7-v2", dataPlane: { clusterId: "c1" } }, files: { docker: ["GATEWAY_HA_ETCD_PASSWORD"], ssh: ["GATEWAY_HA_ETCD_PASSWORD"], aws: ["GATEWAY_HA_ETCD_PASSWORD"] } },
    "api7-v3, standalone": {
        values: { flavor: "api7-v3", controlPlane: { databaseDsn: DSN }, resilience: { mode: "standalone", fallbackStorage: { kind: "s3", region: "eu-west-1", configBucket: "acme-gw-config", resourceBucket: "acme-gw-resources" } } },
        secretKeys: ["gateway-ha:controlPlane"],
        files: { docker: ["GATEWAY_HA_S3_ACCESS_KEY", "GATEWAY_HA_S3_SECRET_KEY"], ssh: ["GATEWAY_HA_S3_ACCESS_KEY", "GATEWAY_HA_S3_SECRET_KEY"], aws: [] },
    },
};

/** A compact ssh stack of these values: four or five nodes (the compact layout without etcd, api7-v3, has no fifth) and a balancer. */
function compactSsh(values: Record<string, unknown>, nodeCount: 4 | 5): Record<string, string> {
    const names = [...["node-1", "node-2", "node-3", "node-4", "node-5"].slice(0, nodeCount), "lb-1"];
    const nodes = names.map((name, i) => ({ name, address: `192.168.101.${11 + i}`, sshUser: "deploy" }));
    const knownHosts = nodes.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey`);
    return cfg({ ...values, target: "ssh", layout: "compact", nodes, ssh: { agent: true, knownHosts, firewall: { operatorCidrs: ["192.168.100.0/24"] } } });
}

describe.each(Object.entries(ENV_SECRETS))("flavor %s: no container's environment holds a secret, on any target", (_flavor, { values, secretKeys, files }) => {
    const targets = {
        docker: cfg(values),
        ssh: compactSsh(values, values.flavor === "api7-v3" ? 4 : 5),
        aws: cfg({ ...values, target: "aws", aws: { region: "eu-west-1" } }),
    };
    it.each(Object.entries(targets))("%s", async (target, config) => {
        const run = await runPlatform(config, secretKeys ? { secretKeys } : {});
        const secrets = [...run.generatedSecrets, DSN, ...ofType(run, T.accessKey).map((k) => `${k.name}-id`)];
        expect(run.generatedSecrets.length).toBeGreaterThan(0);
        const envs = environments(run);
        // Before secrets became files, the control plane's Admin API key was in each of these (apisix), the
        // gateways' etcd password (api7-v2) and the S3 reader's keys (api7-v3 standalone).
        const found = envs.flatMap((e) => secrets.filter((s) => JSON.stringify(e.value).includes(s)).map(() => e.where));
        expect(found).toEqual([]);
        // The secrets the programs read from their environment reach them as files.
        const inputs = JSON.stringify(run.resources.map((r) => unwrapSecrets(r.inputs)));
        for (const name of files[target]!) expect(inputs, target).toContain(`/run/gateway-ha/env/${name}`);
    });
});

/**
 * Every secret file a container gets is mode 0400 and owned by the user its program runs as, so
 * nothing else in the container reads it: the user its image's Dockerfile names, or for the API7
 * images, whose Dockerfiles are not public, the one read from the image (here the mock engine's answer).
 */
describe("secret files are their program's alone (docker target)", () => {
    const KEEPALIVED = { kind: "keepalived", keepalived: { vips: [{ name: "gw", address: "172.28.0.100", virtualRouterId: 51, protects: "data-plane" }, { name: "cp", address: "172.28.0.101", virtualRouterId: 52, protects: "control-plane" }] } };
    const stacks = {
        "apisix, haproxy": { config: cfg({}), secretKeys: [] as string[] },
        "apisix, keepalived": { config: cfg({ loadBalancer: KEEPALIVED }), secretKeys: [] as string[] },
        "api7-v2, nginx": { config: cfg({ flavor: "api7-v2", dataPlane: { clusterId: "c1" }, loadBalancer: { kind: "nginx" } }), secretKeys: [] as string[] },
        "api7-v3, local fallback storage": {
            config: cfg(withNewerApi7v3({ flavor: "api7-v3", controlPlane: { databaseDsn: DSN }, dataPlane: { dpManagerIdentity: dpManagerIdentityConfig() }, resilience: { fallbackStorage: { kind: "local" } } })),
            secretKeys: ["gateway-ha:controlPlane", "gateway-ha:dataPlane"],
        },
    };
    const readFromImage = (run: PlatformRun, svc: RecordedResource) => /(^|\/)api7[-/]|api7ee/.test(imageRef(run, svc) ?? "");

    it.each(Object.entries(stacks))("%s", async (_name, { config, secretKeys }) => {
        const run = await runPlatform(config, { secretKeys });
        const seen = new Set<string>();
        for (const svc of services(run)) {
            const secretFiles = (label(svc, LABELS.secretFiles) ?? "").split(",").filter(Boolean);
            for (const u of uploads(svc).filter((f) => secretFiles.includes(f.file))) {
                seen.add(label(svc, "gateway-ha.service")!);
                const owner = readFromImage(run, svc) ? { owner: String(MOCK_IMAGE_FACTS.uid), group: String(MOCK_IMAGE_FACTS.gid) } : { owner: expect.stringMatching(/^\d+$/), group: expect.stringMatching(/^\d+$/) };
                expect(u, `${svc.name} ${u.file}`).toMatchObject({ permissions: "0400", ...owner });
            }
        }
        // The services that hold secret files, so that the check is not vacuous.
        expect([...seen].sort()).toEqual(
            {
                "apisix, haproxy": ["apisix-cp", "control-plane-lb", "etcd", "gateway"],
                "apisix, keepalived": ["apisix-cp", "etcd", "gateway", "keepalived"],
                "api7-v2, nginx": ["control-plane-lb", "dashboard", "etcd", "gateway"],
                "api7-v3, local fallback storage": ["control-plane-lb", "dashboard", "dp-manager", "gateway", "object-storage"],
            }[_name]!,
        );
    });
});

/**
 * The API7 images' Dockerfiles are not public: each target reads their start and user where the
 * image is pulled (render/imageFacts.ts), so their secrets become files behind the wrapper as
 * APISIX's do. Here the facts are the mock engine's answer, which no image the stack knows gives.
 */
describe("API7 images: the start and user read from the image, on every target", () => {
    const config = ENV_SECRETS["api7-v2"].values;
    const wrapper = (argv: unknown) => secretEnvWrapperOf(argv as string[]);
    const mockStart = [...MOCK_IMAGE_FACTS.entrypoint, ...MOCK_IMAGE_FACTS.cmd];

    it("docker: one facts step per image and host, read again when the pulled image changes; the wrapper is the entrypoint, the image's start its command", async () => {
        const run = await runPlatform(cfg(config));
        const facts = ofType(run, T.command).filter((c) => String(c.inputs.create).includes(IMAGE_FACTS_MARKER));
        const gatewayImage = "api7ee.azurecr.io/api7-gateway:2.13.2304";
        expect(facts.map((f) => f.name).sort()).toEqual(["local-api7ee-azurecr-io-api7-dashboard-2-13-2304-facts", "local-api7ee-azurecr-io-api7-gateway-2-13-2304-facts"]);
        const gatewayFacts = facts.find((f) => f.name.includes("gateway"))!;
        expect(gatewayFacts.inputs.create).toBe(renderImageFactsScript(gatewayImage));
        expect(gatewayFacts.inputs.triggers).toEqual([find(run, T.image, `local-${gatewayImage.replace(/[^a-zA-Z0-9]+/g, "-")}`).state.imageId]);
        for (const gw of services(run, "data-plane")) {
            expect(wrapper(gw.inputs.entrypoints)).toMatchObject({ start: [] });
            expect(gw.inputs.command).toEqual(mockStart);
            expect(envs(gw)).toEqual([]);
        }
        // The dashboards have no secret in their environment: only their files' owner is read.
        for (const d of services(run, "control-plane")) {
            expect(d.inputs.entrypoints).toBeUndefined();
            expect(d.inputs.command).toBeUndefined();
        }
    });

    it("ssh: the facts step runs on each host; the Compose file has the wrapper and the image's start, the files are installed for the image's user", async () => {
        const run = await runPlatform(compactSsh(config, 5));
        const facts = ofType(run, T.remoteCommand).filter((c) => String(c.inputs.stdin).includes(IMAGE_FACTS_MARKER));
        expect(facts.map((f) => f.name).sort()).toEqual(["node-1-api7ee-azurecr-io-api7-dashboard-2-13-2304-facts", "node-2-api7ee-azurecr-io-api7-dashboard-2-13-2304-facts", "node-4-api7ee-azurecr-io-api7-gateway-2-13-2304-facts", "node-5-api7ee-azurecr-io-api7-gateway-2-13-2304-facts"]);
        const compose = parse(String(unwrapSecrets((find(run, T.copyToRemote, "node-4-gateway-copy-compose").inputs.source as { text: string }).text))) as { services: Record<string, { entrypoint: string[]; command: string[] }> };
        const gw = compose.services["node-4-gateway"];
        expect(wrapper([...gw.entrypoint])).toMatchObject({ start: [] });
        expect(gw.command).toEqual(mockStart);
        const install = String(find(run, T.remoteCommand, "node-4-gateway-files").inputs.stdin);
        expect(install).toMatch(new RegExp(`/run/gateway-ha/env/GATEWAY_HA_ETCD_PASSWORD' 0400 '[^']+' ${MOCK_IMAGE_FACTS.uid} ${MOCK_IMAGE_FACTS.gid}`));
    });

    it("aws: the boot reads them on the node (no deployer step reaches it before it boots)", async () => {
        const run = await runPlatform(cfg({ ...config, target: "aws", aws: { region: "eu-west-1" } }));
        const instance = ofType(run, "aws:ec2/instance:Instance").find((i) => i.name.includes("dp-1"))!;
        const files = (parse(instance.inputs.userData as string) as { write_files: { path: string; content: string }[] }).write_files;
        const manifest = JSON.parse(files.find((f) => f.path === "/opt/gateway-ha/image-facts.json")!.content);
        expect(manifest).toEqual([{ service: "dp-1-gateway", image: "api7ee.azurecr.io/api7-gateway:2.13.2304", start: true, files: expect.arrayContaining([expect.stringContaining("GATEWAY_HA_ETCD_PASSWORD")]) }]);
    });
});
