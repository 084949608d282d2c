// Runs the real Pulumi program under Pulumi's mock engine and records every resource.
// Shared by the offline preview and the unit tests.
import { createHash } from "node:crypto";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { ETCD_FOUNDERS_RECORD_ENV, ETCD_MEMBER_ENV, formatJoinRecord, founderRecord } from "../../components/render/etcdMembership";
import { CA_PHASE_ENV } from "../../components/render/caRotation";
import { IMAGE_FACTS_MARKER } from "../../components/render/imageFacts";

export const SECRET_SIG_KEY = pulumi.runtime.specialSigKey;
export const SECRET_SIG = pulumi.runtime.specialSecretSig;

export interface RecordedResource {
    type: string;
    name: string;
    /** `urn:pulumi:<stack>::<project>::<parent types $-joined>$<type>::<name>`. */
    urn: string;
    /** Inputs as the engine received them: secret subtrees stay wrapped (see isSecretWrapper), StringAssets as RecordedStringAsset. */
    inputs: Record<string, unknown>;
    /** State the mock returned: what outputs of this resource resolve to. */
    state: Record<string, unknown>;
}

export interface OutputValue {
    value: unknown;
    secret: boolean;
}

export interface ProgramRun {
    project: string;
    stack: string;
    resources: RecordedResource[];
    outputs: Record<string, OutputValue>;
    /** Every registration with its resource options, components included, in registration order. */
    registrations: Registration[];
}

/** What the monitor saw besides inputs: resource options that never reach the mocks' newResource. */
export interface Registration {
    type: string;
    name: string;
    retainOnDelete: boolean;
    protect: boolean;
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
    /** Provider reference `urn::id`, "" for the default provider. */
    provider: string;
    parent: string;
    /** URNs of the resources it waits for (dependsOn, and resources its inputs come from). */
    dependencies: string[];
    /** Its aliases as the SDK sends them (specs; only the fields set): what the engine also matches it by. */
    aliases: { name?: string; type?: string; parentUrn?: string; noParent?: boolean }[];
}

let capture: Registration[] | undefined;
let patched = false;
/** Records every registration request the mock monitor receives while a run is under way. */
function patchMonitor(): void {
    if (patched) return;
    patched = true;
    const original = MockMonitor.prototype.registerResource;
    MockMonitor.prototype.registerResource = function (this: MockMonitor, req: any, callback: (err: any, res: any) => void) {
        capture?.push({
            type: req.getType(),
            name: req.getName(),
            retainOnDelete: Boolean(req.getRetainondelete?.()),
            protect: Boolean(req.getProtect?.()),
            deleteBeforeReplace: Boolean(req.getDeletebeforereplace?.()),
            ignoreChanges: req.getIgnorechangesList?.() ?? [],
            provider: req.getProvider(),
            parent: req.getParent(),
            dependencies: req.getDependenciesList(),
            aliases: (req.getAliasesList?.() ?? []).flatMap((a: any) => {
                const spec = a.getSpec?.();
                if (!spec) return [];
                return [{ ...(spec.getName() ? { name: spec.getName() } : {}), ...(spec.getType() ? { type: spec.getType() } : {}), ...(spec.getParenturn() ? { parentUrn: spec.getParenturn() } : {}), ...(spec.getNoparent() ? { noParent: true } : {}) }];
            }),
        });
        return original.call(this, req, callback);
    };
}

export type StateHook = (type: string, name: string, inputs: Record<string, unknown>) => Record<string, unknown> | undefined;

export function isSecretWrapper(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** Deep copy with secret wrappers replaced by their values (for assertions on content). */
export function unwrapSecrets(v: unknown): unknown {
    if (isSecretWrapper(v)) return unwrapSecrets(v.value);
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
    return v;
}

/** Deep copy with every secret subtree replaced by the string "[secret]". */
export function redactSecrets(v: unknown): unknown {
    if (isSecretWrapper(v)) return "[secret]";
    if (Array.isArray(v)) return v.map(redactSecrets);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactSecrets(x)]));
    return v;
}

