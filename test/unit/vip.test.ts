// keepalived VIPs through index.ts under Pulumi's mock engine: what kinds keepalived and lvs (and a
// VIP over a haproxy pair) deploy, with the VRRP secret generated or configured and kept a secret.
import { beforeAll, describe, expect, it } from "vitest";
import { MANAGEMENT_TLS_NAME } from "../../components/render/managementTls";
import { DEFAULT_IMAGES } from "../../components/config/schema";
import { isSecretWrapper, unwrapSecrets, type RecordedResource } from "../../scripts/lib/mockEngine";
import { T, cfg, dependsOn, find, imageRef, label, nodeContainers, ofType, registration, runPlatform, scanRun, services, upload, uploads, type PlatformRun } from "./helpers";

const CONF = "/etc/keepalived/keepalived.conf";
const GW = { name: "gw", address: "172.28.0.100", virtualRouterId: 51, protects: "data-plane" };
const CP = { name: "cp", address: "172.28.0.101", virtualRouterId: 52, protects: "control-plane" };

const names = (rs: RecordedResource[]) => rs.map((r) => r.name).sort();
const nodeOf = (r: RecordedResource) => label(r, "gateway-ha.node");
const byService = (run: PlatformRun, service: string) => services(run).filter((r) => label(r, "gateway-ha.service") === service);
const authOf = (text: string, vip: string) => {
    const m = new RegExp(`vrrp_instance ${vip} \\{[\\s\\S]*?auth_pass (\\S+)`).exec(text);
    if (!m) throw new Error(`no auth_pass for ${vip} in\n${text}`);
    return m[1];
};
/** The uploaded file's content is secret-wrapped (or the whole uploads list is). */
const uploadIsSecret = (r: RecordedResource, file: string) => {
    const raw = r.inputs.uploads;
    if (isSecretWrapper(raw)) return true;
    const entry = (raw as { file: string; content: unknown }[]).find((u) => unwrapSecrets(u.file) === file);
    return isSecretWrapper(entry) || isSecretWrapper(entry?.content);
};
const anchorNode = (run: PlatformRun, svc: RecordedResource) => nodeOf(nodeContainers(run).find((n) => `container:${n.name}-id` === svc.inputs.networkMode)!);

