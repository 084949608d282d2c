// Target ssh's pure renderers: host firewalls from the port matrix (firewalld and iptables), the
// scripts the remote commands send to hosts (all checked with `sh -n`) and their command lines,
// and what each host verifies.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadPlatform } from "../../components/config";
import { cfg } from "../config";
import { firewallRules, type FirewallRule } from "../../components/topology/firewall";
import type { Flow, Topology } from "../../components/topology";
import { hostFirewall, renderFirewallScript, renderFirewalld, renderIptables, richRule, type HostFirewall } from "../../components/render/hostFirewall";
import {
    INSTALL_DOCKER,
    filesInstalled,
    inlineCommand,
    renderEnvFile,
    renderHostBootstrap,
    renderHostPurge,
    renderRemoveScript,
    renderRunScript,
    renderTaskOnHost,
    renderVerifyScript,
    renderInstallFiles,
    renderReloadOnHost,
    remoteScript,
    stdinCommand,
    verifyPlans,
} from "../../components/render/ssh";
import { GATEWAY_BACKENDS, renderBalancerDrainScript, renderBalancerReturnScript } from "../../components/render/rollout";
import type { RolloutSpec } from "../../components/service";

const ROLLOUT: RolloutSpec = {
    balancers: [],
    balancerKind: "haproxy",
    backends: [...GATEWAY_BACKENDS],
    rotationSeconds: 0,
    stopSignal: "QUIT",
    drainSeconds: 60,
    stopGraceSeconds: 70,
    readyTimeoutSeconds: 180,
};

const shOk = (script: string) => {
    const r = spawnSync("sh", ["-n"], { input: script, encoding: "utf8" });
    return { ok: r.status === 0, stderr: r.stderr };
};