const pem = (kind: string, body: string) => `-----BEGIN ${kind}-----\n${Buffer.from(body).toString("base64")}\n-----END ${kind}-----\n`;

/** Marks a mocked output as secret, as the real providers mark these values. */
export const asSecret = (value: unknown) => ({ [SECRET_SIG_KEY]: SECRET_SIG, value });

/** Deterministic stand-ins for what providers compute, shaped like the real values (and as secret). */
/** A fixed creation time, so previews are reproducible: the provider starts a certificate's validity when it creates it. */
export const MOCK_CERT_START = "2026-01-01T00:00:00Z";

function validity(inputs: Record<string, unknown>): { validityStartTime: string; validityEndTime: string } {
    const end = new Date(Date.parse(MOCK_CERT_START) + Number(inputs.validityPeriodHours) * 3_600_000);
    return { validityStartTime: MOCK_CERT_START, validityEndTime: end.toISOString().replace(/\.\d{3}Z$/, "Z") };
}

export function defaultState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    switch (type) {
        case "random:index/randomPassword:RandomPassword": {
            // Short secrets (keepalived's 8-character VRRP auth) must fit their length, as the real ones do.
            const short = typeof inputs.length === "number" && inputs.length < 16;
            const result = short
                ? createHash("sha256").update(`mockpw ${name}`).digest("hex").slice(0, inputs.length as number)
                : `mockpw-${name}`.replace(/[^A-Za-z0-9-]/g, "");
            return { ...inputs, result: asSecret(result) };
        }
        case "random:index/randomBytes:RandomBytes": {
            const bytes = Buffer.alloc(Number(inputs.length), `mock bytes ${name} `);
            return { ...inputs, base64: asSecret(bytes.toString("base64")), hex: asSecret(bytes.toString("hex")) };
        }
        case "aws:iam/accessKey:AccessKey":
            return { ...inputs, secret: asSecret(`mocksecret-${name}`), sesSmtpPasswordV4: asSecret(`mocksmtp-${name}`) };
        case "tls:index/privateKey:PrivateKey":
            return {
                ...inputs,
                privateKeyPem: asSecret(pem("PRIVATE KEY", `mock key ${name}`)),
                publicKeyPem: pem("PUBLIC KEY", `mock ${name}`),
            };
        case "tls:index/certRequest:CertRequest":
            return { ...inputs, certRequestPem: pem("CERTIFICATE REQUEST", `mock csr ${name}`) };
        case "tls:index/selfSignedCert:SelfSignedCert":
            return { ...inputs, certPem: pem("CERTIFICATE", `mock cert ${name}`), ...validity(inputs) };
        case "tls:index/locallySignedCert:LocallySignedCert": {
            // Reissued by another CA, a certificate differs (a CA rotation's switch reaches its users).
            const issuer = createHash("sha256").update(String(unwrapSecrets(inputs.caCertPem) ?? "")).digest("hex").slice(0, 8);
            return { ...inputs, certPem: pem("CERTIFICATE", `mock cert ${name} by ${issuer}`), ...validity(inputs) };
        }
        case "docker:index/remoteImage:RemoteImage":
            return { ...inputs, imageId: `sha256:mock-${name}`, repoDigest: `${inputs.name}@sha256:mock` };
        case "command:local:Command":
        case "command:remote:Command":
            return { ...inputs, stdout: stepStdout(inputs), stderr: "" };
        case "aws:lb/loadBalancer:LoadBalancer":
            return { ...inputs, arn: awsArn(type, name), dnsName: `${name}-0123456789.elb.amazonaws.com` };
        case "aws:ssm/parameter:Parameter":
            // AWS counts versions up on every change; here a new value gives another version, the same value the same.
            return { ...inputs, arn: awsArn(type, name), version: parseInt(createHash("sha256").update(String(unwrapSecrets(inputs.value))).digest("hex").slice(0, 6), 16) };
        case "aws:iam/role:Role":
        case "aws:iam/instanceProfile:InstanceProfile":
            return { ...inputs, name: inputs.name ?? `${name}-mock`, arn: awsArn(type, name) };
        default:
            return type.startsWith("aws:") ? { ...inputs, arn: awsArn(type, name) } : inputs;
    }
}

