// etcd's CA rotated in phases (docs/day-2.md, "Rotating the CA"): trust the next CA too, sign with it,
// trust it alone. Each phase is a rolling replacement; the guard refuses a phase that would strand
// a running member or client.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CA_PHASE_ENV, caPhaseRecord, renderCaPhaseScript } from "../../components/render/caRotation";
import { planChange, type ChangePlan, type RunRecord } from "../../lab/change";
import { unwrapSecrets } from "../../scripts/lib/mockEngine";
import { T, cfg, planRecord, runPlatform, upload } from "./helpers";

const SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert";
const LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert";

/** The guard's update, as the command provider runs it: its previous stdout in PULUMI_COMMAND_STDOUT. */
function guard(previous: string | undefined, now: { signing: number; trusted: number[] }) {
    const env = { PATH: process.env.PATH, [CA_PHASE_ENV]: caPhaseRecord(now), ...(previous !== undefined ? { PULUMI_COMMAND_STDOUT: `${previous}\n` } : {}) };
    const r = spawnSync("/bin/sh", ["-c", renderCaPhaseScript()], { env, encoding: "utf8" });
    return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

describe("the CA rotation's guard", () => {
    const phase = (signing: number, ...trusted: number[]) => ({ signing, trusted });

    it("passes each phase of a rotation and records it", () => {
        const steps = [phase(0, 0), phase(0, 0, 1), phase(1, 0, 1), phase(1, 1), phase(1, 1, 2), phase(2, 1, 2), phase(2, 2)];
        let previous: string | undefined;
        for (const now of steps) {
            const r = guard(previous, now);
            expect(r, caPhaseRecord(now)).toMatchObject({ code: 0, stdout: caPhaseRecord(now) });
            previous = r.stdout;
        }
        // Back a phase (an interrupted rotation undone): everything running is still trusted.
        expect(guard(caPhaseRecord(phase(1, 0, 1)), phase(0, 0, 1)).code).toBe(0);
    });

    it("refuses signing with a CA the running platform does not trust yet, naming the phase to run first", () => {
        const r = guard(caPhaseRecord(phase(0, 0)), phase(1, 0, 1));
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^etcd\.caGeneration: the running platform trusts CA generation\(s\) 0 only; .* First trust it too \(etcd\.caTrust=\[0,1\]\)/);
        expect(guard(caPhaseRecord(phase(0, 0)), phase(1, 1)).code).toBe(1);
    });

    it("refuses dropping the CA that signed the running certificates", () => {
        const r = guard(caPhaseRecord(phase(0, 0, 1)), phase(1, 1));
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^etcd\.caTrust: the running platform's certificates are signed by CA generation 0; trusting 1 only would refuse them/);
    });

    it("a first deployment (no previous record) takes any valid phase", () => {
        expect(guard(undefined, phase(3, 3))).toMatchObject({ code: 0, stdout: "signing=3 trusted=3" });
    });
});

const record = (etcd: Record<string, unknown>) => planRecord({ flavor: "apisix", etcd });

const named = (plan: ChangePlan, op: string, type: string) => plan.changes.filter((c) => c.op === op && c.type === type).map((c) => c.name);

/** etcd's PKI; the management channel's CA and certificates are another's. */
const ofEtcd = (r: { name: string }) => r.name.startsWith("gateway-ha-etcd-pki");

