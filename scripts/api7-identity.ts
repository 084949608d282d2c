// API7 v3's second step: once the control plane runs, fetch the gateway group's mTLS identity from
// the dashboard and put it into the stack config, so the next `pulumi up` deploys the gateways.
// It first replaces the dashboard's vendor login (admin/admin; 3.2.16.3 has no config key for it)
// with the stack's generated one (the `dashboardAdmin` output).
//
//   npm run --silent api7:identity -- --stack NAME [--dashboard URL] [--gateway-group SHORT_ID]
//
// Values reach `pulumi config set` on stdin, never on a command line; the key is set --secret.
import { spawn } from "node:child_process";
import http from "node:http";
import https from "node:https";
import { parseArgs } from "node:util";

/** Runs the Pulumi CLI: resolves to stdout, rejects with its stderr. */
export type PulumiCli = (args: string[], stdin?: string) => Promise<string>;

export const pulumiCli: PulumiCli = (args, stdin) =>
    new Promise((resolve, reject) => {
        const child = spawn("pulumi", args, { stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (c) => (out += c));
        child.stderr.on("data", (c) => (err += c));
        child.on("error", (e) => reject(new Error(`pulumi ${args[0]}: ${e.message}`)));
        child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`pulumi ${args.slice(0, 2).join(" ")} exited ${code}: ${err.trim()}`))));
        child.stdin.end(stdin ?? "");
    });

export interface DashboardLogin {
    user: string;
    password: string;
}

export interface GatewayIdentity {
    certificate: string;
    privateKey: string;
    caCertificate: string;
}

/** The vendor's first login on the API7 EE 3.x dashboard (its install docs: log in with admin / admin). */
const VENDOR_LOGIN: DashboardLogin = { user: "admin", password: "admin" };

class DashboardError extends Error {}

/**
 * One dashboard request. The dashboard serves HTTPS with the stack's management certificate, so its
 * CA (`managementCaCert`) is the only trust anchor: Node's fetch cannot be given one.
 */
async function request(base: string, login: DashboardLogin, method: string, path: string, body?: unknown, ca?: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const url = new URL(path, base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { authorization: `Basic ${Buffer.from(`${login.user}:${login.password}`).toString("base64")}`, ...(payload ? { "content-type": "application/json" } : {}) };
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const options = { method, headers, timeout: 15_000, ...(url.protocol === "https:" && ca ? { ca } : {}) };
        const req = (url.protocol === "https:" ? https : http).request(url, options, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`no answer from ${url.origin} in 15 s`)));
        req.on("error", (e) => reject(new DashboardError(`${method} ${url.origin}${url.pathname}: ${e.message}`)));
        req.end(payload);
    });
    let json: Record<string, unknown> = {};
    try {
        json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
        json = { error_msg: text.slice(0, 200) };
    }
    return { status, json };
}

const failure = (what: string, r: { status: number; json: Record<string, unknown> }) =>
    new DashboardError(`${what}: HTTP ${r.status}${typeof r.json.error_msg === "string" ? ` (${r.json.error_msg})` : ""}`);

/**
 * Logs in with the stack's admin password (setting it over the vendor's default on first use), finds
 * the gateway group by short ID, and has the dashboard issue a client certificate for it.
 */