/**
 * What a step prints on a first deployment, where other resources read it: the etcd founders record
 * prints the planned cluster, a member's join step the founders' first-start record, the CA
 * rotation's guard its phase.
 */
/**
 * What an image-facts step prints for any image (render/imageFacts.ts): no image is pulled here.
 * Unlike any image the stack knows, so that a test tells facts read from the image from its own.
 */
export const MOCK_IMAGE_FACTS = { entrypoint: ["/mock-entrypoint.sh"], cmd: ["mock-start"], uid: 1001, gid: 1002 };

function stepStdout(inputs: Record<string, unknown>): string {
    const script = [inputs.create, inputs.stdin].map((s) => String(unwrapSecrets(s) ?? "")).join("\n");
    if (script.includes(IMAGE_FACTS_MARKER)) {
        const f = MOCK_IMAGE_FACTS;
        return [JSON.stringify(f.entrypoint), JSON.stringify(f.cmd), f.uid, f.gid, ""].join("\n");
    }
    const env = unwrapSecrets(inputs.environment ?? {}) as Record<string, string>;
    if (ETCD_FOUNDERS_RECORD_ENV in env) return `${env[ETCD_FOUNDERS_RECORD_ENV]}\n`;
    if (CA_PHASE_ENV in env) return `${env[CA_PHASE_ENV]}\n`;
    if (ETCD_MEMBER_ENV.founders in env) return `${formatJoinRecord(founderRecord(env[ETCD_MEMBER_ENV.founders], env[ETCD_MEMBER_ENV.dataDir]))}\n`;
    return "";
}

/** `arn:aws:<service>:…:<name>`, for any AWS resource's computed `arn`. */
function awsArn(type: string, name: string): string {
    return `arn:aws:${type.split(":")[1].split("/")[0]}:mock-region:123456789012:${name}`;
}

/** The region of the explicit AWS provider an invoke names (`urn::id`); providers register their inputs. */
const awsProviderRegions = new Map<string, string>();

/** Deterministic answers for the provider functions (invokes) the program calls. */
export function defaultCall(token: string, inputs: Record<string, unknown>, provider?: string): Record<string, unknown> {
    const region = awsProviderRegions.get(provider?.split("::").pop() ?? "") ?? "us-east-1";
    switch (token) {
        case "aws:ec2/getAmi:getAmi":
            return { ...inputs, id: "ami-0mock0000000000001", imageId: "ami-0mock0000000000001", name: "mock-image", architecture: "x86_64" };
        case "aws:index/getAvailabilityZones:getAvailabilityZones":
            return { id: region, names: ["a", "b", "c"].map((z) => `${region}${z}`), zoneIds: [1, 2, 3].map((i) => `mock-az${i}`) };
        case "aws:index/getCallerIdentity:getCallerIdentity":
            return { id: "123456789012", accountId: "123456789012", arn: "arn:aws:iam::123456789012:user/mock", userId: "MOCK" };
        case "aws:index/getPartition:getPartition":
            return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
        case "aws:index/getRegion:getRegion":
            return { id: region, name: region, region, endpoint: `ec2.${region}.amazonaws.com` };
        default:
            throw new Error(`unexpected provider call ${token} in offline run`);
    }
}

/** A StringAsset input as recorded: its text, resolved (the SDK holds it as a promise). */
export interface RecordedStringAsset {
    text: string;
}

