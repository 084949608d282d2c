// An operator-supplied control-plane certificate (controlPlane.certificate): the checks that refuse
// one clients or the servers would not accept, and where the stack serves it (the balancers'
// frontends, or the nodes behind VIPs), what its clients are told to trust, and that its key stays
// a secret. Certificates are made with openssl: a root, an intermediate, leaves.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatIssue } from "../../components/config";
import { checkServingCertificate, type ServingCertificate } from "../../components/config/certificates";
import { planChange } from "../../lab/change";
import { isSecretWrapper, unwrapSecrets } from "../../scripts/lib/mockEngine";
import { issuesOf } from "../config";
import { OrgPki } from "../../lab/standins/orgPki";
import { T, cfg, find, planRecord, runPlatform, scanRun, services, upload, type PlatformRun } from "./helpers";

const HOST = "cp.example.test";
const pki = new OrgPki();
const read = (f: string) => pki.read(f);

let good: ServingCertificate;
beforeAll(() => {
    pki.ca("root");
    pki.ca("intermediate", "root");
    pki.ca("other-root");
    pki.leaf("server", "intermediate", `DNS:${HOST},IP:172.28.0.101`);
    pki.leaf("client-only", "intermediate", `DNS:${HOST}`, "clientAuth");
    pki.leaf("foreign", "other-root", `DNS:${HOST}`);
    pki.key("stray");
    good = { certificate: read("server.crt") + read("intermediate.crt"), privateKey: read("server.key"), caCertificate: read("root.crt"), host: HOST };
});
afterAll(() => pki.remove());

// Now when called: the certificates are issued in beforeAll, after this module loads.
const fields = (c: ServingCertificate, now = new Date()) => checkServingCertificate(c, now).map((p) => `${p.field}: ${p.rule}`);

