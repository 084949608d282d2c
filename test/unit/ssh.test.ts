// Target ssh under the mock engine: the host steps and how they log in, the files and run steps
// per service, restart triggers that move only for the services whose inputs changed, the
// one-at-a-time chains per role, the verification step, the config checks, and where secrets go.
import { createHmac } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { filesWritten } from "../../components/render/ssh";
import { ConfigValidationError, loadPlatform, type ConfigIssue } from "../../components/spec";
import { pinnedHostKey } from "../../components/spec/knownHosts";
import { renderedFiles } from "../../scripts/preview-offline";
import { isSecretWrapper, unwrapSecrets, type RecordedResource } from "../../scripts/lib/mockEngine";
import { PROJECT, T, cfg, dependsOn, find, ofType, registration, runPlatform, scanRun, type PlatformRun } from "./helpers";

const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAmockmockmockSECRETKEYBODY\n-----END OPENSSH PRIVATE KEY-----\n";
const ADDR = (i: number) => `192.168.101.${11 + i}`;
const NODES = ["node-1", "node-2", "node-3", "node-4", "node-5", "lb-1"].map((name, i) => ({ name, address: ADDR(i), sshUser: "deploy" }));
const KNOWN = NODES.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${n.name.replace("-", "")}mockhostkey`);
const STACK = "onprem";
const SECRET_KEYS = ["gateway-ha:ssh"];

const sshConfig = (extra: Record<string, unknown> = {}, ssh: Record<string, unknown> = {}, nodes: unknown[] = NODES) =>
    cfg({ target: "ssh", layout: "compact", nodes, ssh: { privateKey: PRIVATE_KEY, knownHosts: KNOWN, ...ssh }, ...extra });

const cmd = (run: PlatformRun, name: string) => find(run, T.command, name);
const stdinOf = (r: RecordedResource) => unwrapSecrets(r.inputs.stdin) as string;
const triggerOf = (run: PlatformRun, name: string) => {
    const [t, ...rest] = cmd(run, name).inputs.triggers as unknown[];
    expect(rest).toEqual([]);
    expect(typeof t, `${name}'s trigger is plain, for review`).toBe("string");
    return t as string;
};
/** The files a files step writes: path → content. */
const writtenFiles = (r: RecordedResource) => filesWritten(stdinOf(r));
const SERVICES = ["node-1-etcd", "node-2-etcd", "node-3-etcd", "node-1-apisix-cp", "node-2-apisix-cp", "node-4-gateway", "node-5-gateway", "lb-1-gateway-lb", "lb-1-control-plane-lb"];

function issues(config: Record<string, string>): ConfigIssue[] {
    try {
        loadPlatform(config, { project: PROJECT, stack: "t" });
    } catch (e) {
        if (e instanceof ConfigValidationError) return e.issues;
        throw e;
    }
    return [];
}