/** Deep copy with every StringAsset replaced by its resolved text, secret wrappers kept. */
export async function resolveAssets(v: unknown): Promise<unknown> {
    if (pulumi.asset.Asset.isInstance(v) && "text" in v) return { text: await (v as pulumi.asset.StringAsset).text } satisfies RecordedStringAsset;
    if (Array.isArray(v)) return Promise.all(v.map(resolveAssets));
    if (v && typeof v === "object") return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await resolveAssets(x)])));
    return v;
}

async function settle(o: pulumi.Output<unknown>): Promise<OutputValue> {
    const value = await new Promise<unknown>((resolve) => o.apply((v) => resolve(v)));
    return { value, secret: await pulumi.isSecret(o) };
}

/**
 * Sets the mocks and the config, imports the program, and returns every resource it
 * registered and every stack output with its secretness. Config keys are full
 * (`gateway-ha:flavor`); values are strings as Pulumi passes them.
 */
export async function runProgram(opts: {
    program: string;
    project: string;
    stack: string;
    config: Record<string, string>;
    secretKeys?: string[];
    state?: StateHook;
    /** Import through this (vitest passes its own so modules can be reset between runs). */
    importer?: (p: string) => Promise<Record<string, unknown>>;
}): Promise<ProgramRun> {
    // A failed registration (an input's apply threw) rejects unhandled: that is how the real engine
    // fails a program. Collect those here, so the run fails as `pulumi up` would.
    const failures: unknown[] = [];
    const previous = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", (e) => failures.push(e));
    patchMonitor();
    const registrations: Registration[] = [];
    capture = registrations;
    try {
        const run = await recordProgram(opts);
        if (failures.length) throw new Error(failures.map((e) => (e instanceof Error ? e.message : String(e))).join("\n"));
        return { ...run, registrations };
    } finally {
        capture = undefined;
        process.removeAllListeners("unhandledRejection");
        for (const l of previous) process.on("unhandledRejection", l);
    }
}

async function recordProgram(opts: Parameters<typeof runProgram>[0]): Promise<Omit<ProgramRun, "registrations">> {
    const resources: RecordedResource[] = [];
    pulumi.runtime.setAllConfig(opts.config, opts.secretKeys);
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const state = opts.state?.(args.type, args.name, args.inputs) ?? defaultState(args.type, args.name, args.inputs);
                resources.push({ type: args.type, name: args.name, urn: "", inputs: args.inputs, state });
                if (args.type === "pulumi:providers:aws" && typeof args.inputs.region === "string") awsProviderRegions.set(`${args.name}-id`, args.inputs.region);
                return { id: `${args.name}-id`, state };
            },
            call: (args) => defaultCall(args.token, args.inputs, args.provider),
        },
        opts.project,
        opts.stack,
        false,
    );
    const mod = await (opts.importer ?? ((p) => import(p)))(path.resolve(opts.program));
    const outputs: Record<string, OutputValue> = {};
    for (const [k, v] of Object.entries(mod)) {
        if (pulumi.Output.isInstance(v)) outputs[k] = await settle(v);
    }
    // Components register children asynchronously: wait until registrations stop (bounded).
    for (let stable = 0, last = -1, i = 0; stable < 5 && i < 500; i++) {
        await new Promise((r) => setTimeout(r, 0));
        stable = resources.length === last ? stable + 1 : 0;
        last = resources.length;
    }
    const monitor = pulumi.runtime.getMonitor();
    const urns = monitor instanceof MockMonitor ? [...monitor.getRegisteredResources().keys()] : [];
    for (const r of resources) r.inputs = (await resolveAssets(r.inputs)) as Record<string, unknown>;
    for (const r of resources) r.urn = urns.find((u) => u.endsWith(`$${r.type}::${r.name}`) || u.endsWith(`::${r.type}::${r.name}`)) ?? "";
    return { project: opts.project, stack: opts.stack, resources, outputs };
}
