// Target ssh under the mock engine: the remote commands and how they reach each host (pinned host
// key, the configured key or the agent, the waiting), the files and run steps per service, restart
// triggers that move only for the services whose inputs changed, the one-at-a-time chains per role,
// the verification per host, the config checks, and where secrets go.
import { createHash, createHmac } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { filesInstalled, q, remoteScript, renderHostPurge, renderRemoveScript, sysctlsInstalled } from "../../components/render/ssh";
import { renderSshToolPrelude, SSH_KEY_ENV, SSH_KNOWN_HOSTS_ENV } from "../../components/render/sshStep";
import { etcdctlConnectionArgs, etcdInitialCluster, etcdMemberArgs } from "../../components/render/etcd";
import { GATEWAY_BACKENDS, STOP_MARGIN_SECONDS, controlPlaneBackend, renderBalancerDrainScript, renderBalancerReturnScript, rolloutPlan } from "../../components/render/rollout";
import { controlPlanePorts } from "../../components/topology";
import { ConfigValidationError, loadPlatform, type ConfigIssue } from "../../components/config";
import { pinnedHostKey } from "../../components/config/knownHosts";
import { renderedFiles, stagedContents } from "../../scripts/preview-offline";
import { isSecretWrapper, unwrapSecrets, type RecordedResource } from "../../scripts/lib/mockEngine";
import { PROJECT, T, cfg, dependsOn, find, ofType, registration, runPlatform, scanRun, type PlatformRun } from "./helpers";

