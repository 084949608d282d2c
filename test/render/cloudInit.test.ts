// The cloud-init renderer for AWS nodes: the #cloud-config document, the Compose file inside it,
// the boot scripts (sh -n), the secrets fetcher (run with a stand-in `aws`), and, where cloud-init
// is installed, `cloud-init schema` on the rendered documents.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
    FETCH_SECRETS_PY,
    HOST_CA_BUNDLE,
    NODE_PATHS,
    PER_BOOT_SCRIPT,
    SYSTEM_ROOTS_SUFFIX,
    USER_DATA_LIMIT,
    checkUserDataSize,
    gzipBase64,
    renderApplyScript,
    renderCloudConfig,
    renderCompose,
    renderTaskScript,
    secretsManifest,
    type NodeBoot,
} from "../../components/render/cloudInit";
import { ETCD_CONTAINER_PATHS, etcdMemberArgs, etcdctlConnectionArgs, renderEtcdBootstrapScript } from "../../components/render/etcd";
import { loadPlatform } from "../../components/config";

const CLOUD_INIT = "/usr/bin/cloud-init";
/** The system's Python, as on the node (a pyenv shim would put its own `aws` first on PATH). */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const haveCloudInit = existsSync(CLOUD_INIT);
if (!haveCloudInit) console.warn(`skipping the cloud-init schema checks: ${CLOUD_INIT} is not installed (apt-get install cloud-init)`);

type WriteFile = { path: string; content: string; permissions: string; owner: string; encoding?: string };
type Compose = {
    name: string;
    services: Record<
        string,
        {
            image: string;
            container_name: string;
            command?: string[];
            network_mode: string;
            labels: Record<string, string>;
            restart: string;
            env_file?: string[];
            volumes: { type: string; source: string; target: string; read_only?: boolean }[];
            healthcheck?: { test: string[]; interval: string; timeout: string; retries: number; start_period: string };
            cpus: number;
            mem_limit: string;
        }
    >;
};