describe("a CA rotation's three `pulumi up`s", () => {
    it("trust both, sign with the new one, trust it alone: each a rolling replacement of every TLS user, nothing protected replaced", async () => {
        const [steady, both, switched, done] = [await record({}), await record({ caTrust: [0, 1] }), await record({ caGeneration: 1, caTrust: [0, 1] }), await record({ caGeneration: 1, caTrust: [1] })];
        const containers = (r: RunRecord) => r.resources.filter((x) => x.type === T.container && /-(etcd|gateway|apisix-cp)$/.test(x.name)).map((x) => x.name).sort();

        // 1. The next CA created and trusted; no certificate reissued; every member and client restarted with the bundle.
        const p1 = planChange(steady, both);
        expect(named(p1, "create", SELF_SIGNED)).toEqual(["gateway-ha-etcd-pki-ca-1"]);
        expect(named(p1, "replace", LOCALLY_SIGNED)).toEqual([]);
        expect(named(p1, "update", T.command)).toContain("gateway-ha-etcd-ca-phase");
        expect(named(p1, "replace", T.container).sort()).toEqual(containers(steady));
        // One at a time: a delete-first replacement each, chained by the rollout steps.
        expect(p1.changes.filter((c) => c.type === T.container).every((c) => c.deleteFirst)).toBe(true);
        expect(p1.dependencies.get(`${T.container}::etcd-2-etcd`)).toContain(`${T.command}::etcd-1-etcd-rollout`);

        // 2. Every certificate reissued by the new CA; both still trusted.
        const p2 = planChange(both, switched);
        expect(named(p2, "create", SELF_SIGNED)).toEqual([]);
        expect(named(p2, "replace", LOCALLY_SIGNED).length).toBe(switched.resources.filter((r) => r.type === LOCALLY_SIGNED && ofEtcd(r)).length);
        // The management channel's certificates have a CA of their own: an etcd rotation leaves them be.
        expect(named(p2, "replace", LOCALLY_SIGNED).filter((n) => n.includes("-management-"))).toEqual([]);
        expect(named(p2, "replace", T.container).sort()).toEqual(containers(both));

        // 3. The old CA deleted and no longer trusted.
        const p3 = planChange(switched, done);
        expect(named(p3, "delete", SELF_SIGNED)).toEqual(["gateway-ha-etcd-pki-ca"]);
        expect(named(p3, "replace", LOCALLY_SIGNED)).toEqual([]);
        expect(named(p3, "replace", T.container).sort()).toEqual(containers(switched));
    });

    it("the trust bundle holds the trusted CAs, oldest first; the certificates name the signing one; expiry reports both", async () => {
        const run = await runPlatform(cfg({ flavor: "apisix", etcd: { caGeneration: 1, caTrust: [0, 1] } }), { stack: "plan" });
        const ca = (name: string) => String(run.resources.find((r) => r.type === SELF_SIGNED && r.name === name)!.state.certPem);
        const [ca0, ca1] = [ca("gateway-ha-etcd-pki-ca"), ca("gateway-ha-etcd-pki-ca-1")];
        expect(ca0).not.toBe(ca1);
        const member = run.resources.find((r) => r.type === T.container && r.name === "etcd-1-etcd")!;
        expect(upload(member, "/etc/etcd/pki/ca.crt")).toBe(`${ca0.trimEnd()}\n${ca1.trimEnd()}\n`);
        const gateway = run.resources.find((r) => r.type === T.container && r.name === "dp-1-gateway")!;
        expect(uploadsHolding(gateway, ca1).length).toBeGreaterThan(0);
        expect(uploadsHolding(gateway, ca0).length).toBeGreaterThan(0);
        for (const cert of run.resources.filter((r) => r.type === LOCALLY_SIGNED && ofEtcd(r))) expect(unwrapSecrets(cert.inputs.caCertPem)).toBe(ca1);
        const subjects = run.resources.filter((r) => r.type === SELF_SIGNED && ofEtcd(r)).map((r) => (r.inputs.subject as { commonName: string }).commonName);
        expect(subjects).toEqual(["gateway-ha-plan etcd CA", "gateway-ha-plan etcd CA 1"]);
        // The signing CA is `ca`; the other trusted one is named by its generation.
        const expiry = (run.outputs.certificateExpiry as { value: Record<string, string> }).value;
        expect(Object.keys(expiry)).toEqual(expect.arrayContaining(["etcd/ca", "etcd/ca-0", "etcd/member-1"]));
    });

    it("a stack that never rotated keeps its CA as it was: the same names and a bundle of one certificate", async () => {
        const run = await runPlatform(cfg({ flavor: "apisix" }), { stack: "plan" });
        expect(run.resources.filter((r) => r.type === SELF_SIGNED && ofEtcd(r)).map((r) => r.name)).toEqual(["gateway-ha-etcd-pki-ca"]);
        const member = run.resources.find((r) => r.type === T.container && r.name === "etcd-1-etcd")!;
        expect(upload(member, "/etc/etcd/pki/ca.crt")).toBe(String(run.resources.find((r) => r.type === SELF_SIGNED && ofEtcd(r))!.state.certPem));
    });
});

function uploadsHolding(container: { inputs: Record<string, unknown> }, pem: string): unknown[] {
    const list = (unwrapSecrets(container.inputs.uploads) as { content?: string }[] | undefined) ?? [];
    return list.filter((u) => typeof u.content === "string" && u.content.includes(pem.trim()));
}
