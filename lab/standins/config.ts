// Reads an APISIX config.yaml the way APISIX does, for the stand-ins: `${{VAR}}` and
// `${{VAR:=default}}` resolved from the environment, file paths taken inside the service's
// filesystem (`--root`), defaults for what the rendered files leave out. The file must first
// satisfy its flavor's contract (components/flavors): what the real program would refuse or
// ignore, the stand-in refuses to start on.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { rootCertificates } from "node:tls";
import { parse } from "yaml";
import { checkFile, formatViolations, type TrustBundle } from "../../components/flavors/contracts";
import type { Flavor } from "../../components/config/schema";

/** Where APISIX lives in its container; relative paths in config.yaml are relative to it. */
const APISIX_HOME = "/usr/local/apisix";

export class ConfigError extends Error {}

export interface Listen {
    ip: string;
    port: number;
}

export interface EtcdSettings {
    hosts: string[];
    prefix: string;
    /** `deployment.etcd.timeout` (seconds in the file), per attempt against one member. */
    timeoutMs: number;
    /** `deployment.etcd.watch_timeout`: a watch that hears nothing for this long is re-made. */
    watchTimeoutMs: number;
    user?: string;
    password?: string;
    /** The TLS server name for every host (`tls.sni`). */
    sni?: string;
    /** `etcd.startup_retry`: attempts per host of the start-time check (init_etcd). */
    startupRetry: number;
    /** Host paths (already under --root). */
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    verify: boolean;
}

export interface AdminSettings {
    listen: Listen;
    /** CIDRs or addresses; empty means everyone (APISIX writes no allow/deny rules then). */
    allow: string[];
    keyRequired: boolean;
    keys: string[];
    /** `https_admin`: the certificate and key files (admin_api_mtls), on this machine. */
    tls?: { certFile: string; keyFile: string };
}

export interface StandinConfig {
    /** Gateways (data_plane, and API7 v3's traditional ones) or the Admin API (control_plane). */
    role: "data_plane" | "control_plane";
    etcd: EtcdSettings;
    http: Listen[];
    /** HTTPS listeners, empty unless apisix.ssl.enable. */
    https: Listen[];
    status?: Listen;
    /** APISIX 3.13+ answers /status/ready; 2.13's status server (our nginx snippet) has /status only. */
    readyEndpoint: boolean;
    metrics?: Listen;
    admin: AdminSettings;
    /** `nginx_config.worker_shutdown_timeout`: how long a graceful stop (SIGQUIT) lets requests finish. */
    shutdownTimeoutMs: number;
}

/**
 * An nginx time (`30s`, `1m`, `500ms`, a bare number of seconds), as `worker_shutdown_timeout` takes
 * it; nginx refuses anything else at start ("invalid value"). APISIX's default is 240s.
 */
export function nginxTimeMs(value: unknown, key: string): number {
    if (value === undefined) return 240_000;
    const m = /^(\d+)(ms|s|m|h)?$/.exec(String(value));
    if (!m) throw new ConfigError(`${key}: invalid value "${String(value)}"`);
    return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "s"];
}

// APISIX's pattern (apisix/cli/file.lua): a name of [A-Za-z0-9_], optionally `:=` and a default of [A-Za-z0-9_.-].
const ENV_REF = /\$\{\{\s*([A-Za-z0-9_]+)(?::=([A-Za-z0-9_.-]*))?\s*\}\}/g;

/**
 * Replaces env references in every string value of a parsed document. Done on parsed values,
 * not on the text, so a secret with YAML syntax in it (`#`, `: `) stays one string. As in
 * APISIX, a value that used a reference and now reads as a number or boolean becomes one.
 */
