// An organisation's PKI as an operator brings it (a root, intermediates, server certificates), made
// with openssl: controlPlane.certificate for the lab (--org-certificate) and the tests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class OrgPki {
    readonly dir = mkdtempSync(join(tmpdir(), "org-pki-"));

    private ssl(...args: string[]): void {
        execFileSync("openssl", args, { cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] });
    }

    /** A P-256 key `<name>.key`. */
    key(name: string): void {
        this.ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`);
    }

    /** A CA `<name>.crt`: a root, or an intermediate under `issuer`. */
    ca(name: string, issuer?: string): void {
        this.key(name);
        const ext = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"];
        if (issuer) return this.sign(name, issuer, ext);
        this.ssl("req", "-x509", "-new", "-key", `${name}.key`, "-subj", `/O=Example Org/CN=${name}`, "-days", "30", "-out", `${name}.crt`, ...ext.flatMap((e) => ["-addext", e]));
    }

    /** An end-entity certificate `<name>.crt` under `issuer` with these SANs (`DNS:…,IP:…`) and extended key usage. */
    leaf(name: string, issuer: string, san: string, eku = "serverAuth"): void {
        this.key(name);
        this.sign(name, issuer, [`subjectAltName=${san}`, `extendedKeyUsage=${eku}`, "keyUsage=critical,digitalSignature"]);
    }

    read(file: string): string {
        return readFileSync(join(this.dir, file), "utf8");
    }

    remove(): void {
        rmSync(this.dir, { recursive: true, force: true });
    }

    private sign(name: string, issuer: string, ext: string[]): void {
        this.ssl("req", "-new", "-key", `${name}.key`, "-subj", `/O=Example Org/CN=${name}`, "-out", `${name}.csr`);
        writeFileSync(join(this.dir, `${name}.ext`), ext.join("\n") + "\n");
        this.ssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.crt`, "-CAkey", `${issuer}.key`, "-CAcreateserial", "-days", "30", "-extfile", `${name}.ext`, "-out", `${name}.crt`);
    }
}

/** controlPlane.certificate as an operator sets it: a certificate for `host` under an intermediate, the root to trust. */
export function issueOrgCertificate(host: string): { certificate: string; privateKey: string; caCertificate: string; host: string } {
    const pki = new OrgPki();
    try {
        pki.ca("root");
        pki.ca("intermediate", "root");
        pki.leaf("server", "intermediate", `DNS:${host}`);
        return { certificate: pki.read("server.crt") + pki.read("intermediate.crt"), privateKey: pki.read("server.key"), caCertificate: pki.read("root.crt"), host };
    } finally {
        pki.remove();
    }
}