export async function fetchGatewayIdentity(opts: { dashboardUrl: string; admin: DashboardLogin; gatewayGroup: string; ca?: string }): Promise<GatewayIdentity & { passwordSet: boolean }> {
    const { dashboardUrl: base, admin, gatewayGroup } = opts;
    const call = (login: DashboardLogin, method: string, path: string, body?: unknown) => request(base, login, method, path, body, opts.ca);
    let groups = await call(admin, "GET", "/api/gateway_groups");
    let passwordSet = false;
    if (groups.status === 401) {
        const changed = await call(VENDOR_LOGIN, "PUT", "/api/password", { old_password: VENDOR_LOGIN.password, new_password: admin.password });
        if (changed.status === 401) throw new DashboardError("the dashboard accepts neither the stack's admin password (dashboardAdmin) nor the vendor's default login");
        if (changed.status !== 200) throw failure("setting the stack's admin password", changed);
        passwordSet = true;
        groups = await call(admin, "GET", "/api/gateway_groups");
    }
    if (groups.status !== 200) throw failure("listing gateway groups", groups);
    const list = (groups.json.list ?? []) as { id: string; short_id: string }[];
    const group = list.find((g) => g.short_id === gatewayGroup);
    if (!group) throw new DashboardError(`no gateway group with short ID ${gatewayGroup} (dataPlane.gatewayGroup); the dashboard has ${list.map((g) => g.short_id).join(", ") || "none"}`);
    const issued = await call(admin, "POST", `/api/gateway_groups/${encodeURIComponent(group.id)}/dp_client_certificates`, {});
    if (issued.status !== 200) throw failure(`issuing a certificate for gateway group ${gatewayGroup}`, issued);
    const v = (issued.json.value ?? {}) as { certificate?: string; private_key?: string; ca_certificate?: string };
    if (!v.certificate || !v.private_key || !v.ca_certificate) throw new DashboardError("the dashboard's answer lacks certificate, private_key or ca_certificate");
    return { certificate: v.certificate, privateKey: v.private_key, caCertificate: v.ca_certificate, passwordSet };
}

/** Writes the identity into the stack config: dataPlane.dpManagerIdentity, its key as a secret. */
export async function saveGatewayIdentity(cli: PulumiCli, stack: string, id: GatewayIdentity): Promise<void> {
    const set = (key: string, value: string, secret: boolean) =>
        cli(["config", "set", "--stack", stack, "--path", `dataPlane.dpManagerIdentity.${key}`, ...(secret ? ["--secret"] : ["--plaintext"])], value);
    await set("certificate", id.certificate, false);
    await set("caCertificate", id.caCertificate, false);
    await set("privateKey", id.privateKey, true);
}

export async function main(argv: string[], cli: PulumiCli = pulumiCli, log: (line: string) => void = console.log): Promise<void> {
    const { values } = parseArgs({ args: argv, options: { stack: { type: "string" }, dashboard: { type: "string" }, "gateway-group": { type: "string" } } });
    if (!values.stack) throw new DashboardError("--stack NAME is required");
    const stack = values.stack;
    const outputs = JSON.parse(await cli(["stack", "output", "--stack", stack, "--json", "--show-secrets"])) as {
        flavor?: string;
        controlPlaneUrl?: string;
        dashboardAdmin?: DashboardLogin;
        managementCaCert?: string;
    };
    if (outputs.flavor !== "api7-v3") throw new DashboardError(`stack ${stack} runs flavor ${outputs.flavor ?? "(none: run pulumi up first)"}; only api7-v3 gateways need a dashboard-issued identity`);
    if (!outputs.dashboardAdmin?.password) throw new DashboardError(`stack ${stack} exports no dashboardAdmin password: run pulumi up first`);
    const dashboardUrl = values.dashboard ?? outputs.controlPlaneUrl;
    if (!dashboardUrl) throw new DashboardError(`stack ${stack} exports no controlPlaneUrl: pass --dashboard URL`);
    const gatewayGroup =
        values["gateway-group"] ??
        (await cli(["config", "get", "--stack", stack, "--path", "dataPlane.gatewayGroup"]).then(
            (v) => v.trim(),
            () => "default",
        ));
    const id = await fetchGatewayIdentity({ dashboardUrl, admin: outputs.dashboardAdmin, gatewayGroup, ca: outputs.managementCaCert || undefined });
    if (id.passwordSet) log(`api7:identity: the dashboard's admin login is now the stack's (pulumi stack output --show-secrets dashboardAdmin); the vendor default no longer works`);
    await saveGatewayIdentity(cli, stack, id);
    log(`api7:identity: gateway group ${gatewayGroup}'s certificate is in the stack config (dataPlane.dpManagerIdentity, the key as a secret); run pulumi up to deploy the gateways`);
}

if (require.main === module)
    main(process.argv.slice(2)).catch((e: unknown) => {
        // Expected failures say what to do; anything else keeps its stack.
        console.error(`api7:identity: ${e instanceof DashboardError || (e as { code?: string })?.code?.startsWith("ERR_PARSE_ARGS") ? (e as Error).message : ((e as Error)?.stack ?? e)}`);
        process.exit(1);
    });
