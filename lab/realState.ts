// A mock-engine state hook that computes what the providers would: real random passwords,
// real keys and real X.509 certificates (made with openssl from the resources' own inputs), so
// the lab runs exactly what `pulumi up` would deploy rather than placeholders.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PRINT_RECORD } from "../components/service";
import { asSecret, defaultState, unwrapSecrets, type StateHook } from "../scripts/lib/mockEngine";

const OPENSSL = "openssl";

interface Subject {
    commonName?: string;
    organization?: string;
    organizationalUnit?: string;
}

type Inputs = Record<string, unknown>;

function subjectArg(s: Subject | undefined): string {
    const esc = (v: string) => v.replace(/[/\\=+,]/g, (c) => `\\${c}`);
    return (
        [s?.organization && `/O=${esc(s.organization)}`, s?.organizationalUnit && `/OU=${esc(s.organizationalUnit)}`, s?.commonName && `/CN=${esc(s.commonName)}`]
            .filter(Boolean)
            .join("") || "/"
    );
}

/** tls provider `allowedUses` → OpenSSL extension lines. */
export function usageExtensions(uses: string[], isCa: boolean): string[] {
    const ku: Record<string, string> = {
        digital_signature: "digitalSignature",
        key_encipherment: "keyEncipherment",
        cert_signing: "keyCertSign",
        crl_signing: "cRLSign",
    };
    const eku: Record<string, string> = { server_auth: "serverAuth", client_auth: "clientAuth" };
    const lines = [`basicConstraints=critical,CA:${isCa ? "TRUE" : "FALSE"}`];
    const k = uses.map((u) => ku[u]).filter(Boolean);
    const e = uses.map((u) => eku[u]).filter(Boolean);
    if (k.length) lines.push(`keyUsage=critical,${k.join(",")}`);
    if (e.length) lines.push(`extendedKeyUsage=${e.join(",")}`);
    return lines;
}