export function resolveEnvRefs(value: unknown, env: NodeJS.ProcessEnv, path = ""): unknown {
    if (Array.isArray(value)) return value.map((v, i) => resolveEnvRefs(v, env, `${path}[${i}]`));
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnvRefs(v, env, path ? `${path}.${k}` : k)]));
    }
    if (typeof value !== "string") return value;
    let used = false;
    const resolved = value.replace(ENV_REF, (_, name: string, fallback: string | undefined) => {
        const v = env[name] ?? fallback;
        if (v === undefined) throw new ConfigError(`${path}: can't find environment variable ${name}`);
        used = true;
        return v;
    });
    if (!used) return resolved;
    if (resolved === "true" || resolved === "false") return resolved === "true";
    return resolved.trim() !== "" && !Number.isNaN(Number(resolved)) ? Number(resolved) : resolved;
}

/** A path from config.yaml as a host path: absolute paths sit under `root`, relative ones under APISIX's home. */
export function pathUnderRoot(root: string, path: string): string {
    return join(root, isAbsolute(path) ? path : join(APISIX_HOME, path));
}

type Doc = Record<string, any>;

function port(value: unknown, where: string): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) throw new ConfigError(`${where}: expected a port, got ${JSON.stringify(value)}`);
    return value;
}

function listen(ip: unknown, p: unknown, where: string): Listen {
    return { ip: typeof ip === "string" ? ip : "0.0.0.0", port: port(p, where) };
}

/** `node_listen` and `ssl.listen` accept a port, or a list of ports or {ip?, port}. */
function listens(value: unknown, where: string): Listen[] {
    const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
    return items.map((item, i) => (typeof item === "number" ? listen(undefined, item, `${where}[${i}]`) : listen(item?.ip, item?.port, `${where}[${i}].port`)));
}

function strings(value: unknown, where: string): string[] {
    const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
    for (const s of items) if (typeof s !== "string") throw new ConfigError(`${where}: expected strings, got ${JSON.stringify(s)}`);
    return items as string[];
}

/** API7 v2: the status server the gateway config adds as an nginx snippet (render/gateway.ts api7v2StatusServer). */
function snippetStatus(doc: Doc): Listen | undefined {
    const m = /listen\s+([0-9.]+):(\d+);/.exec(String(doc.nginx_config?.http_configuration_snippet ?? ""));
    return m ? { ip: m[1]!, port: Number(m[2]) } : undefined;
}

let publicRoots: Set<string> | undefined;

/**
 * What a CA bundle file holds, judged by its certificates: Node's public roots, and anything else
 * (the platform's own CA: etcd's, or API7 v3's DP Manager CA; the flavor says which one it needs).
 */
