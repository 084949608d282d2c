// What the API7 v3 control plane issues (api7-ee 3.2.16.3: a CA of its own in the database): the
// DP Manager's server certificate for the name gateways verify (api7ee3-dp-manager) and a gateway
// group's client certificate, as POST /api/gateway_groups/{id}/dp_client_certificates returns it.
// Made with openssl, for the lab's stand-ins and the tests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DP_MANAGER_TLS_SERVER_NAME } from "../../components/render/gateway";

export interface DpIdentity {
    /** The gateway group's client certificate and key, and the CA (the dashboard's response fields). */
    certificate: string;
    privateKey: string;
    caCertificate: string;
    /** The DP Manager's server certificate and key (DNS SAN api7ee3-dp-manager). */
    serverCertificate: string;
    serverKey: string;
    /** The CA's key: a stand-in dashboard signs further client certificates with it. */
    caKey: string;
}

function run(dir: string, args: string[]): void {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A fresh CA with a server and a client certificate; `clientCn` names the gateway group. */
export function issueDpIdentity(clientCn = "gateway-group-default"): DpIdentity {
    const dir = mkdtempSync(join(tmpdir(), "dp-identity-"));
    try {
        const key = (name: string) => run(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`]);
        key("ca");
        run(dir, ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/O=API7 stand-in/CN=dp-manager-ca", "-days", "30", "-out", "ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        const leaf = (name: string, cn: string, ext: string[]) => {
            key(name);
            run(dir, ["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`]);
            writeFileSync(join(dir, `${name}.ext`), ext.join("\n") + "\n");
            run(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30", "-extfile", `${name}.ext`, "-out", `${name}.crt`]);
        };
        leaf("server", DP_MANAGER_TLS_SERVER_NAME, [`subjectAltName=DNS:${DP_MANAGER_TLS_SERVER_NAME}`, "extendedKeyUsage=serverAuth", "keyUsage=critical,digitalSignature"]);
        leaf("client", clientCn, ["extendedKeyUsage=clientAuth", "keyUsage=critical,digitalSignature"]);
        const read = (f: string) => readFileSync(join(dir, f), "utf8");
        return {
            certificate: read("client.crt"),
            privateKey: read("client.key"),
            caCertificate: read("ca.crt"),
            serverCertificate: read("server.crt"),
            serverKey: read("server.key"),
            caKey: read("ca.key"),
        };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** `--set` arguments that give a stack this identity (as `npm run api7:identity` would set it). */
export function identitySets(id: Pick<DpIdentity, "certificate" | "privateKey" | "caCertificate">): string[] {
    return [`dataPlane.dpManagerIdentity=${JSON.stringify({ certificate: id.certificate, caCertificate: id.caCertificate, privateKey: id.privateKey })}`];
}