/** Runs openssl in a scratch directory holding `files`; returns the named output file. */
function openssl(args: string[], files: Record<string, string>, output: string): string {
    const dir = mkdtempSync(join(tmpdir(), "gwha-lab-pki-"));
    try {
        for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });
        const r = spawnSync(OPENSSL, args, { cwd: dir, encoding: "utf8", timeout: 20_000 });
        if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr || r.error}`);
        return readFileSync(join(dir, output), "utf8");
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

function privateKey(inputs: Inputs): { privateKeyPem: string; publicKeyPem: string } {
    const { privateKey, publicKey } =
        inputs.algorithm === "RSA"
            ? generateKeyPairSync("rsa", { modulusLength: Number(inputs.rsaBits ?? 2048) })
            : generateKeyPairSync("ec", { namedCurve: inputs.ecdsaCurve === "P384" ? "P-384" : "P-256" });
    return {
        privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    };
}

const days = (inputs: Inputs) => String(Math.max(1, Math.ceil(Number(inputs.validityPeriodHours ?? 24) / 24)));

function selfSignedCert(inputs: Inputs): string {
    const ext = usageExtensions((inputs.allowedUses as string[]) ?? [], inputs.isCaCertificate === true);
    return openssl(
        ["req", "-x509", "-key", "key.pem", "-subj", subjectArg(inputs.subject as Subject), "-days", days(inputs), "-out", "cert.pem", ...ext.flatMap((e) => ["-addext", e])],
        { "key.pem": inputs.privateKeyPem as string },
        "cert.pem",
    );
}

function certRequest(inputs: Inputs): string {
    const sans = [...((inputs.ipAddresses as string[]) ?? []).map((a) => `IP:${a}`), ...((inputs.dnsNames as string[]) ?? []).map((d) => `DNS:${d}`)];
    return openssl(
        ["req", "-new", "-key", "key.pem", "-subj", subjectArg(inputs.subject as Subject), "-out", "csr.pem", ...(sans.length ? ["-addext", `subjectAltName=${sans.join(",")}`] : [])],
        { "key.pem": inputs.privateKeyPem as string },
        "csr.pem",
    );
}

function locallySignedCert(inputs: Inputs): string {
    const ext = usageExtensions((inputs.allowedUses as string[]) ?? [], inputs.isCaCertificate === true);
    return openssl(
        [
            "x509", "-req", "-in", "csr.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", `0x${randomBytes(12).toString("hex")}`,
            "-days", days(inputs), "-copy_extensions", "copy", "-extfile", "ext.cnf", "-out", "cert.pem",
        ],
        { "csr.pem": inputs.certRequestPem as string, "ca.pem": inputs.caCertPem as string, "ca.key": inputs.caPrivateKeyPem as string, "ext.cnf": ext.join("\n") + "\n" },
        "cert.pem",
    );
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

function password(inputs: Inputs): string {
    let chars = ALNUM;
    if (inputs.special !== false) chars += typeof inputs.overrideSpecial === "string" ? inputs.overrideSpecial : SPECIAL;
    return Array.from({ length: Number(inputs.length ?? 16) }, () => chars[randomInt(chars.length)]).join("");
}

/**
 * A state hook that remembers: a resource asked for again with the same inputs gets the same values,
 * as Pulumi keeps an unchanged resource's outputs. Two previews through it (before and after a
 * config change) differ only where `pulumi up` would create or replace something.
 */
export function statefulRealState(observed: ReadonlyMap<string, string> = new Map()): StateHook & { forget(keys: string[]): void } {
    const kept = new Map<string, Record<string, unknown> | undefined>();
    const last = new Map<string, { inputs: Record<string, unknown>; state: Record<string, unknown> | undefined }>();
    const hook: StateHook = (type, name, rawInputs) => {
        const key = `${type}::${name}::${JSON.stringify(rawInputs)}`;
        if (!kept.has(key)) {
            const before = last.get(`${type}::${name}`);
            let state = realState(type, name, rawInputs);
            // A record step (its update prints its first stdout again) updated in place keeps what it printed.
            if (type === LOCAL_COMMAND && before && isRecordUpdate(before.inputs, rawInputs)) state = { ...state, stdout: before.state?.stdout };
            kept.set(key, state);
        }
        let state = kept.get(key);
        // What the step printed when the lab ran it: the engine resolves its stdout to that.
        if (type === LOCAL_COMMAND && observed.has(name)) state = { ...state, stdout: observed.get(name) };
        last.set(`${type}::${name}`, { inputs: rawInputs, state });
        return state;
    };
    /** Resources (`type::name`) deleted from the state: created again, they get new values (new passwords, keys, certificates). */
    const forget = (keys: string[]) => {
        for (const k of keys) {
            last.delete(k);
            for (const x of [...kept.keys()]) if (x.startsWith(`${k}::`)) kept.delete(x);
        }
    };
    return Object.assign(hook, { forget });
}

const LOCAL_COMMAND = "command:local:Command";

/** The same record step with its triggers unchanged: the provider updates it, and its update only prints its stdout. */
function isRecordUpdate(before: Record<string, unknown>, after: Record<string, unknown>): boolean {
    const plain = (i: Record<string, unknown>) => unwrapSecrets(i) as Record<string, unknown>;
    const [b, a] = [plain(before), plain(after)];
    return a.update === PRINT_RECORD && b.update === PRINT_RECORD && JSON.stringify(a.triggers ?? null) === JSON.stringify(b.triggers ?? null);
}

/** Real values for random and tls resources; everything else as the offline preview mocks it. */
export const realState: StateHook = (type, name, rawInputs) => {
    const inputs = unwrapSecrets(rawInputs) as Inputs;
    switch (type) {
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: asSecret(password(inputs)) };
        case "tls:index/privateKey:PrivateKey": {
            const k = privateKey(inputs);
            return { ...inputs, privateKeyPem: asSecret(k.privateKeyPem), publicKeyPem: k.publicKeyPem };
        }
        case "tls:index/selfSignedCert:SelfSignedCert":
            return { ...inputs, certPem: selfSignedCert(inputs) };
        case "tls:index/certRequest:CertRequest":
            return { ...inputs, certRequestPem: certRequest(inputs) };
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { ...inputs, certPem: locallySignedCert(inputs) };
        default:
            return defaultState(type, name, rawInputs);
    }
};
