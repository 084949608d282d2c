// scripts/preview-offline.ts as users run it: a child process per invocation (run in parallel),
// checked on its JSON document, its tree output, the files it writes and its exit codes.
import { testDpIdentity } from "../config";
import { identitySets } from "../../lab/standins/dpIdentity";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers";
import { resourceTree } from "../../scripts/preview-offline";

const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const SCRIPT = path.join(ROOT, "scripts", "preview-offline.ts");

interface Result {
    code: number | null;
    stdout: string;
    stderr: string;
}

function preview(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
    return new Promise((resolve, reject) => {
        const child = spawn(TSX, [SCRIPT, ...args], { cwd: ROOT, env: { ...env, NO_COLOR: "1" } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

interface Doc {
    project: string;
    stack: string;
    resources: { type: string; name: string; inputs: Record<string, unknown> }[];
    outputs: Record<string, unknown>;
    files: { node: string; path: string; content: string }[];
    placeholders: string[];
}

const labelOf = (r: Doc["resources"][number], key: string) =>
    (Array.isArray(r.inputs.labels) ? (r.inputs.labels as { label: string; value: string }[]) : []).find((l) => l.label === key)?.value;
const servicesOf = (doc: Doc, role: string) =>
    doc.resources.filter((r) => r.type === "docker:index/container:Container" && labelOf(r, "gateway-ha.role") === role).map((r) => r.name).sort();
const parseDoc = (r: Result): Doc => {
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Doc;
};

/** Every file under dir, relative, sorted. */
function listFiles(dir: string): string[] {
    return fs
        .readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
        .sort();
}

let tmp: string;
let outDir: string;
let json: Result;
let tree: Result;
let bad: Result;
let compact: Result;
let prod: Result;

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-ha-preview-"));
    outDir = path.join(tmp, "out");
    const badFile = path.join(tmp, "Pulumi.bad.yaml");
    fs.writeFileSync(badFile, "config:\n  gateway-ha:etcd:\n    members: 4\n");
    const compactFile = path.join(tmp, "Pulumi.compact.yaml");
    fs.writeFileSync(compactFile, "config:\n  gateway-ha:layout: compact\n");
    // No AWS credentials anywhere: no AWS_* variables, and a HOME without ~/.aws.
    const noAws = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")));
    [json, tree, bad, compact, prod] = await Promise.all([
        preview(["--stack", "dev", "--json"]),
        preview(["--stack", "dev", "--out", outDir]),
        preview(["--stack", "bad", "--config-file", badFile]),
        preview(["--stack", "compact", "--config-file", compactFile, "--json"]),
        // With the gateway group's identity, as the second `pulumi up` of an API7 v3 stack has it.
        preview(["--stack", "prod", "--json", "--set", identitySets(testDpIdentity())[0]], { ...noAws, HOME: tmp }),
    ]);
}, 60_000);

afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("--json (stack dev)", () => {
    it("is one document with project, stack, resources, outputs and files", () => {
        const doc = parseDoc(json);
        expect(doc.project).toBe("gateway-ha");
        expect(doc.stack).toBe("dev");
        expect(doc.resources.length).toBeGreaterThan(20);
        for (const r of doc.resources) {
            expect(typeof r.type).toBe("string");
            expect(typeof r.name).toBe("string");
            expect(r.inputs).toBeTypeOf("object");
        }
        expect(doc.resources.map((r) => r.type)).not.toContain("pulumi:pulumi:Stack");
        expect(doc.outputs).toMatchObject({ flavor: "apisix", layout: "standard", target: "docker", gatewayUrl: "http://127.0.0.1:9080" });
    });

    it("holds the standard platform: 3 etcd members, 2 control-plane and 2 gateway services, both balancers", () => {
        const doc = parseDoc(json);
        expect(servicesOf(doc, "etcd")).toEqual(["etcd-1-etcd", "etcd-2-etcd", "etcd-3-etcd"]);
        expect(servicesOf(doc, "control-plane")).toEqual(["cp-1-apisix-cp", "cp-2-apisix-cp"]);
        expect(servicesOf(doc, "data-plane")).toEqual(["dp-1-gateway", "dp-2-gateway"]);
        expect(servicesOf(doc, "load-balancer")).toEqual(["lb-1-control-plane-lb", "lb-1-gateway-lb"]);
    });

    it("lists each node's rendered files, balancers included", () => {
        const doc = parseDoc(json);
        const lb = doc.files.filter((f) => f.node === "lb-1");
        expect(lb.map((f) => f.path).sort()).toEqual([
            "/usr/local/etc/haproxy/control-plane-lb.cfg",
            "/usr/local/etc/haproxy/control-plane-lb.pem",
            "/usr/local/etc/haproxy/gateway-lb.cfg",
            "/usr/local/etc/haproxy/management-ca.crt",
        ]);
        const addr = (n: string) => (doc.outputs.nodes as Record<string, { address: string }>)[n].address;
        const gwLb = lb.find((f) => f.path.endsWith("gateway-lb.cfg"))!.content;
        for (const dp of ["dp-1", "dp-2"]) expect(gwLb).toContain(`server ${dp} ${addr(dp)}:80`);
        const cpLb = lb.find((f) => f.path.endsWith("control-plane-lb.cfg"))!.content;
        for (const cp of ["cp-1", "cp-2"]) expect(cpLb).toContain(`${addr(cp)}:9180`);
        const gwConf = doc.files.find((f) => f.node === "dp-1" && f.path === "/usr/local/apisix/conf/config.yaml");
        expect(gwConf?.content).toContain("role: data_plane");
        expect(new Set(doc.files.map((f) => f.node))).toEqual(new Set(["etcd-1", "etcd-2", "etcd-3", "cp-1", "cp-2", "dp-1", "dp-2", "lb-1"]));
    });

    it("shows private keys and secret outputs only as [secret]", () => {
        const doc = parseDoc(json);
        const keys = doc.files.filter((f) => f.path.endsWith(".key"));
        expect(keys.map((f) => `${f.node}:${path.basename(f.path)}`).sort()).toEqual(
            ["cp-1:client.key", "cp-1:tls.key", "cp-2:client.key", "cp-2:tls.key", "dp-1:client.key", "dp-2:client.key", "etcd-1:member.key", "etcd-2:member.key", "etcd-3:member.key"],
        );
        for (const f of keys) expect(f.content).toBe("[secret]");
        // haproxy's certificate file holds its key too.
        expect(doc.files.find((f) => f.node === "lb-1" && f.path.endsWith("control-plane-lb.pem"))?.content).toBe("[secret]");
        expect(doc.outputs.adminKey).toBe("[secret]");
        expect(doc.outputs.etcdCredentials).toBe("[secret]");
        expect(json.stdout).not.toContain("PRIVATE KEY");
        // The certificates themselves are public and shown.
        expect(doc.files.find((f) => f.node === "etcd-1" && f.path.endsWith("member.crt"))?.content).toMatch(/^-----BEGIN CERTIFICATE-----/);
    });

    it("shows generated passwords (env vars, the bootstrap's environment) only as [secret]", () => {
        // The real engine returns RandomPassword.result as a secret (additionalSecretOutputs); the
        // preview must show every input built from one as "[secret]", never the stand-in value.
        const doc = parseDoc(json);
        const plain: string[] = [];
        const walk = (v: unknown, at: string): void => {
            if (typeof v === "string") {
                if (/mockpw-/.test(v)) plain.push(`${at}: ${v}`);
            } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
            else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
        };
        for (const r of doc.resources) walk(r.inputs, r.name);
        walk(doc.outputs, "outputs");
        walk(doc.files, "files");
        expect(plain).toEqual([]);
    });
});

describe("tree output and --out DIR (stack dev)", () => {
    it("prints the resource tree and the counts by type", () => {
        expect(tree.code, tree.stderr).toBe(0);
        const doc = parseDoc(json);
        const out = tree.stdout;
        expect(out).toContain("Offline rendering of stack dev (project gateway-ha)");
        expect(out).toMatch(/^gateway-ha:index:GatewayPlatform {2}gateway-ha$/m);
        expect(out).toMatch(/^ {4}docker:index\/container:Container {2}etcd-1-etcd$/m);
        const section = out.slice(out.indexOf("Resources by type:"), out.indexOf("Outputs:"));
        const counts = new Map<string, number>();
        for (const r of doc.resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
        for (const [type, n] of counts) expect(section).toMatch(new RegExp(`^ +${n} {2}${type.replace(/[$/]/g, "\\$&")}$`, "m"));
        expect(section).toMatch(new RegExp(`^ +${doc.resources.length} {2}total$`, "m"));
        expect(counts.get("docker:index/volume:Volume")).toBe(3);
        expect(out).toContain("adminKey: [secret]");
        expect(out).toContain(`Rendered files: ${doc.files.length} (written under ${outDir})`);
    });

    it("writes every rendered file to DIR/<node>/<path>", () => {
        const doc = parseDoc(json);
        expect(listFiles(outDir)).toEqual(doc.files.map((f) => path.join(f.node, f.path)).sort());
        for (const f of doc.files) expect(fs.readFileSync(path.join(outDir, f.node, f.path), "utf8")).toBe(f.content);
        expect(fs.readFileSync(path.join(outDir, "etcd-1", "etc/etcd/pki/member.key"), "utf8")).toBe("[secret]");
        expect(fs.readFileSync(path.join(outDir, "lb-1", "usr/local/etc/haproxy/gateway-lb.cfg"), "utf8")).toContain("backend be_gateway_http");
    });
});

describe("--config-file", () => {
    it("a bad config exits 2 naming the key, the value and the rule, and renders nothing", () => {
        expect(bad.code).toBe(2);
        expect(bad.stderr).toContain("gateway-ha:etcd.members = 4");
        expect(bad.stderr).toMatch(/odd/);
        expect(bad.stdout).toBe("");
    });

    it("renders the compact layout: etcd and the control plane share node-1 and node-2", () => {
        const doc = parseDoc(compact);
        expect(doc.stack).toBe("compact");
        expect(doc.outputs.layout).toBe("compact");
        const nodesOf = (role: string) =>
            doc.resources
                .filter((r) => r.type === "docker:index/container:Container" && labelOf(r, "gateway-ha.role") === role)
                .map((r) => labelOf(r, "gateway-ha.node"))
                .sort();
        expect(nodesOf("etcd")).toEqual(["node-1", "node-2", "node-3"]);
        expect(nodesOf("control-plane")).toEqual(["node-1", "node-2"]);
        expect(nodesOf("data-plane")).toEqual(["node-4", "node-5"]);
        const filesOn = (node: string) => doc.files.filter((f) => f.node === node).map((f) => f.path);
        for (const n of ["node-1", "node-2"]) expect(filesOn(n)).toEqual(expect.arrayContaining(["/etc/etcd/pki/member.crt", "/usr/local/apisix/conf/config.yaml"]));
        expect(filesOn("node-3")).not.toContain("/usr/local/apisix/conf/config.yaml");
        // Services on one node share its network namespace.
        const modes = doc.resources.filter((r) => labelOf(r, "gateway-ha.node") === "node-1" && labelOf(r, "gateway-ha.role")).map((r) => r.inputs.networkMode);
        expect(modes).toHaveLength(2);
        expect(new Set(modes)).toEqual(new Set(["container:gateway-ha-docker-node-1-id"]));
    });
});

describe("--json (stack prod: api7-v3 on AWS, with no AWS credentials)", () => {
    it("renders: EC2 nodes over three zones, two NLBs, the fallback buckets, the outputs", () => {
        const doc = parseDoc(prod);
        expect(doc.outputs).toMatchObject({ flavor: "api7-v3", target: "aws", layout: "standard", etcdEndpoints: [] });
        const instances = doc.resources.filter((r) => r.type === "aws:ec2/instance:Instance");
        expect(instances.map((r) => (r.inputs.tags as Record<string, string>)["gateway-ha:node"]).sort()).toEqual(["cp-1", "cp-2", "dp-1", "dp-2", "dp-3"]);
        expect(new Set(instances.map((r) => r.inputs.subnetId)).size).toBe(3);
        expect(doc.resources.filter((r) => r.type === "aws:lb/loadBalancer:LoadBalancer")).toHaveLength(2);
        expect(doc.resources.filter((r) => r.type === "aws:s3/bucket:Bucket").map((r) => r.inputs.bucket).sort()).toEqual([
            "example-gateway-ha-prod-config",
            "example-gateway-ha-prod-resources",
        ]);
        expect(doc.outputs.fallbackBuckets).toEqual({
            config: "example-gateway-ha-prod-config",
            resource: "example-gateway-ha-prod-resources",
            region: "eu-west-1",
            endpoint: "",
            mode: "connected",
        });
        expect((doc.outputs.balancerDnsNames as { gateway: string }).gateway).toMatch(/elb\.amazonaws\.com$/);
    });

    it("stands a placeholder in for the DSN the stack file leaves to `pulumi config set --secret`, and never shows it", () => {
        const doc = parseDoc(prod);
        expect(doc.placeholders).toEqual(["controlPlane.databaseDsn"]);
        expect(prod.stdout).not.toContain("postgres://placeholder");
    });

    it("lists each node's files from its user data; secret files only as SSM parameters shown [secret]", () => {
        const doc = parseDoc(prod);
        const of = (node: string) => doc.files.filter((f) => f.node === node);
        expect(of("dp-1").map((f) => f.path)).toContain("/opt/gateway-ha/files/dp-1-gateway/usr/local/apisix/conf/config.yaml");
        expect(of("dp-1").find((f) => f.path.endsWith("config.yaml"))?.content).toContain("https://10.42.0.10:7943");
        const dashboard = of("cp-1").find((f) => f.path.includes("dashboard/files/app/conf/config.yaml"));
        expect(dashboard).toEqual({ node: "cp-1", path: "ssm:/gateway-ha/prod/cp-1/dashboard/files/app/conf/config.yaml", content: "[secret]" });
        expect(of("cp-1").map((f) => f.path)).not.toContain("/app/conf/config.yaml");
        // The gateways' DP Manager key is a secret file: an SSM parameter, never shown.
        expect(of("dp-1").find((f) => f.path.endsWith("/dp-pki/tls.key"))).toEqual({ node: "dp-1", path: "ssm:/gateway-ha/prod/dp-1/gateway/files/usr/local/apisix/conf/dp-pki/tls.key", content: "[secret]" });
        expect(prod.stdout).not.toContain(testDpIdentity().privateKey.split("\n")[1]);
    });
});

describe("the preview's resource tree", () => {
    it("puts each resource under the parent the engine recorded, not one its name suggests", () => {
        const urn = (type: string, name: string) => `urn:pulumi:s::p::${type}::${name}`;
        const resource = (type: string, name: string) => ({ type, name, urn: urn(type, name), inputs: {}, state: {} });
        const registration = (type: string, name: string, parent: string) => ({ type, name, parent, retainOnDelete: false, protect: false, deleteBeforeReplace: false, ignoreChanges: [], provider: "", dependencies: [], aliases: [] });
        const C = "gateway-ha:x:Component";
        const R = "docker:index/container:Container";
        const run = {
            resources: [resource(C, "a"), resource(C, "ab"), resource(R, "ab-1"), resource(R, "c")],
            // "ab-1" is a's child, though its name starts with "ab"; "c" is the stack's.
            registrations: [registration(C, "a", "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"), registration(C, "ab", urn(C, "a")), registration(R, "ab-1", urn(C, "a")), registration(R, "c", "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s")],
        };
        expect(resourceTree(run)).toEqual([`${C}  a`, `  ${C}  ab`, `  ${R}  ab-1`, `${R}  c`]);
    });
});