describe("checkServingCertificate", () => {
    it("accepts a certificate with its intermediate, its key, the root and a name it carries (DNS or IP)", () => {
        expect(fields(good)).toEqual([]);
        expect(fields({ ...good, host: "172.28.0.101" })).toEqual([]);
        // The root itself may close the chain.
        expect(fields({ ...good, certificate: good.certificate + read("root.crt") })).toEqual([]);
    });

    it("refuses a key that is not the certificate's, or no key at all", () => {
        expect(fields({ ...good, privateKey: read("stray.key") })).toEqual([expect.stringMatching(/^privateKey: is not the key of controlPlane.certificate.certificate/)]);
        expect(fields({ ...good, privateKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" })).toEqual([expect.stringMatching(/^privateKey: must be a PEM private key that parses/)]);
    });

    it("refuses a chain clients could not build: intermediate missing, another CA, a leaf as the CA", () => {
        expect(fields({ ...good, certificate: read("server.crt") })).toEqual([expect.stringMatching(/^certificate: is not issued by controlPlane.certificate.caCertificate/)]);
        expect(fields({ ...good, certificate: read("foreign.crt"), privateKey: read("foreign.key") })).toEqual([expect.stringMatching(/^certificate: is not issued by/)]);
        expect(fields({ ...good, certificate: read("server.crt") + read("other-root.crt") })).toEqual([
            expect.stringMatching(/^certificate: certificate 1 of the PEM is not issued by certificate 2/),
            expect.stringMatching(/^certificate: is not issued by/),
        ]);
        expect(fields({ ...good, caCertificate: read("server.crt") })).toEqual([expect.stringMatching(/^caCertificate: must be a CA certificate/)]);
    });

    it("refuses a name the certificate does not carry, a certificate for clients only, and one out of its validity", () => {
        expect(fields({ ...good, host: "admin.example.test" })).toEqual([expect.stringMatching(new RegExp(`^host: is not a name of controlPlane.certificate.certificate \\(DNS:${HOST.replace(/\./g, "\\.")}, IP Address:172.28.0.101\\)`))]);
        expect(fields({ ...good, host: "172.28.0.102" })).toHaveLength(1);
        expect(fields({ ...good, certificate: read("client-only.crt") + read("intermediate.crt"), privateKey: read("client-only.key") })).toEqual([
            expect.stringMatching(/^certificate: is not for TLS servers/),
        ]);
        expect(fields(good, new Date(Date.now() + 40 * 86_400_000))).toEqual([expect.stringMatching(/^certificate: expired on /)]);
        expect(fields(good, new Date(Date.now() - 86_400_000))).toEqual([expect.stringMatching(/^certificate: is not valid before /)]);
    });
});

describe("controlPlane.certificate in the config", () => {
    it("refuses a wrong key by its key, never showing it, before anything is created", () => {
        const issues = issuesOf({ controlPlane: { certificate: { ...good, privateKey: read("stray.key") } } });
        expect(issues.map((i) => i.key)).toEqual(["controlPlane.certificate.privateKey"]);
        const text = issues.map(formatIssue).join("\n");
        expect(text).not.toContain("PRIVATE KEY");
        expect(text).not.toContain(read("stray.key").split("\n")[1]);
    });

    it("shows the certificate's subject, not its PEM, when refusing it", () => {
        const [issue] = issuesOf({ controlPlane: { certificate: { ...good, host: "other.example.test" } } });
        expect(formatIssue(issue)).toMatch(/controlPlane.certificate.host = "other.example.test": is not a name of/);
        const [chain] = issuesOf({ controlPlane: { certificate: { ...good, certificate: read("server.crt") } } });
        expect(formatIssue(chain)).toContain("(PEM: O=Example Org, CN=server)");
        expect(formatIssue(chain)).not.toContain("BEGIN CERTIFICATE");
    });
});

describe("where the stack serves it", () => {
    let haproxy: PlatformRun;
    let vips: PlatformRun;
    beforeAll(async () => {
        haproxy = await runPlatform(cfg({ controlPlane: { certificate: good } }));
        vips = await runPlatform(
            cfg({
                controlPlane: { certificate: { ...good, host: "172.28.0.101" } },
                loadBalancer: { kind: "keepalived", keepalived: { vips: [{ name: "gw", address: "172.28.0.100", virtualRouterId: 51, protects: "data-plane" }, { name: "cp", address: "172.28.0.101", virtualRouterId: 52, protects: "control-plane" }] } },
            }),
        );
    });

    it("haproxy: the control-plane frontends serve it with its intermediate; the hop to the nodes keeps the stack's CA", () => {
        const lb = find(haproxy, T.container, "lb-1-control-plane-lb");
        const pem = upload(lb, "/usr/local/etc/haproxy/control-plane-lb.pem");
        expect(pem).toContain(good.certificate.trim());
        expect(pem).toContain(good.privateKey.trim());
        // The stack issues no balancer certificate of its own, and the nodes keep theirs (the balancers verify them).
        expect(haproxy.resources.filter((r) => /control-plane-lb-cert$/.test(r.name))).toEqual([]);
        expect(haproxy.resources.some((r) => r.name === "gateway-ha-management-cp-1-cert")).toBe(true);
        expect(upload(lb, "/usr/local/etc/haproxy/management-ca.crt")).not.toBe(good.caCertificate);
        expect(upload(find(haproxy, T.container, "cp-1-apisix-cp"), "/usr/local/apisix/conf/management/tls.crt")).not.toContain(good.certificate.trim());
    });

    it("tells clients the name it carries and its CA, and reports its expiry", () => {
        const out = Object.fromEntries(Object.entries(haproxy.outputs).map(([k, o]) => [k, unwrapSecrets(o.value)]));
        expect(out.controlPlaneUrl).toBe(`https://${HOST}:19000`);
        expect(out.managementCaCert).toBe(good.caCertificate);
        expect((out.certificateExpiry as Record<string, string>)["management/operator"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    it("keeps its private key a secret everywhere", () => {
        const lb = find(haproxy, T.container, "lb-1-control-plane-lb");
        expect(isSecretWrapper(lb.inputs.uploads) || (lb.inputs.uploads as { content: unknown }[]).some((u) => isSecretWrapper(u.content))).toBe(true);
        const keyLine = good.privateKey.split("\n")[1];
        for (const run of [haproxy, vips]) expect(scanRun(run, [keyLine])).toEqual([]);
    });

    it("behind VIPs: every control-plane node serves it, and its health check trusts its CA by the address it names", () => {
        for (const node of ["cp-1", "cp-2"]) {
            const cp = find(vips, T.container, `${node}-apisix-cp`);
            expect(upload(cp, "/usr/local/apisix/conf/management/tls.crt")).toBe(good.certificate);
            expect(upload(cp, "/usr/local/apisix/conf/management/ca.crt")).toBe(good.caCertificate);
            const test = (cp.inputs.healthcheck as { tests: string[] }).tests;
            expect(test.slice(-5)).toEqual(["--cacert", "/usr/local/apisix/conf/management/ca.crt", "--connect-to", "172.28.0.101:9180:127.0.0.1:9180", "https://172.28.0.101:9180/"]);
        }
        expect(vips.resources.filter((r) => /^gateway-ha-management-cp-\d-cert$/.test(r.name))).toEqual([]);
        expect(services(vips, "load-balancer")).toEqual([]);
    });
});

describe("on aws, behind the control-plane NLB (TCP: TLS ends on the nodes)", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ target: "aws", aws: { region: "eu-west-1" }, controlPlane: { certificate: good } }));
    });

    it("the nodes serve it, their health check verifies it by its name; clients get its host on the NLB's port", () => {
        const text = JSON.stringify(unwrapSecrets(run.resources.map((r) => r.inputs)));
        expect(text).toContain(good.certificate.split("\n")[1]);
        expect(text).toContain(`${HOST}:9180:127.0.0.1`);
        expect(text).toContain(`https://${HOST}:9180/`);
        expect(run.resources.filter((r) => /^gateway-ha-management-cp-\d-cert$/.test(r.name))).toEqual([]);
        expect(unwrapSecrets(run.outputs.controlPlaneUrl.value)).toBe(`https://${HOST}:9180`);
        expect(scanRun(run, [good.privateKey.split("\n")[1]])).toEqual([]);
    });
});

describe("what `pulumi up` does when it is set on a running stack", () => {
    it("haproxy: the control-plane balancer is replaced through its rollout step (its files digest changed); gateways, nodes and the gateway balancer stay", async () => {
        const plan = planChange(await planRecord({}), await planRecord({ controlPlane: { certificate: good } }));
        const containers = plan.changes.filter((c) => c.type === T.container).map((c) => `${c.op} ${c.name}`);
        expect(containers).toEqual(["replace lb-1-control-plane-lb"]);
        expect(plan.changes.find((c) => c.name === "lb-1-control-plane-lb")!.reason).toMatch(/labels/);
        expect(plan.changes.some((c) => c.name === "lb-1-control-plane-lb-rollout" && c.op === "replace")).toBe(true);
        // The stack's own balancer certificate goes.
        expect(plan.changes.filter((c) => c.op === "delete").map((c) => c.name)).toEqual(expect.arrayContaining(["gateway-ha-management-lb-1-control-plane-lb-cert"]));
    });
});