describe("kind keepalived (active-standby VIPs on the gateways and the control plane)", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ loadBalancer: { kind: "keepalived", keepalived: { vips: [GW, CP] } } }));
    });

    it("runs keepalived on every VIP node, in the node's namespace, with NET_ADMIN and NET_RAW; no balancer", () => {
        const ka = byService(run, "keepalived");
        expect(names(ka)).toEqual(["cp-1-keepalived", "cp-2-keepalived", "dp-1-keepalived", "dp-2-keepalived"]);
        expect(services(run, "load-balancer")).toEqual([]);
        expect(nodeContainers(run).map(nodeOf)).not.toContain("lb-1");
        for (const svc of ka) {
            expect(imageRef(run, svc)).toBe(DEFAULT_IMAGES.keepalived);
            expect(anchorNode(run, svc)).toBe(nodeOf(svc));
            expect(svc.inputs.capabilities).toEqual({ adds: ["NET_ADMIN", "NET_RAW", "NET_BROADCAST"] });
            expect(svc.inputs.privileged).toBeUndefined();
            expect(svc.inputs.command).toEqual(["/bin/sh", "/etc/keepalived/run-keepalived.sh", "/usr/sbin/keepalived", "--dont-fork", "--log-console", "--log-detail", "--use-file", CONF]);
            expect(label(svc, "gateway-ha.role")).toBe(nodeOf(svc)!.startsWith("dp") ? "data-plane" : "control-plane");
        }
    });

    it("replaces one holder of a VIP at a time: stopped with SIGTERM, and back in VRRP before the next one stops", () => {
        for (const [first, second] of [["cp-1", "cp-2"], ["dp-1", "dp-2"]]) {
            const step = find(run, T.command, `${first}-keepalived-rollout`);
            // Its deletion: a clean stop, on which keepalived hands its VIPs over (priority-0 advert).
            expect(step.inputs.delete).toContain(`stop --signal TERM --time 10 "\${self#*|}"`);
            // Its creation: running, then its first check (timeout 1 s) and a master-down interval (4 × advert_int 1 s).
            expect(step.inputs.create).toMatch(/= running \]; do[\s\S]*\nsleep 5\n/);
            expect(step.inputs.triggers).toEqual([`${first}-keepalived-id`]);
            expect(dependsOn(registration(run, T.container, `${second}-keepalived`), T.command, step.name), `${second} waits for ${first}`).toBe(true);
            expect(dependsOn(registration(run, T.container, `${first}-keepalived`), T.command, `${second}-keepalived-rollout`)).toBe(false);
        }
    });

    it("one generated 8-character secret per VIP, the same on both of its nodes, in a secret keepalived.conf", () => {
        const pws = ofType(run, T.password).filter((r) => r.name.endsWith("-auth"));
        expect(names(pws)).toEqual(["gateway-ha-vip-cp-auth", "gateway-ha-vip-gw-auth"]);
        for (const pw of pws) expect(pw.inputs).toMatchObject({ length: 8, special: false });
        const secret = (vip: string) => unwrapSecrets(find(run, T.password, `gateway-ha-vip-${vip}-auth`).state.result) as string;
        for (const [vip, nodes] of [
            ["gw", ["dp-1", "dp-2"]],
            ["cp", ["cp-1", "cp-2"]],
        ] as const)
            for (const n of nodes) {
                const svc = find(run, T.container, `${n}-keepalived`);
                expect(authOf(upload(svc, CONF), vip)).toBe(secret(vip).slice(0, 8));
                expect(uploadIsSecret(svc, CONF), `${n} keepalived.conf secret`).toBe(true);
                expect((label(svc, "gateway-ha.secret-files") ?? "").split(",")).toContain(CONF);
            }
        expect(scanRun(run, run.generatedSecrets)).toEqual([]);
    });

    it("ships the check script: the readiness endpoint on gateways, the Admin API port on the control plane", () => {
        const dp = find(run, T.container, "dp-1-keepalived");
        expect(upload(dp, CONF)).toMatch(/script "\/bin\/sh \/etc\/keepalived\/check-gw\.sh"[\s\S]*weight 0/);
        expect(upload(dp, "/etc/keepalived/check-gw.sh")).toContain("http://127.0.0.1:7085/status/ready");
        // Only keepalived.conf is declared secret (the engine hides the whole uploads list once one file is).
        expect(label(dp, "gateway-ha.secret-files")).toBe(CONF);
        expect(upload(find(run, T.container, "cp-2-keepalived"), "/etc/keepalived/check-cp.sh")).toContain("nc -z -w 1 127.0.0.1 9180");
        expect(uploads(dp).map((u) => u.file).sort()).toEqual(["/etc/keepalived/check-gw.sh", CONF, "/etc/keepalived/run-keepalived.sh"]);
    });

    it("the VIPs are the entry points; the Admin API allows the callers' own address, never the VIP (no proxy rewrites it)", () => {
        expect(run.outputs.gatewayUrl.value).toBe("http://172.28.0.100:80");
        expect(run.outputs.gatewayHttpsUrl.value).toBe("https://172.28.0.100:443");
        expect(run.outputs.controlPlaneUrl.value).toBe("https://172.28.0.101:9180");
        expect(run.outputs.balancerDnsNames.value).toEqual({ gateway: "172.28.0.100", controlPlane: "172.28.0.101" });
        // TLS ends on the node that holds the VIP: each node's certificate names the VIP as well as its own address.
        const nodes = run.outputs.nodes.value as Record<string, { address: string }>;
        for (const node of ["cp-1", "cp-2"]) {
            const csr = find(run, "tls:index/certRequest:CertRequest", `gateway-ha-management-${node}-csr`);
            expect(csr.inputs.ipAddresses).toEqual([nodes[node].address, "172.28.0.101"]);
            expect(csr.inputs.dnsNames).toEqual([MANAGEMENT_TLS_NAME]);
        }
        const allow = upload(find(run, T.container, "cp-1-apisix-cp"), "/usr/local/apisix/conf/config.yaml");
        expect(allow).not.toContain("172.28.0.101");
        // Requests through the VIP keep the caller's address: the Docker host's bridge address is allowed.
        expect(allow).toContain("172.28.0.1/32");
    });
});

describe("a configured auth secret", () => {
    it("is used instead of a generated one and never appears in plain text", async () => {
        const run = await runPlatform(cfg({ loadBalancer: { kind: "keepalived", keepalived: { vips: [{ ...GW, authPass: "Zq7Wx2Lp" }, CP] } } }), { secretKeys: ["gateway-ha:loadBalancer"] });
        expect(names(ofType(run, T.password).filter((r) => r.name.endsWith("-auth")))).toEqual(["gateway-ha-vip-cp-auth"]);
        expect(authOf(upload(find(run, T.container, "dp-2-keepalived"), CONF), "gw")).toBe("Zq7Wx2Lp");
        expect(scanRun(run, ["Zq7Wx2Lp", ...run.generatedSecrets])).toEqual([]);
    });
});