const BOOT: NodeBoot = {
    node: "node-1",
    region: "eu-west-1",
    cpus: 2,
    memoryGb: 4,
    services: [
        {
            name: "node-1-etcd",
            image: "gcr.io/etcd-development/etcd:v3.5.21",
            command: ["/usr/local/bin/etcd", "--name=node-1-etcd", "--data-dir=/var/lib/etcd"],
            env: [],
            files: [
                { path: "/etc/etcd/pki/ca.crt", content: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n" },
                { path: "/etc/etcd/pki/member.key", parameter: "/gateway-ha/s/node-1/etcd/files/etc/etcd/pki/member.key" },
            ],
            volumes: [{ name: "node-1-etcd-data", containerPath: "/var/lib/etcd", volumeId: "vol-0123456789abcdef0" }],
            healthCheck: { command: ["/usr/local/bin/etcdctl", "endpoint", "health"], intervalSeconds: 5, timeoutSeconds: 3, retries: 5, startPeriodSeconds: 20 },
            labels: { "gateway-ha.stack": "prod", "gateway-ha.node": "node-1", "gateway-ha.role": "etcd", "gateway-ha.service": "etcd" },
        },
        {
            name: "node-1-apisix-cp",
            image: "apache/apisix:3.14.1-debian",
            env: [{ name: "GATEWAY_HA_ADMIN_KEY", parameter: "/gateway-ha/s/node-1/apisix-cp/env/GATEWAY_HA_ADMIN_KEY" }],
            files: [{ path: "/usr/local/apisix/conf/config.yaml", content: "deployment:\n  role: control_plane\n" }],
            volumes: [],
            labels: { "gateway-ha.stack": "prod", "gateway-ha.node": "node-1", "gateway-ha.role": "control-plane", "gateway-ha.service": "apisix-cp" },
        },
    ],
    tasks: [
        {
            name: "gateway-ha-etcd-bootstrap",
            container: "node-1-etcd",
            toolArgv: ["/usr/local/bin/etcdctl", "--endpoints=https://10.42.0.11:2379"],
            toolEnv: ["ETCDCTL_USER"],
            script: 'tool endpoint health\necho "bootstrap done"\n',
            env: [{ name: "ETCD_ROOT_PASSWORD", parameter: "/gateway-ha/s/node-1/tasks/gateway-ha-etcd-bootstrap/env/ETCD_ROOT_PASSWORD" }],
        },
    ],
};

const doc = (text: string) => parse(text) as { package_update: boolean; packages: string[]; snap: { commands: string[] }; write_files: WriteFile[] };
const fileIn = (text: string, path: string): WriteFile => {
    const f = doc(text).write_files.find((w) => w.path === path);
    if (!f) throw new Error(`no ${path}`);
    return f;
};
const decoded = (f: WriteFile) => (f.encoding === "gz+b64" ? gunzipSync(Buffer.from(f.content, "base64")).toString("utf8") : f.content);

const work = mkdtempSync(join(tmpdir(), "gateway-ha-cloudinit-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("#cloud-config document", () => {
    const text = renderCloudConfig(BOOT);

    it("is YAML with the cloud-config header, installing Docker, Compose and the AWS CLI", () => {
        expect(text.startsWith("#cloud-config\n")).toBe(true);
        const d = doc(text);
        expect(d.packages).toEqual(["docker.io", "docker-compose-v2"]);
        expect(d.snap.commands).toEqual(["snap install aws-cli --classic"]);
        for (const f of d.write_files) expect(f.owner).toBe("root:root");
    });

    it("writes the compose file, every plain file, the secrets manifest, the task, apply and per-boot scripts", () => {
        expect(doc(text).write_files.map((f) => f.path).sort()).toEqual(
            [
                NODE_PATHS.compose,
                `${NODE_PATHS.files}/node-1-etcd/etc/etcd/pki/ca.crt`,
                `${NODE_PATHS.files}/node-1-apisix-cp/usr/local/apisix/conf/config.yaml`,
                NODE_PATHS.secretsManifest,
                NODE_PATHS.fetchSecrets,
                `${NODE_PATHS.tasks}/gateway-ha-etcd-bootstrap.sh`,
                NODE_PATHS.apply,
                NODE_PATHS.perBoot,
            ].sort(),
        );
        expect(fileIn(text, `${NODE_PATHS.files}/node-1-etcd/etc/etcd/pki/ca.crt`).content).toBe("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
        expect(decoded(fileIn(text, `${NODE_PATHS.tasks}/gateway-ha-etcd-bootstrap.sh`))).toBe(renderTaskScript(BOOT.tasks[0]));
        expect(decoded(fileIn(text, NODE_PATHS.perBoot))).toBe(PER_BOOT_SCRIPT);
        expect(decoded(fileIn(text, NODE_PATHS.fetchSecrets))).toBe(FETCH_SECRETS_PY);
        expect(fileIn(text, NODE_PATHS.perBoot).permissions).toBe("0700");
    });

    it("names secrets only by parameter: the manifest maps each to its file or env file", () => {
        expect(JSON.parse(fileIn(text, NODE_PATHS.secretsManifest).content)).toEqual(secretsManifest(BOOT));
        expect(secretsManifest(BOOT)).toEqual([
            { parameter: "/gateway-ha/s/node-1/etcd/files/etc/etcd/pki/member.key", file: `${NODE_PATHS.secrets}/node-1-etcd/etc/etcd/pki/member.key` },
            { parameter: "/gateway-ha/s/node-1/apisix-cp/env/GATEWAY_HA_ADMIN_KEY", envFile: `${NODE_PATHS.env}/node-1-apisix-cp.env`, name: "GATEWAY_HA_ADMIN_KEY" },
            { parameter: "/gateway-ha/s/node-1/tasks/gateway-ha-etcd-bootstrap/env/ETCD_ROOT_PASSWORD", envFile: `${NODE_PATHS.env}/gateway-ha-etcd-bootstrap.env`, name: "ETCD_ROOT_PASSWORD" },
        ]);
        expect(doc(text).write_files.map((f) => f.path)).not.toContain(`${NODE_PATHS.files}/node-1-etcd/etc/etcd/pki/member.key`);
    });

    it("renders the same bytes every time (no spurious user-data diffs)", () => {
        expect(renderCloudConfig(BOOT)).toBe(text);
        expect(gzipBase64("x")).toBe(gzipBase64("x"));
        expect(Buffer.from(gzipBase64("x"), "base64")[9]).toBe(3);
    });
});

describe("compose file", () => {
    const compose = parse(renderCompose(BOOT)) as Compose;

    it("has every service with its image, command, host networking and restart policy", () => {
        expect(compose.name).toBe("gateway-ha");
        expect(Object.keys(compose.services)).toEqual(["node-1-etcd", "node-1-apisix-cp"]);
        for (const s of BOOT.services) {
            const c = compose.services[s.name];
            expect(c).toMatchObject({ image: s.image, container_name: s.name, network_mode: "host", restart: "unless-stopped", cpus: 2, mem_limit: "4096m" });
            expect(c.command).toEqual(s.command);
            // The same labels the Docker target sets: `docker ps --filter label=…` finds services alike on every target.
            expect(c.labels).toEqual(s.labels);
        }
    });

    it("health checks are exec form", () => {
        expect(compose.services["node-1-etcd"].healthcheck).toEqual({ test: ["CMD", "/usr/local/bin/etcdctl", "endpoint", "health"], interval: "5s", timeout: "3s", retries: 5, start_period: "20s" });
        expect(compose.services["node-1-apisix-cp"].healthcheck).toBeUndefined();
    });

    it("mounts files read-only (secrets from tmpfs) and the data volume from its EBS mount point", () => {
        expect(compose.services["node-1-etcd"].volumes).toEqual([
            { type: "bind", source: `${NODE_PATHS.files}/node-1-etcd/etc/etcd/pki/ca.crt`, target: "/etc/etcd/pki/ca.crt", read_only: true },
            { type: "bind", source: `${NODE_PATHS.secrets}/node-1-etcd/etc/etcd/pki/member.key`, target: "/etc/etcd/pki/member.key", read_only: true },
            { type: "bind", source: `${NODE_PATHS.volumes}/node-1-etcd-data/data`, target: "/var/lib/etcd" },
        ]);
        expect(compose.services["node-1-apisix-cp"].env_file).toEqual([`${NODE_PATHS.env}/node-1-apisix-cp.env`]);
        expect(compose.services["node-1-etcd"].env_file).toBeUndefined();
    });
});

describe("boot scripts", () => {
    const apply = renderApplyScript(BOOT);

    it.each([
        ["apply", apply],
        ["per-boot", PER_BOOT_SCRIPT],
        ["task", renderTaskScript(BOOT.tasks[0])],
    ])("%s script passes sh -n", (_, script) => {
        const r = spawnSync("sh", ["-n"], { input: script, encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
    });

    it("apply: finds the EBS volume by its NVMe serial, formats only an empty one, mounts it nofail, then starts services and retries the task", () => {
        expect(apply).toContain("mount_volume /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0 /var/lib/gateway-ha/volumes/node-1-etcd-data");
        // A filesystem made on this boot marks it (tmpfs) for the health gate: a new member, its cluster maybe forming.
        expect(apply).toContain(`blkid "$dev" >/dev/null || { mkfs.ext4 -q "$dev"; : >${NODE_PATHS.freshVolume}; }`);
        expect(apply).toContain("defaults,nofail");
        const order = ["mount_volume /dev", "fetch-secrets.py", "docker compose -f /opt/gateway-ha/compose.yaml up -d", `: >${NODE_PATHS.servicesUp}`, "sh /opt/gateway-ha/tasks/gateway-ha-etcd-bootstrap.sh"].map((s) => apply.indexOf(s));
        expect(order.every((i) => i >= 0)).toBe(true);
        expect([...order].sort((a, b) => a - b)).toEqual(order);
        expect(apply).toMatch(/\[ \$n -lt 20 \]/);
    });

    it("task: tool runs the argv in the service's container forwarding toolEnv, after loading the task's env", () => {
        const task = renderTaskScript(BOOT.tasks[0]);
        expect(task).toContain(`set -a; . ${NODE_PATHS.env}/gateway-ha-etcd-bootstrap.env; set +a`);
        expect(task).toContain(`tool() { docker exec -i -e ETCDCTL_USER 'node-1-etcd' '/usr/local/bin/etcdctl' '--endpoints=https://10.42.0.11:2379' "$@"; }`);
        expect(task.endsWith(BOOT.tasks[0].script)).toBe(true);
        // With a stand-in docker that records its argv, tool passes arguments through unchanged.
        const bin = join(work, "docker-bin");
        mkdirSync(bin, { recursive: true });
        writeFileSync(join(bin, "docker"), `#!/bin/sh\nprintf '%s|' "$@" >> ${work}/docker.log\n`);
        chmodSync(join(bin, "docker"), 0o755);
        const envDir = join(work, "env");
        mkdirSync(envDir, { recursive: true });
        const local = task.replace(`${NODE_PATHS.env}/`, `${envDir}/`);
        writeFileSync(join(envDir, "gateway-ha-etcd-bootstrap.env"), "ETCD_ROOT_PASSWORD='pw'\n");
        const r = spawnSync("sh", ["-c", local], { encoding: "utf8", env: { PATH: `${bin}:${process.env.PATH}` } });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toBe("bootstrap done\n");
        expect(readFileSync(join(work, "docker.log"), "utf8")).toBe("exec|-i|-e|ETCDCTL_USER|node-1-etcd|/usr/local/bin/etcdctl|--endpoints=https://10.42.0.11:2379|endpoint|health|");
    });

    it("per-boot: rewrites every file of the current user data, decoding compressed ones, with its permissions", () => {
        const dir = join(work, "per-boot");
        mkdirSync(dir, { recursive: true });
        const relocated = doc(renderCloudConfig(BOOT));
        for (const f of relocated.write_files) f.path = `${dir}${f.path}`;
        writeFileSync(join(dir, "user-data"), `#cloud-config\n${stringify(relocated)}`);
        const writer = /<<'EOF'\n([\s\S]*?)\nEOF\n/.exec(PER_BOOT_SCRIPT)![1];
        const r = spawnSync(PYTHON, ["-", join(dir, "user-data")], { input: writer, encoding: "utf8", timeout: 30_000 });
        expect(r.status, r.stderr).toBe(0);
        const task = `${dir}${NODE_PATHS.tasks}/gateway-ha-etcd-bootstrap.sh`;
        expect(readFileSync(task, "utf8")).toBe(renderTaskScript(BOOT.tasks[0]));
        expect(statSync(task).mode & 0o777).toBe(0o700);
        expect(readFileSync(`${dir}${NODE_PATHS.compose}`, "utf8")).toBe(renderCompose(BOOT));
        expect(statSync(`${dir}${NODE_PATHS.compose}`).mode & 0o777).toBe(0o644);
    });

    it.skipIf(!existsSync(HOST_CA_BUNDLE))("per-boot: a file marked systemRoots is the host's CA bundle followed by its content; user data carries only the content", () => {
        const dir = join(work, "per-boot-roots");
        mkdirSync(dir, { recursive: true });
        const extra = "-----BEGIN CERTIFICATE-----\nETCD-CA\n-----END CERTIFICATE-----\n";
        const bundlePath = "/usr/local/apisix/conf/etcd-pki/trusted.crt";
        const boot: NodeBoot = { ...BOOT, services: [{ ...BOOT.services[1]!, files: [{ path: bundlePath, content: extra, systemRoots: true }] }], tasks: [] };
        const userData = renderCloudConfig(boot);
        const written = doc(userData).write_files.find((f) => f.path.endsWith(bundlePath + SYSTEM_ROOTS_SUFFIX));
        expect(written?.content).toBe(extra);
        expect(Buffer.byteLength(userData)).toBeLessThan(USER_DATA_LIMIT);
        const relocated = doc(userData);
        for (const f of relocated.write_files) f.path = `${dir}${f.path}`;
        writeFileSync(join(dir, "user-data"), `#cloud-config\n${stringify(relocated)}`);
        const writer = /<<'EOF'\n([\s\S]*?)\nEOF\n/.exec(PER_BOOT_SCRIPT)![1];
        const r = spawnSync(PYTHON, ["-", join(dir, "user-data")], { input: writer, encoding: "utf8", timeout: 30_000 });
        expect(r.status, r.stderr).toBe(0);
        const installed = `${dir}${NODE_PATHS.files}/node-1-apisix-cp${bundlePath}`;
        expect(readFileSync(installed, "utf8")).toBe(`${readFileSync(HOST_CA_BUNDLE, "utf8")}\n${extra}`);
        expect(existsSync(installed + SYSTEM_ROOTS_SUFFIX)).toBe(false);
        // The Compose file mounts the combined file, not the marked one.
        expect(renderCompose(boot)).toContain(`source: ${NODE_PATHS.files}/node-1-apisix-cp${bundlePath}\n`);
    });

    it("the secrets fetcher writes files byte for byte and env files Compose and sh both read literally", () => {
        const dir = join(work, "fetch");
        const bin = join(dir, "bin");
        mkdirSync(bin, { recursive: true });
        const values: Record<string, string> = { "/p/key": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n", "/p/pw": "s3cr$t`x\\y" };
        writeFileSync(join(dir, "parameters.json"), JSON.stringify({ Parameters: Object.entries(values).map(([Name, Value]) => ({ Name, Value })), InvalidParameters: [] }));
        writeFileSync(join(bin, "aws"), `#!/bin/sh\necho "$@" >> ${dir}/aws.log\ncat ${dir}/parameters.json\n`);
        chmodSync(join(bin, "aws"), 0o755);
        const manifest = [
            { parameter: "/p/key", file: join(dir, "secrets/svc/key.pem") },
            { parameter: "/p/pw", envFile: join(dir, "env/svc.env"), name: "PW" },
        ];
        writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
        writeFileSync(join(dir, "fetch.py"), FETCH_SECRETS_PY);
        const r = spawnSync(PYTHON, [join(dir, "fetch.py"), "eu-west-1", join(dir, "manifest.json")], { encoding: "utf8", env: { PATH: `${bin}:${process.env.PATH}` }, timeout: 30_000 });
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(join(dir, "secrets/svc/key.pem"), "utf8")).toBe(values["/p/key"]);
        expect(readFileSync(join(dir, "env/svc.env"), "utf8")).toBe("PW='s3cr$t`x\\y'\n");
        const sourced = spawnSync("sh", ["-c", `set -a; . ${dir}/env/svc.env; printf %s "$PW"`], { encoding: "utf8" });
        expect(sourced.stdout).toBe(values["/p/pw"]);
        expect(readFileSync(join(dir, "aws.log"), "utf8")).toBe("ssm get-parameters --region eu-west-1 --with-decryption --output json --names /p/key /p/pw\n");
    });

    it("the secrets fetcher refuses an env value with a quote", () => {
        const dir = join(work, "fetch-bad");
        const bin = join(dir, "bin");
        mkdirSync(bin, { recursive: true });
        writeFileSync(join(bin, "aws"), `#!/bin/sh\necho '{"Parameters": [{"Name": "/p/pw", "Value": "a'"'"'b"}], "InvalidParameters": []}'\n`);
        chmodSync(join(bin, "aws"), 0o755);
        writeFileSync(join(dir, "manifest.json"), JSON.stringify([{ parameter: "/p/pw", envFile: join(dir, "x.env"), name: "PW" }]));
        writeFileSync(join(dir, "fetch.py"), FETCH_SECRETS_PY);
        const r = spawnSync(PYTHON, [join(dir, "fetch.py"), "eu-west-1", join(dir, "manifest.json")], { encoding: "utf8", env: { PATH: `${bin}:${process.env.PATH}` }, timeout: 30_000 });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("/p/pw holds a quote or newline");
        expect(existsSync(join(dir, "x.env"))).toBe(false);
    });
});

describe("size limit", () => {
    it("fails naming the node above 16 KiB", () => {
        expect(checkUserDataSize("etcd-1", "x".repeat(USER_DATA_LIMIT))).toHaveLength(USER_DATA_LIMIT);
        expect(() => checkUserDataSize("etcd-1", "x".repeat(USER_DATA_LIMIT + 1))).toThrow(/node etcd-1: its user data is 16385 bytes, over AWS's limit of 16384/);
    });

    it("etcd member 1 of 7, with its bootstrap and real-size certificates, fits", () => {
        const { spec, topology } = loadPlatform(
            { "gateway-ha:target": "aws", "gateway-ha:aws": JSON.stringify({ region: "eu-west-1" }), "gateway-ha:etcd": JSON.stringify({ members: 7 }) },
            { project: "gateway-ha", stack: "production-eu-west-1" },
        );
        const pem = `-----BEGIN CERTIFICATE-----\n${"A".repeat(64)}\n`.repeat(12) + "-----END CERTIFICATE-----\n";
        const boot = userDataOfFirstMember(spec, topology, pem);
        const size = Buffer.byteLength(renderCloudConfig(boot));
        expect(size).toBeLessThan(USER_DATA_LIMIT - 2048);
    });
});

function userDataOfFirstMember(spec: ReturnType<typeof loadPlatform>["spec"], topology: ReturnType<typeof loadPlatform>["topology"], pem: string): NodeBoot {
    const node = topology.byRole.etcd[0];
    const prefix = `/gateway-ha/${spec.stack}/${node.name}`;
    return {
        node: node.name,
        region: spec.aws.region,
        cpus: 2,
        memoryGb: 4,
        services: [
            {
                name: `${node.name}-etcd`,
                image: spec.etcd.image,
                command: ["/usr/local/bin/etcd", ...etcdMemberArgs(spec, topology, 0)],
                env: [],
                files: [
                    { path: "/etc/etcd/pki/ca.crt", content: pem },
                    { path: "/etc/etcd/pki/member.crt", content: pem },
                    { path: "/etc/etcd/pki/member.key", parameter: `${prefix}/etcd/files/etc/etcd/pki/member.key` },
                ],
                volumes: [{ name: `${node.name}-etcd-data`, containerPath: ETCD_CONTAINER_PATHS.dataDir, volumeId: "vol-0123456789abcdef0" }],
                healthCheck: { command: ["/usr/local/bin/etcdctl", ...etcdctlConnectionArgs(spec, topology, 0), "endpoint", "health"], intervalSeconds: 5, timeoutSeconds: 3, retries: 5, startPeriodSeconds: 20 },
                labels: { "gateway-ha.node": node.name },
            },
        ],
        tasks: [
            {
                name: "gateway-ha-etcd-bootstrap",
                container: `${node.name}-etcd`,
                toolArgv: ["/usr/local/bin/etcdctl", ...etcdctlConnectionArgs(spec, topology)],
                toolEnv: ["ETCDCTL_USER"],
                script: renderEtcdBootstrapScript(spec, topology),
                env: ["ROOT", "CONTROL_PLANE", "GATEWAY"].map((u) => ({ name: `ETCD_${u}_PASSWORD`, parameter: `${prefix}/tasks/gateway-ha-etcd-bootstrap/env/ETCD_${u}_PASSWORD` })),
            },
        ],
    };
}

describe.skipIf(!haveCloudInit)("cloud-init schema (the real validator)", () => {
    const check = (name: string, text: string) => {
        const file = join(work, `${name}.yaml`);
        writeFileSync(file, text);
        return spawnSync(CLOUD_INIT, ["schema", "--config-file", file], { encoding: "utf8", timeout: 30_000 });
    };

    it("accepts the rendered documents", () => {
        const { spec, topology } = loadPlatform({ "gateway-ha:target": "aws", "gateway-ha:aws": JSON.stringify({ region: "eu-west-1" }) }, { project: "gateway-ha", stack: "s" });
        for (const [name, text] of [
            ["node", renderCloudConfig(BOOT)],
            ["etcd-1", renderCloudConfig(userDataOfFirstMember(spec, topology, "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n"))],
            ["no-secrets", renderCloudConfig({ ...BOOT, services: [{ ...BOOT.services[1], env: [] }], tasks: [] })],
        ]) {
            const r = check(name, text);
            expect(r.status, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
            expect(r.stdout).toContain("Valid cloud-config");
        }
    });

    it("rejects a document it should (the validator is really checking)", () => {
        const r = check("bad", "#cloud-config\nwrite_files:\n- path: /x\n  content: 1\n");
        expect(r.status).not.toBe(0);
        expect(`${r.stdout}${r.stderr}`).toMatch(/write_files\.0\.content/);
    });
});