describe("target ssh, apisix, compact layout on existing hosts", () => {
    const config = sshConfig();
    const { topology } = loadPlatform(config, { project: PROJECT, stack: STACK });
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(config, { stack: STACK, secretKeys: SECRET_KEYS });
    });

    it("creates only commands, no Docker or cloud resource: one host step per node, a files and a run step per service", () => {
        expect(run.resources.filter((r) => r.type.startsWith("docker:") || r.type.startsWith("aws:"))).toEqual([]);
        for (const n of topology.nodes) cmd(run, `gateway-ha-ssh-${n.name}`);
        for (const s of SERVICES) {
            cmd(run, s);
            cmd(run, `${s}-files`);
        }
        expect(ofType(run, T.command).map((c) => c.name).sort()).toEqual(
            [...topology.nodes.map((n) => `gateway-ha-ssh-${n.name}`), ...SERVICES, ...SERVICES.map((s) => `${s}-files`), "gateway-ha-etcd-bootstrap", "gateway-ha-ssh-verify"].sort(),
        );
        expect(run.outputs.target.value).toBe("ssh");
        expect(run.outputs.gatewayUrl.value).toBe("http://192.168.101.16:80");
        expect(run.outputs.etcdEndpoints.value).toEqual([0, 1, 2].map((i) => `https://${ADDR(i)}:2379`));
    });

    it("host steps: wait for SSH, log in as sshUser with host keys checked against the pinned ones and the configured key", () => {
        for (const [i, n] of NODES.entries()) {
            const host = cmd(run, `gateway-ha-ssh-${n.name}`);
            const create = host.inputs.create as string;
            expect(host.inputs.update).toBe(create);
            expect(host.inputs.interpreter).toEqual(["/bin/sh", "-c"]);
            expect(create).toContain(`'deploy@${ADDR(i)}' 'sudo -n sh -s'`);
            expect(create).toContain("-o StrictHostKeyChecking=yes");
            expect(create).toContain('-o UserKnownHostsFile="$gh_dir/known_hosts"');
            expect(create).toContain('-i "$gh_dir/key" -o IdentitiesOnly=yes');
            expect(create).toContain("gh_deadline=$(( $(date +%s) + 300 ))");
            expect(create.trimEnd().endsWith(`on_host '${n.name}'`)).toBe(true);
            // The key makes the whole environment secret; the value is the configured key.
            expect(isSecretWrapper(host.inputs.environment)).toBe(true);
            const env = unwrapSecrets(host.inputs.environment) as Record<string, unknown>;
            expect(env.GATEWAY_HA_SSH_KEY).toBe(PRIVATE_KEY);
            expect(env.GATEWAY_HA_KNOWN_HOSTS).toBe(KNOWN.join("\n"));
            const script = stdinOf(host);
            expect(script).toContain("gateway_ha_install_docker");
            expect(script).toContain("sh /opt/gateway-ha/firewall.sh");
            expect(script).toContain(`SELinux is enforcing on ${n.name}`);
        }
    });

    it("each host's firewall script opens that node's ports from the matrix, to the matrix's sources", () => {
        const rich = (name: string) => [...stdinOf(cmd(run, `gateway-ha-ssh-${name}`)).matchAll(/^rule family="ipv4" source address="([^"]+)" port port="(\d+)" protocol="tcp" accept$/gm)].map((m) => `${m[2]} from ${m[1]}`);
        // etcd's client port from every node that uses etcd (members, control plane, gateways), its peer port from members only.
        expect(rich("node-3").sort()).toEqual([...[0, 1, 2, 3, 4].map((i) => `2379 from ${ADDR(i)}`), ...[0, 1, 2].map((i) => `2380 from ${ADDR(i)}`)].sort());
        expect(rich("node-4").sort()).toEqual(["443 from 192.168.101.16", "7085 from 192.168.101.16", "80 from 192.168.101.16"]);
        expect(rich("lb-1").sort()).toEqual(["443 from 0.0.0.0/0", "80 from 0.0.0.0/0", ...["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((c) => `9180 from ${c}`)].sort());
    });

    it("files steps write the service's own Compose file (host networking, its image) and its files; secrets only in secret steps", () => {
        const gw = cmd(run, "node-4-gateway-files");
        const files = writtenFiles(gw);
        const compose = parse(files.get("/opt/gateway-ha/services/node-4-gateway/compose.yaml")!) as { services: Record<string, Record<string, unknown>> };
        expect(Object.keys(compose.services)).toEqual(["node-4-gateway"]);
        expect(compose.services["node-4-gateway"]).toMatchObject({ image: "apache/apisix:3.14.1-debian", network_mode: "host", restart: "unless-stopped", labels: { "gateway-ha.node": "node-4", "gateway-ha.role": "data-plane", "gateway-ha.service": "gateway" } });
        expect(files.get("/opt/gateway-ha/files/node-4-gateway/usr/local/apisix/conf/config.yaml")).toMatch(/role: data_plane/);
        expect([...files.keys()]).toContain("/opt/gateway-ha/env/node-4-gateway.env");
        expect(isSecretWrapper(gw.inputs.stdin)).toBe(true);
        const etcd = writtenFiles(cmd(run, "node-1-etcd-files"));
        expect([...etcd.keys()].filter((p) => p.startsWith("/opt/gateway-ha/secrets/"))).toEqual(["/opt/gateway-ha/secrets/node-1-etcd/etc/etcd/pki/member.key"]);
        expect(stdinOf(cmd(run, "node-1-etcd-files"))).toContain("mkdir -p '/var/lib/gateway-ha/volumes/node-1-etcd-data/data'");
        // A balancer has no secret: its step stays plain, so `pulumi preview` shows the change.
        expect(isSecretWrapper(cmd(run, "lb-1-gateway-lb-files").inputs.stdin)).toBe(false);
        for (const s of SERVICES) expect(dependsOn(registration(run, T.command, `${s}-files`), T.command, `gateway-ha-ssh-${topology.nodes.find((n) => s.startsWith(`${n.name}-`))!.name}`), s).toBe(true);
    });

    it("run steps restart the service and wait for its health; the container goes on delete, before a replacement starts", () => {
        const gw = cmd(run, "node-4-gateway");
        expect(stdinOf(gw)).toContain("docker compose -f '/opt/gateway-ha/services/node-4-gateway/compose.yaml' up -d --force-recreate --no-deps");
        expect(stdinOf(gw)).toContain("want=healthy");
        expect(gw.inputs.delete as string).toContain("docker rm -f 'node-4-gateway'");
        for (const s of SERVICES) {
            const reg = registration(run, T.command, s);
            expect(reg.deleteBeforeReplace, s).toBe(true);
            expect(dependsOn(reg, T.command, `${s}-files`), s).toBe(true);
        }
    });

    it("updates go one member at a time: gateways, control-plane nodes and etcd members each wait for the previous one", () => {
        const chains = [
            ["node-1-etcd", "node-2-etcd", "node-3-etcd"],
            ["node-1-apisix-cp", "node-2-apisix-cp"],
            ["node-4-gateway", "node-5-gateway"],
        ];
        for (const chain of chains)
            chain.forEach((s, i) => {
                const reg = registration(run, T.command, s);
                if (i > 0) expect(dependsOn(reg, T.command, chain[i - 1]), `${s} waits for ${chain[i - 1]}`).toBe(true);
                for (const later of chain.slice(i + 1)) expect(dependsOn(reg, T.command, later), `${s} must not wait for ${later}`).toBe(false);
            });
        // Gateways and the control plane start once etcd is bootstrapped.
        expect(dependsOn(registration(run, T.command, "node-4-gateway"), T.command, "gateway-ha-etcd-bootstrap")).toBe(true);
        expect(dependsOn(registration(run, T.command, "node-1-apisix-cp"), T.command, "gateway-ha-etcd-bootstrap")).toBe(true);
    });

    it("the etcd bootstrap runs on member 1's host, its passwords only inside its secret script", () => {
        const task = cmd(run, "gateway-ha-etcd-bootstrap");
        expect(isSecretWrapper(task.inputs.stdin)).toBe(true);
        expect(stdinOf(task)).toMatch(/tool\(\) \{ docker exec -i -e ETCDCTL_USER 'node-1-etcd' '\/usr\/local\/bin\/etcdctl'/);
        expect((task.inputs.create as string).trimEnd().endsWith("on_host 'node-1'")).toBe(true);
        for (const m of ["node-1-etcd", "node-2-etcd", "node-3-etcd"]) expect(dependsOn(registration(run, T.command, "gateway-ha-etcd-bootstrap"), T.command, m)).toBe(true);
    });

    it("verification runs after every service and task, and checks etcd health and every gateway's status from the balancer", () => {
        const verify = cmd(run, "gateway-ha-ssh-verify");
        const reg = registration(run, T.command, "gateway-ha-ssh-verify");
        for (const s of [...SERVICES, "gateway-ha-etcd-bootstrap"]) expect(dependsOn(reg, T.command, s), s).toBe(true);
        const script = verify.inputs.create as string;
        for (const m of ["node-1-etcd", "node-2-etcd", "node-3-etcd"]) expect(script).toMatch(new RegExp(`docker exec '${m}' '/usr/local/bin/etcdctl' .*'endpoint' 'health'`));
        for (const a of [ADDR(3), ADDR(4)]) expect(script).toContain(`'http://${a}:7085/status/ready'`);
        expect(script.indexOf("on_host 'lb-1'")).toBeGreaterThan(0);
        // It re-runs whenever a service's inputs change: their triggers are its triggers.
        const triggers = verify.inputs.triggers as unknown[];
        for (const s of SERVICES) expect(triggers, s).toContain(triggerOf(run, s));
    });

    it("the offline preview lists each host's files and firewall script, secrets as [secret]", () => {
        const files = renderedFiles(run);
        for (const n of topology.nodes) expect(files.find((f) => f.node === n.name && f.path === "/opt/gateway-ha/firewall.sh")?.content, n.name).toMatch(/^#!\/bin\/sh\n/);
        const key = files.find((f) => f.node === "node-1" && f.path === "/opt/gateway-ha/secrets/node-1-etcd/etc/etcd/pki/member.key");
        expect(key?.content).toBe("[secret]");
        expect(files.find((f) => f.path === "/opt/gateway-ha/env/node-4-gateway.env")?.content).toBe("[secret]");
        expect(files.find((f) => f.node === "node-4" && f.path.endsWith("/conf/config.yaml"))?.content).toMatch(/role: data_plane/);
        expect(scanRun({ resources: [], outputs: { files: { value: files, secret: false } } }, run.generatedSecrets)).toEqual([]);
    });

    it("no secret (the private key, generated passwords and keys) in any plain input or output", () => {
        expect(run.generatedSecrets.length).toBeGreaterThanOrEqual(8);
        expect(scanRun(run, [PRIVATE_KEY, PRIVATE_KEY.split("\n")[1], ...run.generatedSecrets])).toEqual([]);
    });
});

describe("target ssh: restart triggers move only for the services whose inputs changed", () => {
    const SERVICE_NAMES = SERVICES;
    let base: PlatformRun;
    beforeAll(async () => {
        base = await runPlatform(sshConfig(), { stack: STACK, secretKeys: SECRET_KEYS });
    });

    const changed = (a: PlatformRun, b: PlatformRun) => SERVICE_NAMES.filter((s) => triggerOf(a, s) !== triggerOf(b, s)).sort();

    it("the same config gives the same triggers", async () => {
        const again = await runPlatform(sshConfig(), { stack: STACK, secretKeys: SECRET_KEYS });
        expect(changed(base, again)).toEqual([]);
    });

    it("a changed gateway config.yaml (metrics port) moves both gateways' triggers and nothing else's", async () => {
        const other = await runPlatform(sshConfig({ dataPlane: { metricsPort: 9092 } }), { stack: STACK, secretKeys: SECRET_KEYS });
        expect(changed(base, other)).toEqual(["node-4-gateway", "node-5-gateway"]);
    });

    it("a change to one gateway's node (its size) moves only that gateway's trigger", async () => {
        const nodes = NODES.map((n) => (n.name === "node-5" ? { ...n, cpus: 4 } : n));
        const other = await runPlatform(sshConfig({}, {}, nodes), { stack: STACK, secretKeys: SECRET_KEYS });
        expect(changed(base, other)).toEqual(["node-5-gateway"]);
    });

    it("a new gateway image moves the gateways' triggers only", async () => {
        const other = await runPlatform(sshConfig({ dataPlane: { image: "apache/apisix:3.14.0-debian" } }), { stack: STACK, secretKeys: SECRET_KEYS });
        expect(changed(base, other)).toEqual(["node-4-gateway", "node-5-gateway"]);
    });
});

describe("target ssh with the SSH agent", () => {
    let run: PlatformRun;
    beforeAll(async () => {
        const knownHosts = [...KNOWN.slice(0, 5), "[192.168.101.16]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIlb1port2222"];
        const nodes = NODES.map((n) => (n.name === "lb-1" ? { ...n, sshUser: "root", sshPort: 2222 } : n));
        run = await runPlatform(cfg({ target: "ssh", layout: "compact", nodes, ssh: { agent: true, knownHosts } }), { stack: "agent" });
    });

    it("passes no key, checks host keys, and needs SSH_AUTH_SOCK", () => {
        const host = cmd(run, "gateway-ha-ssh-lb-1");
        const create = host.inputs.create as string;
        expect(host.inputs.environment).toEqual({ GATEWAY_HA_KNOWN_HOSTS: expect.stringContaining("[192.168.101.16]:2222") });
        expect(create).toContain("-o StrictHostKeyChecking=yes");
        expect(create).not.toContain("IdentitiesOnly");
        expect(create).toContain('[ -n "${SSH_AUTH_SOCK:-}" ]');
        expect(create).toContain("ssh -p 2222 ");
        expect(create).toContain("'root@192.168.101.16' 'sh -s'");
    });
});

describe("target ssh: validation names the key", () => {
    const base = { target: "ssh", layout: "compact", nodes: NODES, ssh: { privateKey: PRIVATE_KEY, knownHosts: KNOWN } };
    const has = (found: ConfigIssue[], key: string, rule: RegExp) => expect(found).toContainEqual(expect.objectContaining({ key, rule: expect.stringMatching(rule) }));
    const message = (found: ConfigIssue[]) => new ConfigValidationError(found).message;

    it("accepts the example config", () => {
        expect(issues(cfg(base))).toEqual([]);
        expect(issues(cfg({ ...base, ssh: { agent: true, knownHosts: KNOWN } }))).toEqual([]);
    });

    it("every node needs an entry with address and sshUser", () => {
        has(issues(cfg({ ...base, nodes: NODES.slice(0, 5) })), "nodes", /node lb-1 needs an entry in nodes/);
        has(issues(cfg({ ...base, nodes: NODES.map((n, i) => (i === 2 ? { name: n.name, sshUser: "deploy" } : n)) })), "nodes[2].address", /needs the address of its host/);
        has(issues(cfg({ ...base, nodes: NODES.map((n, i) => (i === 3 ? { name: n.name, address: n.address } : n)) })), "nodes[3].sshUser", /passwordless sudo/);
    });

    it("a key or the agent, not neither or both; a key must look like one", () => {
        has(issues(cfg({ ...base, ssh: { knownHosts: KNOWN } })), "ssh.privateKey", /needs a way to log in/);
        has(issues(cfg({ ...base, ssh: { privateKey: PRIVATE_KEY, agent: true, knownHosts: KNOWN } })), "ssh.agent", /choose one/);
        const bad = issues(cfg({ ...base, ssh: { privateKey: "hunter2-not-a-key", knownHosts: KNOWN } }));
        has(bad, "ssh.privateKey", /OpenSSH or PEM/);
        // Secret values are never echoed in messages.
        expect(new ConfigValidationError(bad).message).not.toContain("hunter2");
    });

    it("pinned host keys are required: the remote commands would accept any host key without them", () => {
        for (const ssh of [{ privateKey: PRIVATE_KEY }, { agent: true, knownHosts: [] }]) {
            const found = issues(cfg({ ...base, ssh }));
            has(found, "ssh.knownHosts", /required on target ssh: every node's pinned host key.*ssh-keyscan -t ed25519/);
            // Reported once, not again per node.
            expect(found.filter((i) => i.key === "ssh.knownHosts")).toHaveLength(1);
        }
        expect(message(issues(cfg({ ...base, ssh: { privateKey: PRIVATE_KEY } })))).toContain("gateway-ha:ssh.knownHosts = (unset): required on target ssh");
    });

    it("every node needs a key line (with its port), naming the node that lacks one", () => {
        const missing = issues(cfg({ ...base, ssh: { privateKey: PRIVATE_KEY, knownHosts: KNOWN.slice(0, 5) } }));
        expect(missing.filter((i) => i.key === "ssh.knownHosts")).toHaveLength(1);
        expect(message(missing)).toContain(
            'gateway-ha:ssh.knownHosts = "no key for 192.168.101.16": every node needs its pinned host key: add `ssh-keyscan -t ed25519 192.168.101.16` for node lb-1',
        );
        const portNodes = NODES.map((n) => (n.name === "lb-1" ? { ...n, sshPort: 2222 } : n));
        expect(message(issues(cfg({ ...base, nodes: portNodes })))).toContain('"no key for [192.168.101.16]:2222"');
        has(issues(cfg({ ...base, nodes: portNodes })), "ssh.knownHosts", /ssh-keyscan -t ed25519 -p 2222 192\.168\.101\.16` for node lb-1/);
        const withPort = [...KNOWN.slice(0, 5), `[192.168.101.16]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIlb1`];
        expect(issues(cfg({ ...base, nodes: portNodes, ssh: { privateKey: PRIVATE_KEY, knownHosts: withPort } }))).toEqual([]);
    });

    it("known_hosts forms: comma lists, wildcards and hashed names pin; a revoked key or a CA line does not", () => {
        const hashed = (host: string, salt = Buffer.from("0123456789abcdefghij")) => `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(host).digest("base64")}`;
        const lb = "AAAAC3NzaC1lZDI1NTE5AAAAIlb1key";
        const ok = (line: string) => expect(issues(cfg({ ...base, ssh: { privateKey: PRIVATE_KEY, knownHosts: [...KNOWN.slice(0, 5), line] } })), line).toEqual([]);
        ok(`lb-1.example,192.168.101.16 ssh-ed25519 ${lb}`);
        ok(`${hashed("192.168.101.16")} ssh-ed25519 ${lb}`);
        ok(`192.168.101.1? ssh-ed25519 ${lb}`);
        const excluded = issues(cfg({ ...base, ssh: { privateKey: PRIVATE_KEY, knownHosts: [...KNOWN.slice(0, 5), `192.168.101.*,!192.168.101.16 ssh-ed25519 ${lb}`] } }));
        expect(message(excluded)).toContain('"no key for 192.168.101.16"');
        const revoked = issues(cfg({ ...base, ssh: { privateKey: PRIVATE_KEY, knownHosts: [...KNOWN.slice(0, 5), `192.168.101.16 ssh-ed25519 ${lb}`, `@revoked * ssh-ed25519 ${lb}`] } }));
        expect(message(revoked)).toContain('"no key for 192.168.101.16"');
        const ca = issues(cfg({ ...base, ssh: { privateKey: PRIVATE_KEY, knownHosts: [...KNOWN, `@cert-authority *.example ssh-ed25519 ${lb}`] } }));
        has(ca, "ssh.knownHosts[6]", /@cert-authority line pins no host/);
        has(issues(cfg({ ...base, ssh: { privateKey: PRIVATE_KEY, knownHosts: [...KNOWN, "not a key line"] } })), "ssh.knownHosts[6]", /known_hosts line/);
    });

    it("the pinned key is in authorized_keys form, Ed25519 preferred over ECDSA and RSA", () => {
        const lines = [
            "192.168.101.16 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQrsa",
            "192.168.101.16 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYecdsa",
            "192.168.101.16 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIed25519 a comment",
            "[192.168.101.16]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQport",
        ];
        expect(pinnedHostKey(lines, "192.168.101.16", 22)).toBe("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIed25519");
        expect(pinnedHostKey(lines.slice(0, 2), "192.168.101.16", 22)).toBe("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYecdsa");
        expect(pinnedHostKey(lines, "192.168.101.16", 2222)).toBe("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQport");
        expect(pinnedHostKey(lines, "192.168.101.17", 22)).toBeUndefined();
    });

    it("other targets' settings are refused on ssh, and ssh's on other targets", () => {
        has(issues(cfg({ ...base, docker: { subnet: "10.1.0.0/24" } })), "docker", /only read by target docker/);
        has(issues(cfg({ ...base, aws: { region: "eu-west-1" } })), "aws", /only read by target aws/);
        const onDocker = issues(cfg({ ssh: { privateKey: PRIVATE_KEY } }));
        has(onDocker, "ssh", /only read by target ssh/);
        expect(new ConfigValidationError(onDocker).message).not.toContain("PRIVATE KEY");
    });

    it("firewall sources must be CIDRs; the control plane and metrics never open to the internet", () => {
        has(issues(cfg({ ...base, ssh: { ...base.ssh, firewall: { operatorCidrs: ["0.0.0.0/0"] } } })), "ssh.firewall.operatorCidrs[0]", /internet/);
        has(issues(cfg({ ...base, ssh: { ...base.ssh, firewall: { monitoringCidrs: ["10.1.2.3/8"] } } })), "ssh.firewall.monitoringCidrs[0]", /CIDR/);
    });
});