describe("kind lvs (keepalived + IPVS on two directors)", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(cfg({ loadBalancer: { kind: "lvs", keepalived: { vips: [{ ...GW, lvs: { lbAlgo: "wrr", weights: { "dp-2": 5 } } }, CP] } } }));
    });

    it("keepalived on lb-1 and lb-2 holds both VIPs with their virtual servers; no haproxy", () => {
        const ka = byService(run, "keepalived");
        expect(names(ka)).toEqual(["lb-1-keepalived", "lb-2-keepalived"]);
        for (const svc of ka) {
            expect(label(svc, "gateway-ha.role")).toBe("load-balancer");
            const text = upload(svc, CONF);
            expect(text).toMatch(/vrrp_instance gw \{/);
            expect(text).toMatch(/vrrp_instance cp \{/);
            expect(text).toMatch(/virtual_server 172\.28\.0\.100 80 \{\n\s+delay_loop 2\n\s+lb_algo wrr\n\s+lb_kind DR/);
            expect(text).toMatch(/virtual_server 172\.28\.0\.101 9180 \{/);
            expect(text).not.toMatch(/vrrp_script/);
        }
        expect(byService(run, "gateway-lb")).toEqual([]);
        expect(run.outputs.gatewayUrl.value).toBe("http://172.28.0.100:80");
    });

    it("every real server gets the DR setup, unprivileged: NET_ADMIN, and arp_ignore / arp_announce as the container's sysctls", () => {
        const rs = byService(run, "lvs-realserver");
        expect(names(rs)).toEqual(["cp-1-lvs-realserver", "cp-2-lvs-realserver", "dp-1-lvs-realserver", "dp-2-lvs-realserver"]);
        for (const svc of rs) {
            expect(svc.inputs.privileged).toBeUndefined();
            expect(svc.inputs.capabilities).toEqual({ adds: ["NET_ADMIN"] });
            expect(svc.inputs.sysctls).toEqual({
                "net.ipv4.conf.all.arp_ignore": "1",
                "net.ipv4.conf.all.arp_announce": "2",
                "net.ipv4.conf.lo.arp_ignore": "1",
                "net.ipv4.conf.lo.arp_announce": "2",
            });
            expect(svc.inputs.command).toEqual(["/bin/sh", "/etc/keepalived/lvs-realserver.sh"]);
            expect(anchorNode(run, svc)).toBe(nodeOf(svc));
            const script = upload(svc, "/etc/keepalived/lvs-realserver.sh");
            expect(script).toContain("need net.ipv4.conf.all.arp_ignore 1");
            expect(script).toMatch(new RegExp(`ip addr replace ${nodeOf(svc)!.startsWith("dp") ? "172\\.28\\.0\\.100" : "172\\.28\\.0\\.101"}/32 dev lo`));
        }
    });
});

describe("a VIP over a haproxy pair", () => {
    it("adds lb-2, runs haproxy and keepalived on both, and makes the VIP the entry point", async () => {
        const run = await runPlatform(cfg({ loadBalancer: { kind: "haproxy", keepalived: { vips: [{ name: "edge", address: "172.28.0.120", virtualRouterId: 60, protects: "load-balancer" }] } } }));
        expect(names(services(run, "load-balancer"))).toEqual([
            "lb-1-control-plane-lb",
            "lb-1-gateway-lb",
            "lb-1-keepalived",
            "lb-2-control-plane-lb",
            "lb-2-gateway-lb",
            "lb-2-keepalived",
        ]);
        const check = upload(find(run, T.container, "lb-2-keepalived"), "/etc/keepalived/check-edge.sh");
        for (const port of [80, 443, 9180]) expect(check).toContain(`nc -z -w 1 127.0.0.1 ${port} || exit 1`);
        expect(run.outputs.gatewayUrl.value).toBe("http://172.28.0.120:80");
        expect(run.outputs.controlPlaneUrl.value).toBe("https://172.28.0.120:9180");
        // Behind the VIP, TLS ends on the balancers: theirs name it, the control-plane nodes' do not.
        const lb2 = (run.outputs.nodes.value as Record<string, { address: string }>)["lb-2"].address;
        expect(find(run, "tls:index/certRequest:CertRequest", "gateway-ha-management-lb-2-control-plane-lb-csr").inputs.ipAddresses).toEqual([lb2, "172.28.0.120"]);
        expect(find(run, "tls:index/certRequest:CertRequest", "gateway-ha-management-cp-1-csr").inputs.ipAddresses).not.toContain("172.28.0.120");
    });
});
