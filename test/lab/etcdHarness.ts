// Shared by the real-etcd tests: tool paths, free loopback ports, a synchronous runner and a PKI
// like the stack's (one CA; member certificates for client and server; client certificates).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MANAGEMENT_TLS_NAME, MANAGEMENT_TLS_PATHS } from "../../components/render/managementTls";

export const ETCD = "/usr/bin/etcd";
export const ETCDCTL = "/usr/bin/etcdctl";
export const OPENSSL = "/usr/bin/openssl";
export const haveTools = [ETCD, ETCDCTL, OPENSSL].every((p) => existsSync(p));

/** Every port pair is checked free on all the addresses before use. */
export async function portFree(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once("error", () => resolve(false));
        srv.listen(port, host, () => srv.close(() => resolve(true)));
    });
}

export async function freePortPair(addrs: string[], exclude: number[] = []): Promise<[number, number]> {
    for (let attempt = 0; attempt < 50; attempt++) {
        const base = 30000 + 2 * Math.floor(Math.random() * 10000);
        if (exclude.includes(base) || exclude.includes(base + 1)) continue;
        const checks = await Promise.all(addrs.flatMap((a) => [portFree(a, base), portFree(a, base + 1)]));
        if (checks.every(Boolean)) return [base, base + 1];
    }
    throw new Error(`no free port pair on ${addrs.join(", ")}`);
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}) {
    const started = Date.now();
    const r = spawnSync(cmd, args, {
        cwd: opts.cwd,
        env: opts.env ?? { PATH: process.env.PATH },
        input: opts.input,
        timeout: opts.timeoutMs ?? 20_000,
        encoding: "utf8",
        killSignal: "SIGKILL",
    });
    return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}`, stdout: r.stdout ?? "", stderr: r.stderr ?? "", ms: Date.now() - started, error: r.error };
}

/**
 * `run` without blocking the event loop: the steps (a learner's promotion waits for it to catch up)
 * can take tens of seconds, and vitest's worker must answer its runner meanwhile (a 60 s RPC timeout).
 */
export function runAsync(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ReturnType<typeof run>> {
    const started = Date.now();
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { env: opts.env ?? { PATH: process.env.PATH }, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
        child.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, out: `${stdout}${stderr}`, stdout, stderr, ms: Date.now() - started, error: undefined });
        });
    });
}

export function openssl(args: string[], cwd: string) {
    const r = run(OPENSSL, args, { cwd });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.out}`);
}

/** A PKI like the one the stack makes: one CA, member certs (client + server), client certs. */
export class Pki {
    readonly dir = mkdtempSync(join(tmpdir(), "gwha-etcd-ca-"));
    constructor() {
        openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=gateway-ha-lab-etcd-ca"], this.dir);
    }
    get ca() {
        return join(this.dir, "ca.crt");
    }
    /** Signs a cert for `cn` with the given SANs; writes <dir>/<cert>, <dir>/<key>. */
    issue(cn: string, sans: { ipAddresses: string[]; dnsNames: string[] }, dir: string, cert: string, key: string) {
        const csr = join(dir, `${cn}.csr`);
        const ext = join(dir, `${cn}.ext`);
        openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", join(dir, key), "-out", csr, "-subj", `/CN=${cn}`], dir);
        const san = [...sans.ipAddresses.map((a) => `IP:${a}`), ...sans.dnsNames.map((d) => `DNS:${d}`)].join(",");
        writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
        openssl(["x509", "-req", "-in", csr, "-CA", this.ca, "-CAkey", join(this.dir, "ca.key"), "-CAcreateserial", "-out", join(dir, cert), "-days", "1", "-extfile", ext], dir);
        rmSync(csr);
        rmSync(ext);
    }
    /** A consumer's client cert as the stack issues it (components/etcdCluster.ts): no CN, no SANs, `OU=<user>, O=gateway-ha`. */
    consumer(user: string) {
        const [cert, key, csr, ext] = ["crt", "key", "csr", "ext"].map((x) => join(this.dir, `consumer-${user}.${x}`));
        openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", `/OU=${user}/O=gateway-ha`], this.dir);
        writeFileSync(ext, "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
        openssl(["x509", "-req", "-in", csr, "-CA", this.ca, "-CAkey", join(this.dir, "ca.key"), "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", ext], this.dir);
        rmSync(csr);
        rmSync(ext);
        return { cert, key };
    }
    /** A client cert in the CA dir: {cert, key} paths. */
    client(cn: string) {
        this.issue(cn, { ipAddresses: [], dnsNames: [cn] }, this.dir, `${cn}.crt`, `${cn}.key`);
        return { cert: join(this.dir, `${cn}.crt`), key: join(this.dir, `${cn}.key`) };
    }
}

/**
 * A balancer's management TLS files, issued by `pki` into `dir` for loopback: the balancers' paths
 * inside their containers → the files here, to substitute into a rendered config before running it.
 */
export function balancerManagementFiles(pki: Pki, dir: string): [string, string][] {
    pki.issue(MANAGEMENT_TLS_NAME, { ipAddresses: ["127.0.0.1"], dnsNames: [MANAGEMENT_TLS_NAME] }, dir, "lb.crt", "lb.key");
    writeFileSync(join(dir, "lb.pem"), readFileSync(join(dir, "lb.crt"), "utf8") + readFileSync(join(dir, "lb.key"), "utf8"));
    const m = MANAGEMENT_TLS_PATHS;
    return [
        [m.haproxy.pem, join(dir, "lb.pem")],
        [m.haproxy.ca, pki.ca],
        [m.nginx.cert, join(dir, "lb.crt")],
        [m.nginx.key, join(dir, "lb.key")],
        [m.nginx.ca, pki.ca],
    ];
}

/** `text` with each container path replaced by its file here. */
export function withLocalFiles(text: string, files: [string, string][]): string {
    return files.reduce((t, [inContainer, onHost]) => t.replaceAll(inContainer, onHost), text);
}