export function trustBundleOf(file: string): TrustBundle | undefined {
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch {
        return undefined;
    }
    publicRoots ??= new Set(rootCertificates.map((pem) => new X509Certificate(pem).fingerprint256));
    const certs = (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
    const roots = publicRoots;
    const ownCa = certs.some((c) => !roots.has(c.fingerprint256));
    return { systemRoots: certs.some((c) => roots.has(c.fingerprint256)), etcdCa: ownCa, dpManagerCa: ownCa };
}

export function loadConfig(opts: { root: string; configPath: string; env: NodeJS.ProcessEnv; flavor?: Flavor }): StandinConfig {
    const file = pathUnderRoot(opts.root, opts.configPath);
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch (e) {
        throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
    }
    const doc = (resolveEnvRefs(parse(text) ?? {}, opts.env) ?? {}) as Doc;
    const flavor = opts.flavor ?? "apisix";
    const apisix: Doc = doc.apisix ?? {};
    const deployment: Doc = doc.deployment ?? {};
    // APISIX 2.13 (API7 v2) has no deployment section: a gateway with the top-level etcd block.
    const declared = flavor === "api7-v2" ? "data_plane" : deployment.role;
    const role = declared === "traditional" && flavor === "api7-v3" ? "data_plane" : declared;
    if (role !== "data_plane" && role !== "control_plane") throw new ConfigError(`deployment.role: the stand-in runs data_plane or control_plane, got ${JSON.stringify(role)}`);

    const trusted = apisix.ssl?.ssl_trusted_certificate;
    const bundle = typeof trusted === "string" && trusted !== "system" ? trustBundleOf(pathUnderRoot(opts.root, trusted)) : undefined;
    const violations = checkFile(flavor, role === "control_plane" ? "apisix-cp" : "gateway", opts.configPath, doc, { bundles: bundle ? { [trusted]: bundle } : {} });
    if (violations.length) throw new ConfigError(`the ${flavor} program would refuse or ignore this configuration:\n${formatViolations(violations)}`);

    const e: Doc = (flavor === "api7-v2" ? doc.etcd : deployment.etcd) ?? {};
    const hosts = strings(e.host, "etcd.host");
    if (hosts.length === 0) throw new ConfigError("etcd.host: no etcd hosts");
    const under = (p: unknown) => (typeof p === "string" && p ? pathUnderRoot(opts.root, p) : undefined);
    const etcd: EtcdSettings = {
        hosts,
        prefix: typeof e.prefix === "string" ? e.prefix : "/apisix",
        timeoutMs: 1000 * (typeof e.timeout === "number" ? e.timeout : 30),
        watchTimeoutMs: 1000 * (typeof e.watch_timeout === "number" ? e.watch_timeout : 50),
        user: e.user === undefined ? undefined : String(e.user),
        password: e.password === undefined ? undefined : String(e.password),
        sni: typeof e.tls?.sni === "string" && e.tls.sni !== "" ? e.tls.sni : undefined,
        startupRetry: typeof e.startup_retry === "number" ? e.startup_retry : 2,
        caFile: under(apisix.ssl?.ssl_trusted_certificate),
        certFile: under(e.tls?.cert),
        keyFile: under(e.tls?.key),
        verify: e.tls?.verify !== false,
    };

    const a: Doc = deployment.admin ?? {};
    const keys = ((a.admin_key ?? []) as Doc[]).map((k, i) => {
        if (typeof k?.key !== "string" && typeof k?.key !== "number") throw new ConfigError(`deployment.admin.admin_key[${i}].key: missing`);
        return String(k.key);
    });
    const keyRequired = a.admin_key_required !== false;
    if (role === "control_plane" && keyRequired && (keys.length === 0 || keys.some((k) => k === ""))) {
        throw new ConfigError("deployment.admin.admin_key: admin_key_required is on but a key is missing or empty");
    }
    // apisix/cli/ops.lua: https_admin needs both files named, or the CLI dies before nginx starts.
    const certFile = under(a.admin_api_mtls?.admin_ssl_cert);
    const keyFile = under(a.admin_api_mtls?.admin_ssl_cert_key);
    if (role === "control_plane" && a.https_admin && !(certFile && keyFile)) throw new ConfigError("missing ssl cert for https admin");
    const admin: AdminSettings = {
        listen: listen(a.admin_listen?.ip, a.admin_listen?.port ?? 9180, "deployment.admin.admin_listen.port"),
        allow: a.allow_admin === undefined ? ["127.0.0.0/24"] : strings(a.allow_admin, "deployment.admin.allow_admin"),
        keyRequired,
        keys,
        ...(a.https_admin && certFile && keyFile ? { tls: { certFile, keyFile } } : {}),
    };

    const exportAddr = doc.plugin_attr?.prometheus?.export_addr;
    return {
        role,
        etcd,
        http: role === "data_plane" ? listens(apisix.node_listen ?? 9080, "apisix.node_listen") : [],
        https: role === "data_plane" && apisix.ssl?.enable ? listens(apisix.ssl.listen ?? [{ port: 9443 }], "apisix.ssl.listen") : [],
        status: apisix.status ? listen(apisix.status.ip, apisix.status.port, "apisix.status.port") : flavor === "api7-v2" ? snippetStatus(doc) : undefined,
        readyEndpoint: flavor === "apisix",
        metrics: exportAddr ? listen(exportAddr.ip, exportAddr.port, "plugin_attr.prometheus.export_addr.port") : undefined,
        admin,
        shutdownTimeoutMs: nginxTimeMs(doc.nginx_config?.worker_shutdown_timeout, "nginx_config.worker_shutdown_timeout"),
    };
}