const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAmockmockmockSECRETKEYBODY\n-----END OPENSSH PRIVATE KEY-----\n";
const ADDR = (i: number) => `192.168.101.${11 + i}`;
const NODES = ["node-1", "node-2", "node-3", "node-4", "node-5", "lb-1"].map((name, i) => ({ name, address: ADDR(i), sshUser: "deploy" }));
const HOST_KEY = (node: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${node.replace("-", "")}mockhostkey`;
const KNOWN = NODES.map((n) => `${n.address} ${HOST_KEY(n.name)}`);
const STACK = "onprem";
const SECRET_KEYS = ["gateway-ha:ssh"];

const sshConfig = (extra: Record<string, unknown> = {}, ssh: Record<string, unknown> = {}, nodes: unknown[] = NODES) =>
    cfg({ target: "ssh", layout: "compact", nodes, ssh: { privateKey: PRIVATE_KEY, knownHosts: KNOWN, firewall: { operatorCidrs: ["192.168.100.0/24"] }, ...ssh }, ...extra });

const cmd = (run: PlatformRun, name: string) => find(run, T.remoteCommand, name);
const stdinOf = (r: RecordedResource) => unwrapSecrets(r.inputs.stdin) as string;
interface Connection {
    host: string;
    port: number;
    user: string;
    hostKey: string;
    privateKey?: string;
    agentSocketPath?: string;
    perDialTimeout: number;
    dialErrorLimit: number;
}
const connectionOf = (r: RecordedResource) => unwrapSecrets(r.inputs.connection) as Connection;
const triggerOf = (run: PlatformRun, name: string) => {
    const [t, ...rest] = cmd(run, name).inputs.triggers as unknown[];
    expect(rest).toEqual([]);
    expect(typeof t, `${name}'s trigger is plain, for review`).toBe("string");
    return t as string;
};
/** The files a files step installs: path → content, as its copies staged them. */
const installedFiles = (run: PlatformRun, r: RecordedResource) => filesInstalled(stdinOf(r), stagedContents(run.resources, true));
/** The copies that stage a service's files, by the path each is installed at. */
const copiesOf = (run: PlatformRun, svc: string) => {
    const script = stdinOf(cmd(run, `${svc}-files`));
    return new Map(
        [...script.matchAll(/^(?:\[ -e '[^']+' \] \|\| )?gateway_ha_install '([^']+)' '([^']+)' \d+ '([^']+)'(?: \d+ \d+)?$/gm)].map((m) => {
            const copy = find(run, T.copyToRemote, m[3]);
            expect(copy.inputs.remotePath, m[3]).toBe(m[1]);
            return [m[2], copy] as const;
        }),
    );
};
const ETCD_MEMBERS = ["node-1-etcd", "node-2-etcd", "node-3-etcd"];
const SERVICES = ["node-1-etcd", "node-2-etcd", "node-3-etcd", "node-1-apisix-cp", "node-2-apisix-cp", "node-4-gateway", "node-5-gateway", "lb-1-gateway-lb", "lb-1-control-plane-lb"];
/** Each replica behind haproxy and the balancer it returns to (a step on the balancer's host). */
const RETURNS = [
    ["node-1-apisix-cp", "lb-1-control-plane-lb"],
    ["node-2-apisix-cp", "lb-1-control-plane-lb"],
    ["node-4-gateway", "lb-1-gateway-lb"],
    ["node-5-gateway", "lb-1-gateway-lb"],
] as const;
/** The node a service or step runs on: its name's prefix (a return step's: its balancer's). */
const nodeOf = (step: string) => NODES.find((n) => step.replace(/^.*-in-/, "").startsWith(`${n.name}-`))!;

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

    it("creates only remote commands and copies (and etcd's records, membership steps and bootstrap on the deployer), no Docker or cloud resource: one host step per node, copies, a files and a run step per service, a return step per replica and balancer, a verify step per host", () => {
        expect(run.resources.filter((r) => r.type.startsWith("docker:") || r.type.startsWith("aws:"))).toEqual([]);
        // On the deployer: the etcd guards and founders record, each member's join, rollout and gate, and the bootstrap.
        expect(ofType(run, T.command).map((c) => c.name).sort()).toEqual(
            [
                "gateway-ha-etcd-ca-phase",
                "gateway-ha-etcd-founders",
                "gateway-ha-etcd-rotation-guard",
                "gateway-ha-etcd-bootstrap",
                ...ETCD_MEMBERS.flatMap((m) => [`${m}-join`, `${m}-rollout`, `${m}-gate`]),
            ].sort(),
        );
        // A copy per file: the Compose file, each rendered file, the env file when there is one.
        for (const s of SERVICES) expect(ofType(run, T.copyToRemote).filter((c) => c.name.startsWith(`${s}-copy-`)).length, s).toBe(copiesOf(run, s).size);
        expect(ofType(run, T.copyToRemote).map((c) => c.name).sort()).toEqual(SERVICES.flatMap((s) => [...copiesOf(run, s).values()].map((c) => c.name)).sort());
        expect(ofType(run, T.remoteCommand).map((c) => c.name).sort()).toEqual(
            [
                ...topology.nodes.flatMap((n) => [`gateway-ha-ssh-${n.name}`, `gateway-ha-ssh-purge-${n.name}`, `gateway-ha-ssh-verify-${n.name}`]),
                ...SERVICES,
                ...SERVICES.map((s) => `${s}-files`),
                ...RETURNS.map(([s, lb]) => `${s}-in-${lb}`),
                "lb-1-gateway-lb-reload",
                "lb-1-control-plane-lb-reload",
            ].sort(),
        );
        expect(run.outputs.target.value).toBe("ssh");
        expect(run.outputs.gatewayUrl.value).toBe("http://192.168.101.16:80");
        expect(run.outputs.etcdEndpoints.value).toEqual([0, 1, 2].map((i) => `https://${ADDR(i)}:2379`));
    });

    it("every step and copy connects to its node as sshUser, pins the node's key from ssh.knownHosts, logs in with the configured key; steps run `sudo -n sh -s`", () => {
        for (const r of ofType(run, T.copyToRemote)) {
            expect(isSecretWrapper(r.inputs.connection), r.name).toBe(true);
            expect(connectionOf(r), r.name).toMatchObject({ host: nodeOf(r.name).address, port: 22, user: "deploy", hostKey: HOST_KEY(nodeOf(r.name).name), privateKey: PRIVATE_KEY, perDialTimeout: 10 });
        }
        for (const r of ofType(run, T.remoteCommand)) {
            const node = r.name.startsWith("gateway-ha-ssh-") ? NODES.find((n) => r.name.endsWith(`-${n.name}`))! : nodeOf(r.name);
            // The SDK keeps the whole connection secret; the key is in it, never anywhere plain.
            expect(isSecretWrapper(r.inputs.connection), r.name).toBe(true);
            const c = connectionOf(r);
            expect(c, r.name).toMatchObject({ host: node.address, port: 22, user: "deploy", hostKey: HOST_KEY(node.name), privateKey: PRIVATE_KEY, perDialTimeout: 10 });
            expect(c.agentSocketPath, r.name).toBeUndefined();
            expect(r.inputs.create, r.name).toBe("sudo -n sh -s");
            expect(r.inputs.addPreviousOutputInEnv, r.name).toBe(false);
            expect(r.inputs.environment, r.name).toBeUndefined();
        }
    });

    it("host steps wait for SSH (waitSeconds / connectTimeoutSeconds dial attempts); later steps keep the provider's 10", () => {
        for (const n of NODES) {
            const host = cmd(run, `gateway-ha-ssh-${n.name}`);
            expect(connectionOf(host).dialErrorLimit).toBe(30);
            const script = stdinOf(host);
            expect(script).toContain("gateway_ha_install_docker");
            expect(script).toContain("sh /opt/gateway-ha/firewall.sh");
            expect(script).toContain(`SELinux is enforcing on ${n.name}`);
            expect(host.inputs.delete).toBeUndefined();
        }
        for (const s of SERVICES) for (const step of [s, `${s}-files`]) expect(connectionOf(cmd(run, step)).dialErrorLimit, step).toBe(10);
        for (const c of ofType(run, T.copyToRemote)) expect(connectionOf(c).dialErrorLimit, c.name).toBe(10);
    });

    it("each host's firewall script opens that node's ports from the matrix, to the matrix's sources", () => {
        const rich = (name: string) => [...stdinOf(cmd(run, `gateway-ha-ssh-${name}`)).matchAll(/^rule family="ipv4" source address="([^"]+)" port port="(\d+)" protocol="tcp" accept$/gm)].map((m) => `${m[2]} from ${m[1]}`);
        // etcd's client port from every node that uses etcd (members, control plane, gateways), its peer port from members only.
        expect(rich("node-3").sort()).toEqual([...[0, 1, 2, 3, 4].map((i) => `2379 from ${ADDR(i)}`), ...[0, 1, 2].map((i) => `2380 from ${ADDR(i)}`)].sort());
        expect(rich("node-4").sort()).toEqual(["443 from 192.168.101.16", "7085 from 192.168.101.16", "80 from 192.168.101.16"]);
        expect(rich("lb-1").sort()).toEqual(["443 from 0.0.0.0/0", "80 from 0.0.0.0/0", "9180 from 192.168.100.0/24"].sort());
    });

    it("copies stage the service's own Compose file (host networking, its image) and its files; files steps install them as root; secrets only in secret copies", () => {
        const files = installedFiles(run, cmd(run, "node-4-gateway-files"));
        const compose = parse(files.get("/opt/gateway-ha/services/node-4-gateway/compose.yaml")!) as { services: Record<string, Record<string, unknown>> };
        expect(Object.keys(compose.services)).toEqual(["node-4-gateway"]);
        expect(compose.services["node-4-gateway"]).toMatchObject({ image: "apache/apisix:3.14.1-debian", network_mode: "host", restart: "unless-stopped", labels: { "gateway-ha.node": "node-4", "gateway-ha.role": "data-plane", "gateway-ha.service": "gateway" } });
        expect(files.get("/opt/gateway-ha/files/node-4-gateway/usr/local/apisix/conf/config.yaml")).toMatch(/role: data_plane/);
        // APISIX's secrets are files its user (636) alone reads, never an env file; other files root's.
        expect([...files.keys()].some((p) => p.startsWith("/opt/gateway-ha/env/"))).toBe(false);
        expect(files.get("/opt/gateway-ha/secrets/node-4-gateway/run/gateway-ha/env/GATEWAY_HA_ETCD_PASSWORD")).toMatch(/^mockpw-gateway-ha-etcd-gateway-password/);
        const installs = stdinOf(cmd(run, "node-4-gateway-files"));
        expect(installs).toMatch(/^gateway_ha_install '[^']+' '\/opt\/gateway-ha\/secrets\/node-4-gateway\/run\/gateway-ha\/env\/GATEWAY_HA_ETCD_PASSWORD' 0400 '[^']+' 636 636$/m);
        expect(installs).toMatch(/^gateway_ha_install '[^']+' '\/opt\/gateway-ha\/secrets\/node-4-gateway\/usr\/local\/apisix\/conf\/etcd-pki\/client\.key' 0400 '[^']+' 636 636$/m);
        expect(installs).toMatch(/^gateway_ha_install '[^']+' '\/opt\/gateway-ha\/files\/node-4-gateway\/usr\/local\/apisix\/conf\/config\.yaml' 0644 '[^']+'$/m);
        expect(installs).toContain('install -m "$3" -o "${5:-0}" -g "${6:-0}" "$1" "$2.new"');
        // Each copy is secret exactly when its file is: the env file and keys; the Compose file and config stay plain for review.
        const secretCopies = (svc: string) => [...copiesOf(run, svc)].filter(([, c]) => isSecretWrapper(c.inputs.source)).map(([path]) => path);
        for (const s of SERVICES)
            expect(secretCopies(s), s).toEqual([...copiesOf(run, s).keys()].filter((p) => p.startsWith("/opt/gateway-ha/secrets/") || p.startsWith("/opt/gateway-ha/env/")));
        expect(secretCopies("node-4-gateway").sort()).toEqual([
            "/opt/gateway-ha/secrets/node-4-gateway/run/gateway-ha/env/GATEWAY_HA_ETCD_PASSWORD",
            "/opt/gateway-ha/secrets/node-4-gateway/usr/local/apisix/conf/etcd-pki/client.key",
        ]);
        expect(secretCopies("node-1-etcd")).toEqual(["/opt/gateway-ha/secrets/node-1-etcd/etc/etcd/pki/member.key"]);
        expect(secretCopies("lb-1-gateway-lb")).toEqual([]);
        // The install scripts name staged paths only: always plain, so `pulumi preview` shows which files change.
        for (const s of SERVICES) expect(isSecretWrapper(cmd(run, `${s}-files`).inputs.stdin), s).toBe(false);
        expect(stdinOf(cmd(run, "node-1-etcd-files"))).toContain("mkdir -p '/var/lib/gateway-ha/volumes/node-1-etcd-data/data'");
        for (const s of SERVICES) {
            const step = registration(run, T.remoteCommand, `${s}-files`);
            expect(dependsOn(step, T.remoteCommand, `gateway-ha-ssh-${nodeOf(s).name}`), s).toBe(true);
            for (const c of copiesOf(run, s).values()) {
                expect(dependsOn(step, T.copyToRemote, c.name), `${s} installs after ${c.name}`).toBe(true);
                expect(dependsOn(registration(run, T.copyToRemote, c.name), T.remoteCommand, `gateway-ha-ssh-${nodeOf(s).name}`), `${c.name} after its host step`).toBe(true);
            }
        }
    });

    it("staged names are keyed digests of destination and content: one per file, under the node's staging directory, never a plain hash of a secret", () => {
        const copies = ofType(run, T.copyToRemote);
        const paths = copies.map((c) => c.inputs.remotePath as string);
        expect(new Set(paths).size).toBe(paths.length);
        for (const c of copies) expect(c.inputs.remotePath, c.name).toMatch(new RegExp(`^/var/lib/gateway-ha/staging/${nodeOf(c.name).name}-[a-z-]+\\.[0-9a-f]{20}$`));
        const staged = stagedContents(run.resources, true);
        const plainHashes = [...staged.values()].map((c) => createHash("sha256").update(c).digest("hex").slice(0, 20));
        for (const p of paths) expect(plainHashes).not.toContain(p.split(".").pop());
    });

    it("run steps restart the service and wait for its health; delete removes the container with a command line of its own, before a replacement starts", () => {
        const gw = cmd(run, "node-4-gateway");
        expect(stdinOf(gw)).toContain("docker compose -f '/opt/gateway-ha/services/node-4-gateway/compose.yaml' up -d --force-recreate --no-deps");
        expect(stdinOf(gw)).toContain("want=healthy");
        // The provider hands a delete the create's stdin (the run script): the delete must not read it.
        // A graceful stop: APISIX's QUIT, killed after its shutdown timeout and a margin.
        const { spec } = loadPlatform(config, { project: PROJECT, stack: STACK });
        expect(gw.inputs.delete).toBe(`sudo -n sh -c ${q(renderRemoveScript("node-4-gateway", { signal: "QUIT", graceSeconds: spec.dataPlane.shutdownTimeoutSeconds + STOP_MARGIN_SECONDS }))}`);
        for (const s of SERVICES) {
            const reg = registration(run, T.remoteCommand, s);
            expect(reg.deleteBeforeReplace, s).toBe(true);
            expect(dependsOn(reg, T.remoteCommand, `${s}-files`), s).toBe(true);
        }
    });

    it("updates go one member at a time: etcd members each wait for the previous one; gateways and control-plane nodes for the previous one back in its balancer", () => {
        const chains = [
            ["node-1-etcd", "node-2-etcd", "node-3-etcd"],
            ["node-1-apisix-cp", "node-2-apisix-cp"],
            ["node-4-gateway", "node-5-gateway"],
        ];
        const waitedFor = (s: string) => RETURNS.find(([r]) => r === s)?.join("-in-") ?? s;
        for (const chain of chains)
            chain.forEach((s, i) => {
                const reg = registration(run, T.remoteCommand, s);
                if (i > 0) expect(dependsOn(reg, T.remoteCommand, waitedFor(chain[i - 1])), `${s} waits for ${waitedFor(chain[i - 1])}`).toBe(true);
                for (const later of chain.slice(i + 1)) expect(dependsOn(reg, T.remoteCommand, waitedFor(later)), `${s} must not wait for ${later}`).toBe(false);
            });
        // Gateways and the control plane start once etcd is bootstrapped.
        expect(dependsOn(registration(run, T.remoteCommand, "node-4-gateway"), T.command, "gateway-ha-etcd-bootstrap")).toBe(true);
        expect(dependsOn(registration(run, T.remoteCommand, "node-1-apisix-cp"), T.command, "gateway-ha-etcd-bootstrap")).toBe(true);
    });

    it("a replica behind haproxy: a step on the balancer's host puts it back once its run step is done, and its deletion drains it there first (the engine deletes it before the run step it depends on)", () => {
        const { spec, topology } = loadPlatform(config, { project: PROJECT, stack: STACK });
        for (const [svc, lb] of RETURNS) {
            const step = cmd(run, `${svc}-in-${lb}`);
            expect(connectionOf(step).host, `${svc} returns on the balancer's host`).toBe(ADDR(5));
            const node = svc.replace(/-(gateway|apisix-cp)$/, "");
            const gateway = lb.includes("gateway");
            const rollout = rolloutPlan(spec, topology, gateway ? "gateway" : "control-plane", {
                backends: gateway ? [...GATEWAY_BACKENDS] : controlPlanePorts(spec).map((p) => controlPlaneBackend(p.service)),
                stopSignal: "QUIT",
                shutdownSeconds: spec.dataPlane.shutdownTimeoutSeconds,
            });
            expect(stdinOf(step)).toBe(remoteScript(renderBalancerReturnScript(rollout, node, lb)));
            expect(step.inputs.delete).toBe(`sudo -n sh -c ${q(remoteScript(renderBalancerDrainScript(rollout, node, lb)))}`);
            const reg = registration(run, T.remoteCommand, step.name);
            expect(dependsOn(reg, T.remoteCommand, svc)).toBe(true);
            // Its trigger is the run step's ID: a new run step (a restart) means a new return, and the old one's drain first.
            expect((step.inputs.triggers as unknown[]).length).toBe(1);
        }
        // Balancers and etcd have none.
        expect(ofType(run, T.remoteCommand).filter((c) => /^(lb-1|node-\d-etcd).*-in-/.test(c.name))).toEqual([]);
    });

    it("a purge step per node, off by default: no delete command, and every files step and task on the node depends on it (a destroy deletes it last)", async () => {
        for (const n of topology.nodes) {
            const purge = cmd(run, `gateway-ha-ssh-purge-${n.name}`);
            expect(purge.inputs.delete, n.name).toBeUndefined();
            expect(connectionOf(purge).host).toBe(n.address);
        }
        for (const s of SERVICES) expect(dependsOn(registration(run, T.remoteCommand, `${s}-files`), T.remoteCommand, `gateway-ha-ssh-purge-${nodeOf(s).name}`), s).toBe(true);
        // On: its deletion purges, data kept while protectData is on.
        for (const protectData of [true, false]) {
            const on = await runPlatform(sshConfig({ protectData }, { purgeOnDestroy: true }), { stack: STACK, secretKeys: SECRET_KEYS });
            expect(cmd(on, "gateway-ha-ssh-purge-node-4").inputs.delete).toBe(`sudo -n sh -c ${q(renderHostPurge({ node: "node-4", stack: STACK, keepData: protectData }))}`);
        }
    });

    it("etcd's steps run on the deployer and reach the first member host whose etcd runs, over ssh with the pinned keys and the configured key; passwords only in their secret environment", () => {
        const { spec, topology } = loadPlatform(config, { project: PROJECT, stack: STACK });
        for (const name of ["gateway-ha-etcd-bootstrap", ...ETCD_MEMBERS.flatMap((m) => [`${m}-join`, `${m}-rollout`, `${m}-gate`])]) {
            const step = find(run, T.command, name);
            const script = step.inputs.create as string;
            const prelude = renderSshToolPrelude({
                candidates: ETCD_MEMBERS.map((m, i) => ({ node: `node-${i + 1}`, address: ADDR(i), port: 22, user: "deploy", container: m })),
                toolArgv: ["/usr/local/bin/etcdctl", ...etcdctlConnectionArgs(spec, topology).filter((a) => name.endsWith("bootstrap") || !a.startsWith("--endpoints="))],
                toolEnv: name.endsWith("bootstrap") ? ["ETCDCTL_USER"] : ["ETCDCTL_USER", "ETCDCTL_ENDPOINTS"],
                connectTimeoutSeconds: spec.ssh.connectTimeoutSeconds,
            });
            expect(script.startsWith(prelude), name).toBe(true);
            const raw = step.inputs.environment as Record<string, unknown>;
            const env = unwrapSecrets(raw) as Record<string, string>;
            expect(env[SSH_KNOWN_HOSTS_ENV], name).toBe([0, 1, 2].map((i) => `${ADDR(i)} ${HOST_KEY(`node-${i + 1}`)}`).join("\n"));
            expect(env[SSH_KEY_ENV], name).toBe(PRIVATE_KEY);
            // The key and the passwords are secrets: the whole environment, or the value itself.
            for (const k of [SSH_KEY_ENV, ...(name.endsWith("-rollout") ? [] : ["ETCD_ROOT_PASSWORD"])]) expect(isSecretWrapper(raw) || isSecretWrapper(raw[k]), `${name} ${k}`).toBe(true);
        }
        // The bootstrap after every member's gate; each member's service after its join (its flags come from the join's record).
        for (const m of ETCD_MEMBERS) {
            expect(dependsOn(registration(run, T.command, "gateway-ha-etcd-bootstrap"), T.command, `${m}-gate`), m).toBe(true);
            expect(dependsOn(registration(run, T.remoteCommand, m), T.command, `${m}-join`), m).toBe(true);
            expect(dependsOn(registration(run, T.command, `${m}-gate`), T.remoteCommand, m), m).toBe(true);
        }
    });

    it("an etcd member's Compose command is its join step's record: a founder of the first deployment's cluster, started without waiting for health", () => {
        const { spec, topology } = loadPlatform(config, { project: PROJECT, stack: STACK });
        for (const [i, m] of ETCD_MEMBERS.entries()) {
            const compose = parse(installedFiles(run, cmd(run, `${m}-files`)).get(`/opt/gateway-ha/services/${m}/compose.yaml`)!) as { services: Record<string, { command: string[] }> };
            const command = compose.services[m].command;
            expect(command).toContain("--initial-cluster-state=new");
            expect(command).toContain(`--initial-cluster=${etcdInitialCluster(spec, topology)}`);
            // The flags stacks deployed before membership had, from the plan: their members keep running.
            expect(command).toEqual(["/usr/local/bin/etcd", ...etcdMemberArgs(spec, topology, i)]);
            // A learner is not healthy until its gate promotes it: the run step waits for running only.
            expect(stdinOf(cmd(run, m)), m).toContain("want=running");
        }
    });

    it("a consumer password rotation: the revoke runs on the deployer after every consumer's run and return steps, before verification; none before the first rotation", async () => {
        expect(run.resources.some((r) => r.name.includes("revoke"))).toBe(false);
        const rotated = await runPlatform(sshConfig({ etcd: { consumerPasswordRotation: 1 } }), { stack: STACK, secretKeys: SECRET_KEYS });
        // On the deployer, through any member's host, like etcd's other steps.
        const revoke = find(rotated, T.command, "gateway-ha-etcd-revoke-previous-users");
        expect(revoke.inputs.create as string).toContain("revoke 'control-plane' 'control-plane-alt'");
        const env = revoke.inputs.environment as Record<string, unknown>;
        expect(isSecretWrapper(env) || isSecretWrapper(env.ETCD_ROOT_PASSWORD)).toBe(true);
        const reg = registration(rotated, T.command, "gateway-ha-etcd-revoke-previous-users");
        for (const s of ["node-1-apisix-cp", "node-2-apisix-cp", "node-4-gateway", "node-5-gateway"]) expect(dependsOn(reg, T.remoteCommand, s), s).toBe(true);
        for (const [svc, lb] of RETURNS) expect(dependsOn(reg, T.remoteCommand, `${svc}-in-${lb}`), svc).toBe(true);
        expect(dependsOn(registration(rotated, T.remoteCommand, "gateway-ha-ssh-verify-node-4"), T.command, "gateway-ha-etcd-revoke-previous-users")).toBe(true);
    });

    it("verification runs on each host after every service and task: its health checks, and from the balancer every gateway's status and the balancer forwarding", () => {
        for (const n of NODES) {
            const reg = registration(run, T.remoteCommand, `gateway-ha-ssh-verify-${n.name}`);
            for (const s of SERVICES) expect(dependsOn(reg, T.remoteCommand, s), `${n.name} after ${s}`).toBe(true);
            for (const s of ["gateway-ha-etcd-bootstrap", ...ETCD_MEMBERS.map((m) => `${m}-gate`)]) expect(dependsOn(reg, T.command, s), `${n.name} after ${s}`).toBe(true);
            const verify = cmd(run, `gateway-ha-ssh-verify-${n.name}`);
            expect(connectionOf(verify).host).toBe(n.address);
            // It re-runs whenever any service's inputs change: their triggers are its triggers.
            const triggers = verify.inputs.triggers as unknown[];
            for (const s of SERVICES) expect(triggers, s).toContain(triggerOf(run, s));
        }
        const script = (node: string) => stdinOf(cmd(run, `gateway-ha-ssh-verify-${node}`));
        for (const [i, m] of ["node-1-etcd", "node-2-etcd", "node-3-etcd"].entries()) expect(script(`node-${i + 1}`)).toMatch(new RegExp(`docker exec '${m}' '/usr/local/bin/etcdctl' .*'endpoint' 'health'`));
        expect(script("node-4")).toContain("docker exec 'node-4-gateway' ");
        expect(script("node-4")).not.toContain("node-5-gateway");
        for (const a of [ADDR(3), ADDR(4)]) expect(script("lb-1")).toContain(`curl -fsS -o /dev/null --max-time 5 'http://${a}:7085/status/ready'`);
        expect(script("lb-1")).toContain("'http://127.0.0.1:80/'");
        // Gateway hosts reach no other gateway's status port (the firewall opens it to the balancer only).
        for (const n of ["node-1", "node-4"]) expect(script(n)).not.toMatch(/^(curl|code=)/m);
    });

    it("the offline preview lists each host's files and firewall script, secrets as [secret]", () => {
        const files = renderedFiles(run);
        for (const n of topology.nodes) expect(files.find((f) => f.node === n.name && f.path === "/opt/gateway-ha/firewall.sh")?.content, n.name).toMatch(/^#!\/bin\/sh\n/);
        const key = files.find((f) => f.node === "node-1" && f.path === "/opt/gateway-ha/secrets/node-1-etcd/etc/etcd/pki/member.key");
        expect(key?.content).toBe("[secret]");
        expect(files.find((f) => f.path === "/opt/gateway-ha/secrets/node-4-gateway/run/gateway-ha/env/GATEWAY_HA_ETCD_PASSWORD")?.content).toBe("[secret]");
        expect(files.find((f) => f.node === "node-4" && f.path.endsWith("/conf/config.yaml"))?.content).toMatch(/role: data_plane/);
        expect(files.find((f) => f.node === "lb-1" && f.path === "/opt/gateway-ha/services/lb-1-gateway-lb/compose.yaml")).toBeDefined();
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

    it("a balancer health-check change moves no trigger: the balancers' files step installs nothing over the running file, their reload steps deliver it (checked, in place, signalled)", async () => {
        const other = await runPlatform(sshConfig({ loadBalancer: { healthCheck: { rise: 3 } } }), { stack: STACK, secretKeys: SECRET_KEYS });
        expect(changed(base, other)).toEqual([]);
        for (const [lb, file, check, signal] of [
            ["lb-1-gateway-lb", "/usr/local/etc/haproxy/gateway-lb.cfg", "'haproxy' '-c' '-q' '-f'", "USR2"],
            ["lb-1-control-plane-lb", "/usr/local/etc/haproxy/control-plane-lb.cfg", "'haproxy' '-c' '-q' '-f'", "USR2"],
        ]) {
            const reload = stdinOf(cmd(other, `${lb}-reload`));
            expect(reload).not.toBe(stdinOf(cmd(base, `${lb}-reload`)));
            expect(reload).toContain(`docker exec '${lb}' ${check} '${file}.next'`);
            expect(reload).toContain(`> '/opt/gateway-ha/files/${lb}${file}'`);
            expect(reload).toContain(`docker kill --signal ${signal} '${lb}'`);
            // Installed by the files step only when absent (a first deployment).
            expect(stdinOf(cmd(other, `${lb}-files`))).toMatch(new RegExp(`^\\[ -e '/opt/gateway-ha/files/${lb}${file.replace(/\./g, "\\.")}' \\] \\|\\| gateway_ha_install `, "m"));
            // After the replicas it balances, and again whenever its own service is replaced.
            const reg = registration(other, T.remoteCommand, `${lb}-reload`);
            for (const [replica] of RETURNS.filter(([, b]) => b === lb)) expect(dependsOn(reg, T.remoteCommand, `${replica}-in-${lb}`), replica).toBe(true);
            expect(cmd(other, `${lb}-reload`).inputs.triggers).toEqual([`${lb}-id`]);
        }
    });

    it("a new gateway image moves the gateways' triggers only", async () => {
        const other = await runPlatform(sshConfig({ dataPlane: { image: "apache/apisix:3.14.0-debian" } }), { stack: STACK, secretKeys: SECRET_KEYS });
        expect(changed(base, other)).toEqual(["node-4-gateway", "node-5-gateway"]);
    });
});

describe("target ssh with the SSH agent, a root login on another port, and other waiting", () => {
    const LB_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIlb1port2222";
    let run: PlatformRun;
    beforeAll(async () => {
        const knownHosts = [...KNOWN.slice(0, 5), `[192.168.101.16]:2222 ${LB_KEY}`];
        const nodes = NODES.map((n) => (n.name === "lb-1" ? { ...n, sshUser: "root", sshPort: 2222 } : n));
        const ssh = { agent: true, knownHosts, waitSeconds: 60, connectTimeoutSeconds: 7, firewall: { operatorCidrs: ["192.168.100.0/24"] } };
        run = await runPlatform(cfg({ target: "ssh", layout: "compact", nodes, ssh }), { stack: "agent" });
    });

    it("passes no key (the provider uses SSH_AUTH_SOCK), pins the [address]:port key, and runs `sh -s` as root", () => {
        const host = cmd(run, "gateway-ha-ssh-lb-1");
        const c = connectionOf(host);
        expect(c).toMatchObject({ host: "192.168.101.16", port: 2222, user: "root", hostKey: LB_KEY });
        expect(c.privateKey).toBeUndefined();
        expect(c.agentSocketPath).toBeUndefined();
        expect(host.inputs.create).toBe("sh -s");
        // A balancer stops on haproxy's graceful signal, with its own grace.
        expect(cmd(run, "lb-1-gateway-lb").inputs.delete).toBe(`sh -c ${q(renderRemoveScript("lb-1-gateway-lb", { signal: "USR1", graceSeconds: 30 }))}`);
        expect(cmd(run, "gateway-ha-ssh-node-4").inputs.create).toBe("sudo -n sh -s");
    });

    it("waits ceil(waitSeconds / connectTimeoutSeconds) dial attempts of connectTimeoutSeconds each on the host step", () => {
        expect(connectionOf(cmd(run, "gateway-ha-ssh-node-1"))).toMatchObject({ perDialTimeout: 7, dialErrorLimit: 9 });
        expect(connectionOf(cmd(run, "node-1-etcd"))).toMatchObject({ perDialTimeout: 7, dialErrorLimit: 10 });
    });
});

describe("target ssh with keepalived VIPs instead of a balancer node (the on-prem stack)", () => {
    const ONPREM = NODES.slice(0, 5);
    const loadBalancer = {
        kind: "keepalived",
        keepalived: {
            interface: "ens160",
            vips: [
                { name: "control_plane", address: "192.168.101.10/24", virtualRouterId: 51, protects: "control-plane" },
                { name: "gateway", address: "192.168.101.20/24", virtualRouterId: 52, protects: "data-plane" },
            ],
        },
    };
    let run: PlatformRun;
    beforeAll(async () => {
        run = await runPlatform(sshConfig({ flavor: "api7-v2", dataPlane: { clusterId: "c1" }, loadBalancer }, { knownHosts: KNOWN.slice(0, 5) }, ONPREM), { stack: STACK, secretKeys: SECRET_KEYS });
    });

    it("each gateway host checks its own status endpoint and the gateway VIP's listener, after everything", () => {
        for (const [i, n] of ["node-4", "node-5"].entries()) {
            const script = stdinOf(cmd(run, `gateway-ha-ssh-verify-${n}`));
            expect(script).toContain(`curl -fsS -o /dev/null --max-time 5 'http://${ADDR(3 + i)}:7085/status'`);
            expect(script).not.toContain(`'http://${ADDR(4 - i)}:7085/status'`);
            expect(script).toContain("curl -sS -o /dev/null -w '%{http_code}' --max-time 5 'http://192.168.101.20:80/'");
            expect(script).toMatch(/502\|503\|504\|000/);
            const reg = registration(run, T.remoteCommand, `gateway-ha-ssh-verify-${n}`);
            for (const s of ["node-4-gateway", "node-5-gateway", "node-4-keepalived", "node-1-dashboard"]) expect(dependsOn(reg, T.remoteCommand, s), `${n} after ${s}`).toBe(true);
            expect(dependsOn(reg, T.command, "gateway-ha-etcd-bootstrap"), `${n} after the bootstrap`).toBe(true);
        }
        // The other hosts run their services' health checks only.
        for (const n of ["node-1", "node-2", "node-3"]) expect(stdinOf(cmd(run, `gateway-ha-ssh-verify-${n}`)), n).not.toMatch(/^(curl|code=)/m);
        expect(stdinOf(cmd(run, "gateway-ha-ssh-verify-node-1"))).toContain("docker exec 'node-1-etcd' ");
        expect(ofType(run, T.remoteCommand).filter((c) => c.name.startsWith("gateway-ha-ssh-verify-")).map((c) => c.name).sort()).toEqual(ONPREM.map((n) => `gateway-ha-ssh-verify-${n.name}`));
    });
});

describe("target ssh with LVS (direct routing) in front of the gateways", () => {
    const LVS_NODES = [
        ...NODES.slice(0, 5).map((n, i) => ({ ...n, roles: i < 3 ? ["etcd", ...(i < 2 ? ["control-plane"] : [])] : ["data-plane"] })),
        ...["dir-1", "dir-2"].map((name, i) => ({ name, address: ADDR(6 + i), sshUser: "deploy", roles: ["load-balancer"] })),
    ];
    let run: PlatformRun;
    beforeAll(async () => {
        const loadBalancer = { kind: "lvs", keepalived: { interface: "ens160", vips: [{ name: "gateway", address: "192.168.101.20/24", virtualRouterId: 52, protects: "data-plane" }, { name: "cp", address: "192.168.101.10/24", virtualRouterId: 51, protects: "control-plane" }] } };
        run = await runPlatform(
            sshConfig({ layout: "custom", nodes: LVS_NODES, loadBalancer }, { knownHosts: LVS_NODES.map((n) => `${n.address} ${HOST_KEY(n.name)}`) }),
            { stack: STACK, secretKeys: SECRET_KEYS },
        );
    });

    it("a real server's kernel parameters are its host's: a step writes them (sysctl.d for boots, /proc/sys now) before it runs, and its delete removes the file; the container gets NET_ADMIN, never privileges", () => {
        for (const n of ["node-1", "node-2", "node-4", "node-5"]) {
            const svc = `${n}-lvs-realserver`;
            const step = cmd(run, `${svc}-sysctls`);
            const script = stdinOf(step);
            expect(sysctlsInstalled(script)).toEqual({
                "net.ipv4.conf.all.arp_ignore": "1",
                "net.ipv4.conf.all.arp_announce": "2",
                "net.ipv4.conf.lo.arp_ignore": "1",
                "net.ipv4.conf.lo.arp_announce": "2",
            });
            expect(script).toContain(`cat > /etc/sysctl.d/90-gateway-ha-${svc}.conf <<'GATEWAY_HA_SYSCTL'`);
            expect(script).toContain("printf '%s\\n' 1 > /proc/sys/net/ipv4/conf/all/arp_ignore");
            expect(step.inputs.delete).toBe(`sudo -n sh -c 'rm -f /etc/sysctl.d/90-gateway-ha-${svc}.conf'`);
            expect(dependsOn(registration(run, T.remoteCommand, svc), T.remoteCommand, `${svc}-sysctls`)).toBe(true);
            const compose = parse([...installedFiles(run, cmd(run, `${svc}-files`)).entries()].find(([p]) => p.endsWith("compose.yaml"))![1]) as { services: Record<string, Record<string, unknown>> };
            expect(compose.services[svc]).toMatchObject({ network_mode: "host", cap_add: ["NET_ADMIN"] });
            expect(compose.services[svc].privileged).toBeUndefined();
            expect(compose.services[svc].sysctls).toBeUndefined();
        }
        // Only real servers have one.
        expect(ofType(run, T.remoteCommand).filter((c) => c.name.endsWith("-sysctls")).map((c) => c.name).sort()).toEqual(["node-1", "node-2", "node-4", "node-5"].map((n) => `${n}-lvs-realserver-sysctls`));
    });
});

describe("target ssh: validation names the key", () => {
    const base = { target: "ssh", layout: "compact", nodes: NODES, ssh: { privateKey: PRIVATE_KEY, knownHosts: KNOWN, firewall: { operatorCidrs: ["192.168.100.0/24"] } } };
    const has = (found: ConfigIssue[], key: string, rule: RegExp) => expect(found).toContainEqual(expect.objectContaining({ key, rule: expect.stringMatching(rule) }));
    const message = (found: ConfigIssue[]) => new ConfigValidationError(found).message;

    it("accepts the example config", () => {
        expect(issues(cfg(base))).toEqual([]);
        expect(issues(cfg({ ...base, ssh: { agent: true, knownHosts: KNOWN, firewall: base.ssh.firewall } }))).toEqual([]);
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
        expect(issues(cfg({ ...base, nodes: portNodes, ssh: { ...base.ssh, knownHosts: withPort } }))).toEqual([]);
    });

    it("known_hosts forms: comma lists, wildcards and hashed names pin; a revoked key or a CA line does not", () => {
        const hashed = (host: string, salt = Buffer.from("0123456789abcdefghij")) => `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(host).digest("base64")}`;
        const lb = "AAAAC3NzaC1lZDI1NTE5AAAAIlb1key";
        const ok = (line: string) => expect(issues(cfg({ ...base, ssh: { ...base.ssh, knownHosts: [...KNOWN.slice(0, 5), line] } })), line).toEqual([]);
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

    it("the operators' networks are required: no default can know them (it was all of RFC 1918)", () => {
        has(issues(cfg({ ...base, ssh: { ...base.ssh, firewall: {} } })), "ssh.firewall.operatorCidrs", /required on target ssh: the networks operators reach the control plane from/);
        has(issues(cfg({ ...base, ssh: { ...base.ssh, firewall: { clientCidrs: ["10.0.0.0/8"] } } })), "ssh.firewall.operatorCidrs", /it was all of RFC 1918/);
    });

    it("firewall sources must be CIDRs; the control plane and metrics never open to the internet", () => {
        has(issues(cfg({ ...base, ssh: { ...base.ssh, firewall: { operatorCidrs: ["0.0.0.0/0"] } } })), "ssh.firewall.operatorCidrs[0]", /internet/);
        has(issues(cfg({ ...base, ssh: { ...base.ssh, firewall: { monitoringCidrs: ["10.1.2.3/8"] } } })), "ssh.firewall.monitoringCidrs[0]", /CIDR/);
    });
});