const NODES = [11, 12, 13, 14, 15, 16].map((n, i) => ({ name: i < 5 ? `node-${i + 1}` : "lb-1", address: `192.168.101.${n}`, sshUser: "deploy" }));
const config = {
    "gateway-ha:target": "ssh",
    "gateway-ha:layout": "compact",
    "gateway-ha:nodes": JSON.stringify(NODES),
    "gateway-ha:ssh": JSON.stringify({ agent: true, knownHosts: NODES.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey`), firewall: { clientCidrs: ["0.0.0.0/0"], operatorCidrs: ["10.20.0.0/16"], monitoringCidrs: ["10.30.0.0/24"] } }),
};
const { spec, topology } = loadPlatform(config, { project: "gateway-ha", stack: "r" });
const SOURCES = { clients: ["0.0.0.0/0"], operators: ["10.20.0.0/16"], monitoring: ["10.30.0.0/24"], ssh: [] };
const rules = firewallRules(topology.flows, SOURCES);
const node = (name: string) => topology.nodes.find((n) => n.name === name)!;

/**
 * What the matrix lets into a node, computed here from the flows and the nodes' roles,
 * independently of the renderer: `proto/port from source`.
 */
function expectedAllow(topo: Topology, name: string, flows: Flow[]): string[] {
    const n = topo.nodes.find((x) => x.name === name)!;
    const isIn = (to: Flow["to"], x: typeof n) => (to === "load-balancer" ? x.roles.includes("load-balancer") : x.roles.includes(to));
    const out = new Set<string>();
    for (const f of flows) {
        if (!isIn(f.to, n)) continue;
        const what = f.protocol === "tcp" || f.protocol === "udp" ? `${f.protocol}/${f.port}` : `${f.protocol}`;
        const ext = { clients: SOURCES.clients, operators: SOURCES.operators, monitoring: SOURCES.monitoring }[f.from as string];
        const sources = ext ?? topo.nodes.filter((x) => isIn(f.from as Flow["to"], x)).map((x) => x.address);
        for (const s of sources) out.add(`${what} from ${s}`);
    }
    return [...out].sort();
}

/** Accept rules as the firewalld variant renders them. */
function firewalldAllow(script: string): string[] {
    return [...script.matchAll(/^rule family="ipv4" source address="([^"]+)" (?:port port="(\d+)" protocol="(\w+)"|protocol value="(\w+)") accept$/gm)]
        .map((m) => (m[2] ? `${m[3]}/${m[2]} from ${m[1]}` : `${m[4]} from ${m[1]}`))
        .sort();
}

/** Accept and drop rules as the iptables variant renders them. */
function iptablesRules(script: string, tool: "iptables" | "ip6tables" = "iptables"): { allow: string[]; drop: string[] } {
    const allow = [...script.matchAll(new RegExp(`^\\s*${tool} -w -A GATEWAY-HA -s (\\S+) -p (\\w+)(?: --dport (\\d+))? -j ACCEPT$`, "gm"))].map((m) => (m[3] ? `${m[2]}/${m[3]} from ${m[1]}` : `${m[2]} from ${m[1]}`)).sort();
    const drop = [...script.matchAll(new RegExp(`^\\s*${tool} -w -A GATEWAY-HA -p (\\w+)(?: --dport (\\d+))? -j DROP$`, "gm"))].map((m) => (m[2] ? `${m[1]}/${m[2]}` : m[1])).sort();
    return { allow, drop };
}

describe("host firewall from the port matrix", () => {
    it.each(topology.nodes.map((n) => n.name))("%s: firewalld and iptables accept exactly the matrix's sources", (name) => {
        const fw = hostFirewall(topology, node(name), rules);
        const expected = expectedAllow(topology, name, topology.flows);
        expect(expected.length).toBeGreaterThan(0);
        expect(firewalldAllow(renderFirewalld(fw))).toEqual(expected);
        const ipt = iptablesRules(renderIptables(fw));
        expect(ipt.allow).toEqual(expected);
        // Every port the node binds is closed to everyone else, and nothing but those.
        expect(ipt.drop).toEqual([...new Set(node(name).ports.map((p) => `${p.protocol}/${p.port}`))].sort());
        // IPv6: every source is IPv4, so the same ports are dropped for everyone but loopback.
        expect(iptablesRules(renderIptables(fw), "ip6tables")).toEqual({ allow: [], drop: ipt.drop });
        expect(shOk(renderFirewallScript(fw))).toEqual({ ok: true, stderr: "" });
    });

    it("spot checks: etcd peers only from members, the gateway status port only from the balancer, metrics only from monitoring", () => {
        const etcd = expectedAllow(topology, "node-3", topology.flows);
        expect(etcd.filter((r) => r.startsWith("tcp/2380"))).toEqual(["tcp/2380 from 192.168.101.11", "tcp/2380 from 192.168.101.12", "tcp/2380 from 192.168.101.13"]);
        const gw = firewalldAllow(renderFirewalld(hostFirewall(topology, node("node-4"), rules)));
        expect(gw.filter((r) => r.startsWith("tcp/7085"))).toEqual(["tcp/7085 from 192.168.101.16"]);
        expect(gw.filter((r) => r.startsWith("tcp/9091"))).toEqual(["tcp/9091 from 10.30.0.0/24"]);
        const lb = firewalldAllow(renderFirewalld(hostFirewall(topology, node("lb-1"), rules)));
        expect(lb.filter((r) => r.startsWith("tcp/9180"))).toEqual(["tcp/9180 from 10.20.0.0/16"]);
        expect(lb).toContain("tcp/80 from 0.0.0.0/0");
        // SSH is never in the platform's rules: the host's own policy keeps it.
        for (const n of topology.nodes) expect(renderFirewallScript(hostFirewall(topology, n, rules))).not.toMatch(/\b22\b/);
    });

    it("no monitoring network: the metrics port is dropped, not opened", () => {
        const fw = hostFirewall(topology, node("node-4"), firewallRules(topology.flows, { ...SOURCES, monitoring: [] }));
        const ipt = iptablesRules(renderIptables(fw));
        expect(ipt.allow.filter((r) => r.startsWith("tcp/9091"))).toEqual([]);
        expect(ipt.drop).toContain("tcp/9091");
    });

    it("a port-less protocol (VRRP between balancer peers) becomes a protocol rule by number, in both variants", () => {
        const twoLb = { ...topology, nodes: [...topology.nodes, { ...node("lb-1"), name: "lb-2", address: "192.168.101.17" }] };
        const vrrp = { group: "gateway-balancer", port: 0, protocol: "vrrp", from: { group: "gateway-balancer" }, description: "VRRP between keepalived peers" } as unknown as FirewallRule;
        const fw: HostFirewall = hostFirewall(twoLb, twoLb.nodes.find((n) => n.name === "lb-2")!, [...rules, vrrp]);
        expect(fw.allow.filter((r) => r.protocol === "112")).toEqual([
            { protocol: "112", source: "192.168.101.16", description: "VRRP between keepalived peers" },
            { protocol: "112", source: "192.168.101.17", description: "VRRP between keepalived peers" },
        ]);
        expect(richRule(fw.allow.find((r) => r.protocol === "112")!)).toBe('rule family="ipv4" source address="192.168.101.16" protocol value="112" accept');
        const ipt = iptablesRules(renderIptables(fw));
        expect(ipt.allow).toContain("112 from 192.168.101.17");
        expect(ipt.drop).toContain("112");
        expect(renderIptables(fw)).not.toMatch(/-p 112 --dport/);
        expect(shOk(renderFirewallScript(fw)).ok).toBe(true);
        // An unknown port-less protocol fails loudly instead of opening something else.
        expect(() => hostFirewall(topology, node("lb-1"), [{ ...vrrp, protocol: "sctp-ish" } as unknown as FirewallRule])).toThrow(/no IP protocol number/);
    });

    it.skipIf(process.getuid?.() !== 0)("firewalld, run against a firewall-cmd stand-in in a mount namespace: every active zone gets the rules, a rule from before zones is removed from the default zone", () => {
        const dir = mkdtempSync(join(tmpdir(), "gwha-firewalld-"));
        try {
            writeFileSync(
                join(dir, "firewall-cmd"),
                `#!/bin/sh
echo "firewall-cmd $*" >> ${dir}/calls
case "$*" in
*--get-default-zone*) echo public ;;
*--get-active-zones*) printf 'internal\\n  interfaces: eth1\\npublic\\n  interfaces: eth0\\n  sources: 10.0.0.0/8\\n' ;;
*--state*) exit 0 ;;
*--query-*) exit 1 ;;
esac
exit 0
`,
            );
            chmodSync(join(dir, "firewall-cmd"), 0o755);
            const fw = hostFirewall(topology, node("node-4"), rules);
            const stale = 'rule family="ipv4" source address="10.9.9.9" port port="7085" protocol="tcp" accept';
            const setup = [
                "mount -t tmpfs t /etc",
                "mkdir -p /etc/gateway-ha",
                `printf '%s\\n' '${stale}' '${richRule(fw.allow[0])}' > /etc/gateway-ha/firewalld-rules`,
                "sh -s",
                "cat /etc/gateway-ha/firewalld-rules",
            ].join(" && ");
            const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", setup], { input: renderFirewallScript(fw), encoding: "utf8", env: { PATH: `${dir}:${process.env.PATH}` } });
            expect(r.status, r.stderr).toBe(0);
            const calls = readFileSync(join(dir, "calls"), "utf8").trim().split("\n");
            for (const zone of ["public", "internal"])
                for (const rule of fw.allow.map(richRule)) {
                    expect(calls, `${zone}: ${rule}`).toContain(`firewall-cmd -q --permanent --zone=${zone} --add-rich-rule=${rule}`);
                    expect(calls).toContain(`firewall-cmd -q --zone=${zone} --add-rich-rule=${rule}`);
                }
            // The stale rule was the default zone's (a state file from before zones); the kept one stays.
            expect(calls).toContain(`firewall-cmd -q --permanent --zone=public --remove-rich-rule=${stale}`);
            expect(calls.filter((c) => c.includes("--remove-rich-rule") && !c.includes(stale))).toEqual([]);
            expect(calls.some((c) => c.includes("--reload"))).toBe(false);
            const state = r.stdout.trim().split("\n");
            expect(state.sort()).toEqual(["internal", "public"].flatMap((z) => fw.allow.map((a) => `${z} ${richRule(a)}`)).sort());
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("firewalld: removes the rules it added before that the matrix no longer has, never reloads", () => {
        const script = renderFirewalld(hostFirewall(topology, node("node-1"), rules));
        expect(script).toContain("--remove-rich-rule");
        expect(script).toContain("/etc/gateway-ha/firewalld-rules");
        expect(script).not.toContain("--reload");
        expect(script).toMatch(/--query-port=2379\/tcp.*WARNING/);
    });
});

const canNetns = process.getuid?.() === 0 && ["iptables", "ip6tables", "ip", "curl"].every((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status === 0);

describe.skipIf(!canNetns)("host firewall, applied for real by iptables and ip6tables in network namespaces", () => {
    it("node-4 (a gateway): the status port answers the balancer host over IPv4, nobody else, nobody over IPv6 but loopback; a re-run changes nothing", () => {
        const [a, b] = ["gwha-fwtest-a", "gwha-fwtest-b"];
        const dir = mkdtempSync(join(tmpdir(), "gwha-fw-"));
        const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8", timeout: 20_000 });
        const cleanup = () => sh(`ip netns pids ${a} 2>/dev/null | xargs -r kill; ip netns del ${a} 2>/dev/null; ip netns del ${b} 2>/dev/null; true`);
        cleanup();
        try {
            const setup = [
                `ip netns add ${a}`,
                `ip netns add ${b}`,
                `ip link add va netns ${a} type veth peer name vb netns ${b}`,
                `ip -n ${a} addr add 192.168.101.14/24 dev va`,
                `ip -n ${a} addr add fd00:101::14/64 dev va nodad`,
                `ip -n ${b} addr add 192.168.101.16/24 dev vb`,
                `ip -n ${b} addr add 192.168.101.99/24 dev vb`,
                `ip -n ${b} addr add fd00:101::16/64 dev vb nodad`,
                ...[a, b].flatMap((ns) => [`ip -n ${ns} link set lo up`, `ip -n ${ns} link set ${ns === a ? "va" : "vb"} up`]),
            ];
            for (const c of setup) expect(sh(c).status, c).toBe(0);
            const script = renderFirewallScript(hostFirewall(topology, node("node-4"), rules));
            writeFileSync(join(dir, "firewall.sh"), script);
            // firewalld is not installed here: the iptables branch runs.
            for (let run = 0; run < 2; run++) {
                const r = sh(`ip netns exec ${a} sh ${dir}/firewall.sh`);
                expect(r.status, r.stderr).toBe(0);
            }
            const listed = (tool: string) => sh(`ip netns exec ${a} ${tool} -w -S`).stdout;
            for (const tool of ["iptables", "ip6tables"]) expect(listed(tool).split("\n").filter((l) => l === "-A INPUT -j GATEWAY-HA"), tool).toHaveLength(1);
            expect(listed("iptables")).toContain("-A GATEWAY-HA -s 192.168.101.16/32 -p tcp -m tcp --dport 7085 -j ACCEPT");
            expect(listed("ip6tables")).toContain("-A GATEWAY-HA -p tcp -m tcp --dport 7085 -j DROP");
            expect(listed("ip6tables")).not.toMatch(/^-A GATEWAY-HA .*ACCEPT$/m);

            const server = spawnSync("sh", ["-c", `ip netns exec ${a} ${process.execPath} -e "require('http').createServer((q, r) => r.end('ok')).listen(7085, '::')" >/dev/null 2>&1 & echo $!`], { encoding: "utf8" });
            expect(server.status).toBe(0);
            const get = (ns: string, url: string, from?: string) =>
                sh(`ip netns exec ${ns} curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 2 ${from ? `--interface ${from}` : ""} '${url}'`).stdout;
            let up = "";
            for (let i = 0; i < 50 && up !== "200"; i++) up = get(a, "http://[::1]:7085/");
            expect(up, "loopback over IPv6").toBe("200");
            expect(get(b, "http://192.168.101.14:7085/", "192.168.101.16"), "from the balancer host").toBe("200");
            expect(get(b, "http://192.168.101.14:7085/", "192.168.101.99"), "from another address").toBe("000");
            expect(get(b, "http://[fd00:101::14]:7085/"), "over IPv6").toBe("000");
        } finally {
            cleanup();
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("host scripts", () => {
    it("commands: the script on stdin as root, through passwordless sudo for anyone else; a delete's command line is self-contained", () => {
        expect(stdinCommand("root")).toBe("sh -s");
        expect(stdinCommand("deploy")).toBe("sudo -n sh -s");
        const del = inlineCommand("deploy", renderRemoveScript("node-4-gateway", { signal: "QUIT", graceSeconds: 70 }));
        expect(del.startsWith("sudo -n sh -c '")).toBe(true);
        expect(inlineCommand("root", "true").startsWith("sh -c ")).toBe(true);
        // The quoted script comes back intact: sh prints what `sh -c` would run.
        const r = spawnSync("sh", ["-c", `printf '%s' ${del.slice("sudo -n sh -c ".length)}`], { encoding: "utf8" });
        expect(r.stdout).toBe(renderRemoveScript("node-4-gateway", { signal: "QUIT", graceSeconds: 70 }));
        expect(shOk(r.stdout)).toEqual({ ok: true, stderr: "" });
    });

    it.each([
        ["host bootstrap", renderHostBootstrap({ node: "node-1", user: "deploy", firewallScript: renderFirewallScript(hostFirewall(topology, node("node-1"), rules)) })],
        ["files", renderInstallFiles("svc", [{ staged: "/var/lib/gateway-ha/staging/svc.0a1b", path: "/opt/x/it's.yaml", mode: "0600", copy: "svc-copy-x" }], ["/var/lib/gateway-ha/volumes/v/data"])],
        ["run (health)", renderRunScript({ name: "node-1-etcd", trigger: "abc123", volumes: ["node-1-etcd-data"], healthCheck: { command: ["etcdctl", "endpoint", "health"], intervalSeconds: 5, timeoutSeconds: 3, retries: 5, startPeriodSeconds: 20 }, timeoutSeconds: 300 })],
        ["run (no health)", renderRunScript({ name: "lb-1-gateway-lb", trigger: "abc123", volumes: [], timeoutSeconds: 60 })],
        ["run (a passive balancer's rotation)", renderRunScript({ name: "node-4-gateway", trigger: "abc123", volumes: [], timeoutSeconds: 60, rotationSeconds: 6 })],
        ["remove", renderRemoveScript("node-4-gateway", { signal: "QUIT", graceSeconds: 70 })],
        ["balancer drain", remoteScript(renderBalancerDrainScript(ROLLOUT, "node-4", "lb-1-gateway-lb"))],
        ["balancer return", remoteScript(renderBalancerReturnScript(ROLLOUT, "node-4", "lb-1-gateway-lb"))],
        ["task", renderTaskOnHost({ container: "node-1-etcd", toolArgv: ["etcdctl", "--endpoints=x"], toolEnv: ["ETCDCTL_USER"], script: 'tool endpoint health\necho "$ROOT_PW" >/dev/null', env: { ROOT_PW: "it's" } })],
        ["verify", renderVerifyScript({ node: "lb-1", checks: [{ container: "lb-1-gateway-lb", command: ["true"] }], statusUrls: ["http://192.168.101.14:7085/status"], listeners: [{ url: "http://127.0.0.1:80/", what: "the gateway balancer" }] })],
    ])("%s passes sh -n", (_, script) => {
        expect(shOk(script)).toEqual({ ok: true, stderr: "" });
    });

    it("host bootstrap: Docker installed only when absent, for the RHEL and Debian families, version checked; firewall now and at boot; SELinux warning", () => {
        const s = renderHostBootstrap({ node: "node-1", user: "deploy", firewallScript: "#!/bin/sh\ntrue\n" });
        expect(s).toMatch(/if ! command -v docker .*\|\| ! docker compose version .* then gateway_ha_install_docker; fi/);
        expect(INSTALL_DOCKER).toContain("download.docker.com/linux/centos/docker-ce.repo");
        expect(INSTALL_DOCKER).toContain('download.docker.com/linux/$distro');
        expect(INSTALL_DOCKER).toContain("docker-compose-plugin");
        expect(s).toContain("sort -V");
        expect(s).toContain("20.10.7");
        expect(s).toContain("systemctl enable -q gateway-ha-firewall.service");
        expect(s).toContain("sh /opt/gateway-ha/firewall.sh");
        expect(s).toMatch(/getenforce\)" = Enforcing \]; then echo "gateway-ha: WARNING: SELinux is enforcing on node-1/);
        expect(s).toContain("install -d -m 0700 /opt/gateway-ha/secrets /opt/gateway-ha/env");
        // CopyToRemote writes over SFTP as the login user: the staging directory is theirs alone.
        expect(s).toContain("mkdir -p /var/lib/gateway-ha/staging && chown 'deploy' /var/lib/gateway-ha/staging && chmod 0700 /var/lib/gateway-ha/staging");
    });

    it("files, run for real (as root, /opt and /var/lib on tmpfs in a mount namespace): staged files installed atomically, root-owned, with their modes; older staged versions removed; a missing one named with its copy", () => {
        const staged = (name: string) => `/var/lib/gateway-ha/staging/svc.${name}`;
        const files = [
            { staged: staged("aaaa"), path: "/opt/gateway-ha/files/svc/etc/it's a.yaml", mode: "0644" as const, copy: "svc-copy-a" },
            { staged: staged("bbbb"), path: "/opt/gateway-ha/env/svc.env", mode: "0600" as const, copy: "svc-copy-env" },
        ];
        const script = renderInstallFiles("svc", files, ["/var/lib/gateway-ha/volumes/v/data"]);
        const content = "x: '1'\n$HOME `id`\n";
        const sum = (c: string) => createHash("sha256").update(c).digest("hex");
        const run = (setup: string) =>
            spawnSync(
                "unshare",
                ["-m", "--propagation", "private", "sh", "-c", `mount -t tmpfs t /opt && mount -t tmpfs t /var/lib && ${setup} && sh -s && cd / && find /opt /var/lib -type f -exec stat -c '%n %a %u' {} + | sort && sha256sum '/opt/gateway-ha/files/svc/etc/it'"'"'s a.yaml' && ls -d /var/lib/gateway-ha/volumes/v/data`],
                { input: script, encoding: "utf8" },
            );
        // The login user's staging directory as the host step leaves it, the two copies, an older version and another service's.
        const setup = [
            "mkdir -p /var/lib/gateway-ha/staging",
            `printf '%s' "${content.replace(/[$`"\\]/g, "\\$&")}" > ${staged("aaaa")}`,
            `echo 'PW=x' > ${staged("bbbb")}`,
            `echo old > ${staged("0000")}`,
            "echo other > /var/lib/gateway-ha/staging/svc2.0000",
            "mkdir -p /opt/gateway-ha/env && echo stale > /opt/gateway-ha/env/svc.env && chmod 0644 /opt/gateway-ha/env/svc.env",
        ].join(" && ");
        const ok = run(setup);
        expect(ok.stderr).toBe("");
        expect(ok.status).toBe(0);
        expect(ok.stdout.split("\n")).toEqual([
            "/opt/gateway-ha/env/svc.env 600 0",
            "/opt/gateway-ha/files/svc/etc/it's a.yaml 644 0",
            `${staged("aaaa")} 644 0`,
            `${staged("bbbb")} 644 0`,
            "/var/lib/gateway-ha/staging/svc2.0000 644 0",
            `${sum(content)}  /opt/gateway-ha/files/svc/etc/it's a.yaml`,
            "/var/lib/gateway-ha/volumes/v/data",
            "",
        ]);
        const missing = run(`mkdir -p /var/lib/gateway-ha/staging && echo x > ${staged("aaaa")}`);
        expect(missing.status).not.toBe(0);
        expect(missing.stderr).toContain(`gateway-ha: ${staged("bbbb")} is missing; run pulumi up --replace on its copy, svc-copy-env`);
    });

    it("files: the service's image is pulled after the files are in, only when absent, before the run step can remove the old container; a failed pull stops it", () => {
        const dir = mkdtempSync(join(tmpdir(), "gwha-pull-"));
        try {
            // A docker that has `present:1` and whose registry serves `served:2` only; every call logged.
            writeFileSync(
                join(dir, "docker"),
                `#!/bin/sh\necho "$*" >> ${dir}/calls\ncase "$1 $2 $3" in "image inspect present:1") exit 0 ;; "image inspect "*) exit 1 ;; "pull --quiet served:2") exit 0 ;; *) echo "pull access denied" >&2; exit 1 ;; esac\n`,
            );
            chmodSync(join(dir, "docker"), 0o755);
            const run = (image: string) => {
                rmSync(join(dir, "calls"), { force: true });
                const script = renderInstallFiles("svc", [{ staged: "/var/lib/gateway-ha/staging/svc.aaaa", path: "/opt/gateway-ha/files/svc/x", mode: "0644", copy: "svc-copy-x" }], [], image);
                const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs t /opt && mount -t tmpfs t /var/lib && mkdir -p /var/lib/gateway-ha/staging && echo x > /var/lib/gateway-ha/staging/svc.aaaa && sh -s"], {
                    input: script,
                    encoding: "utf8",
                    env: { PATH: `${dir}:${process.env.PATH}` },
                });
                return { status: r.status, stderr: r.stderr, calls: readFileSync(join(dir, "calls"), "utf8").trim().split("\n") };
            };
            expect(run("present:1")).toEqual({ status: 0, stderr: "", calls: ["image inspect present:1"] });
            expect(run("served:2")).toEqual({ status: 0, stderr: "", calls: ["image inspect served:2", "pull --quiet served:2"] });
            const failed = run("missing:3");
            expect(failed.status).not.toBe(0);
            expect(failed.stderr).toContain("gateway-ha: pulling missing:3 failed; svc keeps running its current container");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("filesInstalled reads an install script back against the staged contents, and refuses a file nothing staged", () => {
        const script = renderInstallFiles("svc", [{ staged: "/s/svc.1", path: "/opt/it's", mode: "0644", copy: "c" }], []);
        expect([...filesInstalled(script, new Map([["/s/svc.1", "body"]]))]).toEqual([["/opt/it's", "body"]]);
        expect(() => filesInstalled(script, new Map())).toThrow(/nothing stages \/s\/svc.1, which the script installs as \/opt\/it's/);
    });

    it("env file: single-quoted values; a quote or newline is refused without echoing the value", () => {
        expect(renderEnvFile("svc", { A: "x y", B: "$z" })).toBe("A='x y'\nB='$z'\n");
        expect(() => renderEnvFile("svc", { PW: "it's-secret" })).toThrow(/svc: environment variable PW holds a quote/);
        expect(() => renderEnvFile("svc", { PW: "it's-secret" })).not.toThrow(/it's-secret/);
    });

    it("run: waits, bounded, for healthy; a member on empty data only has to run; logs on timeout", () => {
        const s = renderRunScript({ name: "node-1-etcd", trigger: "abc123", volumes: ["node-1-etcd-data"], healthCheck: { command: ["x"], intervalSeconds: 5, timeoutSeconds: 3, retries: 5, startPeriodSeconds: 20 }, timeoutSeconds: 120 });
        expect(s).toContain("docker compose -f '/opt/gateway-ha/services/node-1-etcd/compose.yaml' up -d --force-recreate --no-deps");
        expect(s).toContain("want=healthy");
        expect(s).toContain(`[ -n "$(ls -A '/var/lib/gateway-ha/volumes/node-1-etcd-data/data' 2>/dev/null)" ] || fresh=yes`);
        expect(s).toContain("deadline=$(( $(date +%s) + 120 ))");
        expect(s).toContain("docker logs --tail 50 'node-1-etcd'");
        // The same trigger on a running container: no restart; the trigger is recorded only once healthy.
        expect(s).toMatch(/if \[ "\$\(cat '\/opt\/gateway-ha\/services\/node-1-etcd\/applied' 2>\/dev\/null\)" = 'abc123' \] && .*State\.Running/);
        expect(s.indexOf("printf '%s\\n' 'abc123' > '/opt/gateway-ha/services/node-1-etcd/applied'")).toBeGreaterThan(s.indexOf("healthy:running/healthy"));
        expect(renderRunScript({ name: "lb", trigger: "t", volumes: [], timeoutSeconds: 60 })).toContain("want=running");
    });

    it("run: behind a balancer without runtime state, a restarted replica waits its rotation; a re-run that restarts nothing waits nothing", () => {
        const s = renderRunScript({ name: "node-4-gateway", trigger: "t", volumes: [], timeoutSeconds: 60, rotationSeconds: 6 });
        expect(s).toContain('[ "$restarted" = no ] || sleep 6');
        expect(s.indexOf("restarted=yes")).toBeGreaterThan(s.indexOf("--force-recreate"));
        expect(s.indexOf("sleep 6")).toBeLessThan(s.indexOf("> '/opt/gateway-ha/services/node-4-gateway/applied'"));
        expect(renderRunScript({ name: "node-4-gateway", trigger: "t", volumes: [], timeoutSeconds: 60 })).not.toContain('|| sleep');
    });

    it("remove, run for real against a docker stand-in (20.10: no `stop --signal`): the program's signal, a wait up to its grace while it finishes, then the removal; one that never exits is removed at the grace; a container already gone is no error", () => {
        const dir = mkdtempSync(join(tmpdir(), "gwha-remove-"));
        try {
            // The container runs until `exitsAfter` inspects have passed since the signal (never, without the file).
            writeFileSync(
                join(dir, "docker"),
                `#!/bin/sh
d=${dir}
echo "$*" >> $d/calls
[ -e $d/gone ] && { echo "Error: No such container" >&2; exit 1; }
case "$1" in
stop) for a; do [ "$a" != --signal ] || { echo "unknown flag: --signal" >&2; exit 125; }; done ;;
kill) : > $d/signalled ;;
inspect) if [ -e $d/signalled ] && [ -e $d/exitsAfter ]; then n=$(cat $d/exitsAfter); echo $((n - 1)) > $d/exitsAfter; [ "$n" -gt 0 ] && echo true || echo false; else echo true; fi ;;
esac
exit 0
`,
            );
            chmodSync(join(dir, "docker"), 0o755);
            const run = (graceSeconds: number) => {
                for (const f of ["calls", "signalled"]) rmSync(join(dir, f), { force: true });
                const r = spawnSync("sh", ["-s"], { input: renderRemoveScript("node-4-gateway", { signal: "QUIT", graceSeconds }), encoding: "utf8", env: { PATH: `${dir}:${process.env.PATH}` } });
                return { status: r.status, calls: readFileSync(join(dir, "calls"), "utf8").trim().split("\n") };
            };
            writeFileSync(join(dir, "exitsAfter"), "2");
            const inspect = "inspect -f {{.State.Running}} node-4-gateway";
            expect(run(70)).toEqual({ status: 0, calls: ["kill --signal QUIT node-4-gateway", inspect, inspect, inspect, "rm -f node-4-gateway"] });
            rmSync(join(dir, "exitsAfter"));
            const stuck = run(2);
            expect(stuck.status).toBe(0);
            expect(stuck.calls.filter((c) => c === inspect)).toHaveLength(3);
            expect(stuck.calls.at(-1)).toBe("rm -f node-4-gateway");
            writeFileSync(join(dir, "gone"), "");
            expect(run(70).status).toBe(0);
            // Without a signal of its own: `docker stop` with the grace, which every version has.
            expect(renderRemoveScript("node-1-etcd", { graceSeconds: 30 })).toContain("docker stop --time 30 'node-1-etcd'");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("purge, run for real as root in a mount namespace with stand-ins: the stack's containers, firewall (unit, iptables chain, its firewalld rules), files, secrets and staging go; data only without protectData; a second run finds nothing", () => {
        const dir = mkdtempSync(join(tmpdir(), "gwha-purge-"));
        try {
            const tool = (name: string, body: string) => {
                writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $*" >> ${dir}/calls\n${body}\n`);
                chmodSync(join(dir, name), 0o755);
            };
            tool("docker", `case "$1" in ps) [ -e ${dir}/gone ] || echo "c1 c2" ;; esac`);
            tool("systemctl", "exit 0");
            // The chain is in INPUT twice (a hand-run script): each -D removes one, then it fails.
            tool("iptables", `case "$2" in -D) n=$(cat ${dir}/jumps 2>/dev/null || echo 2); [ "$n" -gt 0 ] || exit 1; echo $((n - 1)) > ${dir}/jumps ;; esac`);
            tool("firewall-cmd", `case "$1" in --get-default-zone) echo public ;; esac`);
            const run = (keepData: boolean) => {
                rmSync(join(dir, "calls"), { force: true });
                const setup = [
                    "mount -t tmpfs t /opt && mount -t tmpfs t /var/lib && mount -t tmpfs t /etc",
                    "mkdir -p /etc/gateway-ha /etc/systemd/system /opt/gateway-ha/secrets/x /var/lib/gateway-ha/staging /var/lib/gateway-ha/volumes/etcd-1-data/data",
                    "echo 'rule family=\"ipv4\" port port=\"2379\" protocol=\"tcp\" accept' > /etc/gateway-ha/firewalld-rules",
                    "touch /etc/systemd/system/gateway-ha-firewall.service /opt/gateway-ha/secrets/x/key /var/lib/gateway-ha/staging/s.1 /var/lib/gateway-ha/volumes/etcd-1-data/data/db",
                    "sh -s",
                    "find /opt /var/lib /etc -mindepth 1 | sort",
                ].join(" && ");
                const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", setup], {
                    input: renderHostPurge({ node: "node-1", stack: "onprem", keepData }),
                    encoding: "utf8",
                    env: { PATH: `${dir}:${process.env.PATH}` },
                });
                // /etc/systemd is the host's, not the stack's: it stays (the unit file in it goes).
                return { status: r.status, left: r.stdout.split("\n").filter((l) => l.startsWith("/") && l !== "/etc/systemd" && l !== "/etc/systemd/system"), said: r.stdout, stderr: r.stderr, calls: readFileSync(join(dir, "calls"), "utf8").trim().split("\n") };
            };
            const kept = run(true);
            expect(kept.status, kept.stderr).toBe(0);
            expect(kept.left).toEqual(["/var/lib/gateway-ha", "/var/lib/gateway-ha/volumes", "/var/lib/gateway-ha/volumes/etcd-1-data", "/var/lib/gateway-ha/volumes/etcd-1-data/data", "/var/lib/gateway-ha/volumes/etcd-1-data/data/db"]);
            expect(kept.said).toContain("gateway-ha: node-1: purged; data kept in /var/lib/gateway-ha/volumes (protectData)");
            expect(kept.calls).toEqual(
                expect.arrayContaining([
                    "docker ps -aq --filter label=gateway-ha.stack=onprem",
                    "docker rm -f c1 c2",
                    "systemctl disable --now gateway-ha-firewall.service",
                    "iptables -w -F GATEWAY-HA",
                    "iptables -w -X GATEWAY-HA",
                    'firewall-cmd -q --permanent --zone=public --remove-rich-rule=rule family="ipv4" port port="2379" protocol="tcp" accept',
                ]),
            );
            expect(kept.calls.filter((c) => c === "iptables -w -D INPUT -j GATEWAY-HA")).toHaveLength(3);
            writeFileSync(join(dir, "gone"), "");
            const all = run(false);
            expect(all.status, all.stderr).toBe(0);
            expect(all.left).toEqual([]);
            expect(all.said).toContain("gateway-ha: node-1: purged, data included");
            expect(all.calls).not.toContain("docker rm -f c1 c2");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("verify: the host's health checks, gateway status endpoints answering 200, listeners forwarding (no 502/503/504, an answer at all)", () => {
        const s = renderVerifyScript({
            node: "lb-1",
            checks: [{ container: "node-1-etcd", command: ["/usr/local/bin/etcdctl", "endpoint", "health"] }],
            statusUrls: ["http://192.168.101.14:7085/status", "http://192.168.101.15:7085/status"],
            listeners: [{ url: "http://127.0.0.1:80/", what: "the gateway balancer" }],
        });
        expect(s).toContain("docker exec 'node-1-etcd' '/usr/local/bin/etcdctl' 'endpoint' 'health'");
        expect(s).toContain("curl -fsS -o /dev/null --max-time 5 'http://192.168.101.14:7085/status'");
        expect(s).toContain("curl -fsS -o /dev/null --max-time 5 'http://192.168.101.15:7085/status'");
        expect(s).toContain("curl -sS -o /dev/null -w '%{http_code}' --max-time 5 'http://127.0.0.1:80/'");
        expect(s).toMatch(/case "\$code" in 502\|503\|504\|000\|""\) echo "gateway-ha: verify: the gateway balancer \(http:\/\/127\.0\.0\.1:80\/\) answers \$code on lb-1/);
        // One script for `sh -s`: read whole before it runs, stdin closed for the commands in it.
        expect(s.trimEnd().endsWith("gateway_ha_main </dev/null")).toBe(true);
    });

    it("verify plans: each host its services' checks; the balancer host every gateway's status and its listener; hosts without checks none", () => {
        const checks = [
            { node: "node-1", container: "node-1-etcd", command: ["etcdctl", "endpoint", "health"] },
            { node: "node-4", container: "node-4-gateway", command: ["curl", "-f", "http://127.0.0.1:7085/status"] },
        ];
        const plans = verifyPlans(spec, topology, checks);
        expect(plans.map((p) => p.node)).toEqual(["node-1", "node-4", "lb-1"]);
        expect(plans[0]).toEqual({ node: "node-1", checks: [{ container: "node-1-etcd", command: ["etcdctl", "endpoint", "health"] }], statusUrls: [], listeners: [] });
        expect(plans[2]).toEqual({
            node: "lb-1",
            checks: [],
            statusUrls: ["http://192.168.101.14:7085/status/ready", "http://192.168.101.15:7085/status/ready"],
            listeners: [{ url: "http://127.0.0.1:80/", what: "the gateway balancer" }],
        });
    });

    describe("verify plans without a proxy", () => {
        const hosts = (names: string[]) => names.map((name, i) => ({ name, address: `192.168.101.${11 + i}`, sshUser: "deploy" }));
        const load = (names: string[], loadBalancer: Record<string, unknown>, firewall: Record<string, unknown> = {}) => {
            const nodes = hosts(names);
            const knownHosts = nodes.map((n) => `${n.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImockhostkey`);
            return loadPlatform(cfg({ flavor: "api7-v2", dataPlane: { clusterId: "c1" }, target: "ssh", layout: "compact", nodes, ssh: { agent: true, knownHosts, firewall: { operatorCidrs: ["192.168.100.0/24"], ...firewall } }, loadBalancer }), { project: "gateway-ha", stack: "r" });
        };
        const vips = [
            { name: "control_plane", address: "192.168.101.10/24", virtualRouterId: 51, protects: "control-plane" },
            { name: "gateway", address: "192.168.101.20/24", virtualRouterId: 52, protects: "data-plane" },
        ];
        const ONPREM = ["node-1", "node-2", "node-3", "node-4", "node-5"];

        it("keepalived VIPs on the gateways (the on-prem stack): each gateway host its own status endpoint and the VIP's listener", () => {
            const v = load(ONPREM, { kind: "keepalived", keepalived: { interface: "ens160", vips } });
            const plans = verifyPlans(v.spec, v.topology, []);
            expect(plans).toEqual(
                ["node-4", "node-5"].map((node, i) => ({
                    node,
                    checks: [],
                    statusUrls: [`http://192.168.101.${14 + i}:7085/status`],
                    listeners: [{ url: "http://192.168.101.20:80/", what: "VIP gateway" }],
                })),
            );
            expect(shOk(renderVerifyScript(plans[0]))).toEqual({ ok: true, stderr: "" });
        });

        it("keepalived VIPs: a node outside ssh.firewall.clientCidrs does not request the VIP (its firewalls would drop that)", () => {
            const v = load(ONPREM, { kind: "keepalived", keepalived: { interface: "ens160", vips } }, { clientCidrs: ["10.0.0.0/8"] });
            for (const p of verifyPlans(v.spec, v.topology, [])) expect(p.listeners, p.node).toEqual([]);
        });

        it("LVS directors: no listener of their own, and the VIP is not requested from them", () => {
            const v = load([...ONPREM, "lb-1", "lb-2"], { kind: "lvs", keepalived: { vips: vips.map((x) => ({ ...x, nodes: undefined })) } });
            expect(v.topology.vips.every((x) => x.lvs && x.nodes.map((n) => n.name).join() === "lb-1,lb-2")).toBe(true);
            expect(verifyPlans(v.spec, v.topology, [{ node: "lb-1", container: "lb-1-keepalived", command: ["true"] }])).toEqual([
                { node: "lb-1", checks: [{ container: "lb-1-keepalived", command: ["true"] }], statusUrls: [], listeners: [] },
            ]);
        });
    });
});

describe.skipIf(spawnSync("haproxy", ["-v"]).status !== 0)("a balancer's reload step on its host (renderReloadOnHost), against real haproxy and a docker stand-in", () => {
    const GOOD = (server: string) =>
        `defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:18080\n    default_backend b\nbackend b\n    server ${server} 127.0.0.1:18081\n`;
    /**
     * The host: the installed file and the staged new one. The container: its root, where the
     * file's bind mount is a hard link to the installed file's inode (as a bind mount holds it);
     * `docker cp` writes into its root, `exec` runs haproxy there, `kill` is recorded.
     */
    function host(installed: string, staged: string, running = true) {
        const dir = mkdtempSync(join(tmpdir(), "gwha-ssh-reload-"));
        const paths = { dir, installed: join(dir, "files", "lb.cfg"), staged: join(dir, "staging", "lb.cfg.abc"), mounted: join(dir, "root", "etc", "lb.cfg") };
        for (const p of Object.values(paths).slice(1)) spawnSync("mkdir", ["-p", join(p, "..")]);
        writeFileSync(paths.installed, installed);
        writeFileSync(paths.staged, staged);
        spawnSync("ln", [paths.installed, paths.mounted]);
        writeFileSync(
            join(dir, "docker"),
            `#!/bin/sh
echo "$*" >> ${dir}/docker.log
case "$1" in
inspect) ${running ? "echo true" : "exit 1"} ;;
cp) cp "$2" ${dir}/root"\${3#lb:}" ;;
exec) shift 2; last=; for a; do last=$a; done; n=$#; set -- $(for a; do [ "$a" = "$last" ] || echo "$a"; done); exec "$@" ${dir}/root"$last" ;;
kill) : ;;
*) exit 2 ;;
esac`,
        );
        chmodSync(join(dir, "docker"), 0o755);
        const script = renderReloadOnHost({ container: "lb", files: [{ staged: paths.staged, path: paths.installed, containerPath: "/etc/lb.cfg", copy: "lb-copy" }], check: (p) => ["haproxy", "-c", "-q", "-f", p], signal: "USR2" });
        const run = () => spawnSync("/bin/sh", ["-s"], { input: script, encoding: "utf8", env: { PATH: `${dir}:${process.env.PATH}` } });
        const log = () => (spawnSync("cat", [join(dir, "docker.log")], { encoding: "utf8" }).stdout ?? "");
        return { paths, run, log, done: () => rmSync(dir, { recursive: true, force: true }) };
    }

    it("a new config the program accepts reaches the running container through its bind mount (same inode, written in place), then PID 1 is signalled once", () => {
        const h = host(GOOD("old"), GOOD("new"));
        const inode = spawnSync("stat", ["-c", "%i", h.paths.installed], { encoding: "utf8" }).stdout;
        const r = h.run();
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(h.paths.mounted, "utf8")).toBe(GOOD("new"));
        expect(spawnSync("stat", ["-c", "%i", h.paths.installed], { encoding: "utf8" }).stdout).toBe(inode);
        expect(h.log()).toContain("exec lb haproxy -c -q -f /etc/lb.cfg.next");
        expect(h.log().match(/^kill --signal USR2 lb$/gm)).toHaveLength(1);
        expect(r.stdout).toContain("gateway-ha: lb reloaded");
        // Run again: nothing differs, nothing is signalled.
        expect(h.run().status).toBe(0);
        expect(h.log().match(/^kill /gm)).toHaveLength(1);
        h.done();
    });

    it("a config the program refuses fails the step, naming the file; the running config and the installed file are unchanged, nothing signalled", () => {
        const h = host(GOOD("old"), "frontend f\n    bind\n    no_such_keyword\n");
        const r = h.run();
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("gateway-ha: lb: the program refused the new /etc/lb.cfg; the running config is unchanged");
        expect(readFileSync(h.paths.mounted, "utf8")).toBe(GOOD("old"));
        expect(readFileSync(h.paths.installed, "utf8")).toBe(GOOD("old"));
        expect(h.log()).not.toMatch(/^kill /m);
        h.done();
    });

    it("a container that is not running: the file is updated for its next start, unchecked, nothing signalled", () => {
        const h = host(GOOD("old"), GOOD("new"), false);
        const r = h.run();
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(h.paths.installed, "utf8")).toBe(GOOD("new"));
        expect(h.log()).not.toMatch(/^(exec|kill) /m);
        h.done();
    });
});
