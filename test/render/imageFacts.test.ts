// Reading an image's start and user where it is pulled (render/imageFacts.ts): the deployer's and
// hosts' script (docker, ssh targets) and the boot's Python (aws), each run by the real sh or
// python3 against a `docker` stand-in that answers as Docker's CLI does for an image like API7's:
// `image inspect` (whole JSON, or the Go template `{{json .Config.X}}`), `pull`, and `run` of `id`.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { IMAGE_FACTS_PY, NODE_PATHS, OWNER_FROM_IMAGE, imageFactsManifest, renderApplyScript, renderCompose, secretsManifest, type NodeBoot } from "../../components/render/cloudInit";
import { parseImageFacts, renderImageFactsScript } from "../../components/render/imageFacts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const dir = mkdtempSync(join(tmpdir(), "gwha-image-facts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const IMAGE = "api7/api7-ee-3-gateway:3.2.16.3";
const uid = process.getuid!();
const gid = process.getgid!();

/**
 * A `docker` with one image, IMAGE, pulled only once asked to (unless `pulled`). `run` answers only
 * the exact `id` the steps run, as the image's user (here this test's own, so that chown works unprivileged).
 */
function dockerStandIn(name: string, config: { Entrypoint: string[] | null; Cmd: string[] | null }, pulled: boolean): string {
    const bin = join(dir, name);
    mkdirSync(bin, { recursive: true });
    const state = join(bin, "pulled");
    if (pulled) writeFileSync(state, "");
    const json = (v: unknown) => JSON.stringify(v).replace(/'/g, `'\\''`);
    writeFileSync(
        join(bin, "docker"),
        `#!/bin/sh
echo "$*" >> ${bin}/calls
have() { [ "$1" = ${IMAGE} ] && [ -e ${state} ]; }
case "$1 $2" in
"image inspect")
    shift 2
    fmt=""
    [ "$1" != -f ] || { fmt=$2; shift 2; }
    have "$1" || { echo "Error: No such image: $1" >&2; exit 1; }
    case "$fmt" in
    "") printf '%s\\n' '[{"Id":"sha256:abc","Config":${json(config)}}]' ;;
    '{{json .Config.Entrypoint}}') printf '%s\\n' '${json(config.Entrypoint)}' ;;
    '{{json .Config.Cmd}}') printf '%s\\n' '${json(config.Cmd)}' ;;
    *) echo "stand-in: format $fmt" >&2; exit 2 ;;
    esac ;;
"pull -q")
    [ "$3" = ${IMAGE} ] || { echo "pull access denied for $3" >&2; exit 1; }
    : > ${state}; echo "docker.io/$3" ;;
"run --rm")
    have "$7" || { echo "Unable to find image '$7' locally" >&2; exit 125; }
    [ "$3 $4 $5 $6 $8 $9" = "--network none --entrypoint /bin/sh -c id -u; id -g" ] || { echo "stand-in: run $*" >&2; exit 2; }
    echo ${uid}; echo ${gid} ;;
*) echo "stand-in: docker $*" >&2; exit 2 ;;
esac
`,
        { mode: 0o755 },
    );
    return bin;
}

const run = (bin: string, argv: string[]) => spawnSync(argv[0], argv.slice(1), { encoding: "utf8", env: { PATH: `${bin}:${process.env.PATH}` }, timeout: 30_000 });

describe("the image facts script (docker and ssh targets)", () => {
    it("prints the image's entrypoint, command and user, pulling it first where this engine lacks it", () => {
        const bin = dockerStandIn("script-pull", { Entrypoint: ["/docker-entrypoint.sh"], Cmd: ["docker-start"] }, false);
        const r = run(bin, ["/bin/sh", "-c", renderImageFactsScript(IMAGE)]);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(parseImageFacts(IMAGE, r.stdout)).toEqual({ start: ["/docker-entrypoint.sh", "docker-start"], user: { uid, gid } });
        expect(readFileSync(join(bin, "calls"), "utf8")).toContain(`pull -q ${IMAGE}`);
    });

    it("does not pull an image the engine has; a command alone (no entrypoint) is the start", () => {
        const bin = dockerStandIn("script-cmd", { Entrypoint: null, Cmd: ["sh", "-c", "exec /usr/bin/apisix start"] }, true);
        const r = run(bin, ["/bin/sh", "-c", renderImageFactsScript(IMAGE)]);
        expect(r.status, r.stderr).toBe(0);
        expect(parseImageFacts(IMAGE, r.stdout).start).toEqual(["sh", "-c", "exec /usr/bin/apisix start"]);
        expect(readFileSync(join(bin, "calls"), "utf8")).not.toContain("pull");
    });

    it("fails when the image cannot be pulled", () => {
        const bin = dockerStandIn("script-missing", { Entrypoint: null, Cmd: ["x"] }, false);
        const r = run(bin, ["/bin/sh", "-c", renderImageFactsScript("api7/missing:1")]);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain("pull access denied");
    });

    it("refuses what is not an image's facts, naming the image", () => {
        expect(() => parseImageFacts(IMAGE, "null\nnull\n0\n0\n")).toThrow(`image ${IMAGE}: it has neither an entrypoint nor a command`);
        expect(() => parseImageFacts(IMAGE, '["/e"]\n{"a":1}\n0\n0\n')).toThrow(/its command is not a list of strings/);
        expect(() => parseImageFacts(IMAGE, "[/e]\nnull\n0\n0\n")).toThrow(/its entrypoint is not JSON/);
        expect(() => parseImageFacts(IMAGE, '["/e"]\nnull\napisix\n0\n')).toThrow(/its user's uid is not a number: apisix/);
        expect(() => parseImageFacts(IMAGE, '["/e"]\nnull\n0\n')).toThrow(/expected its entrypoint, command, uid and gid/);
        expect(parseImageFacts(IMAGE, '["/e"]\nnull\n0\n0\n')).toEqual({ start: ["/e"], user: { uid: 0, gid: 0 } });
    });
});

describe("the boot's image facts (aws target)", () => {
    const boot = (): NodeBoot => ({
        node: "dp-1",
        region: "eu-west-1",
        cpus: 2,
        memoryGb: 4,
        services: [
            {
                name: "dp-1-gateway",
                image: IMAGE,
                entrypoint: ["/bin/sh", "-c", "exec \"$@\"", "gateway-ha-env"],
                env: [],
                files: [{ path: "/run/gateway-ha/env/GATEWAY_HA_S3_ACCESS_KEY", parameter: "/p/key", owner: OWNER_FROM_IMAGE }, { path: "/usr/local/apisix/conf/config.yaml", content: "x" }],
                volumes: [],
                labels: {},
            },
            { name: "dp-1-other", image: "haproxy:3.0", command: ["haproxy"], env: [], files: [{ path: "/k", parameter: "/p/k", owner: "99:99" }], volumes: [], labels: {} },
        ],
        tasks: [],
    });

    it("lists only what the boot must read from an image, and merges the starts over the node's Compose file before it starts anything", () => {
        const b = boot();
        expect(imageFactsManifest(b)).toEqual([{ service: "dp-1-gateway", image: IMAGE, start: true, files: [`${NODE_PATHS.secrets}/dp-1-gateway/run/gateway-ha/env/GATEWAY_HA_S3_ACCESS_KEY`] }]);
        // Root's, 0400, from the fetch until the image's user is read.
        expect(secretsManifest(b)[0]).toMatchObject({ owner: "0:0" });
        const apply = renderApplyScript(b);
        const facts = apply.indexOf(`python3 ${NODE_PATHS.imageFacts} ${NODE_PATHS.imageFactsManifest} ${NODE_PATHS.composeImageStarts}`);
        const up = apply.indexOf(`docker compose -f ${NODE_PATHS.compose} -f ${NODE_PATHS.composeImageStarts} up`);
        expect(apply.indexOf(NODE_PATHS.fetchSecrets)).toBeGreaterThan(0);
        expect(facts).toBeGreaterThan(apply.indexOf(NODE_PATHS.fetchSecrets));
        expect(up).toBeGreaterThan(facts);
        const compose = parse(renderCompose(b)) as { services: Record<string, { entrypoint?: string[]; command?: string[] }> };
        expect(compose.services["dp-1-gateway"].entrypoint).toEqual(b.services[0].entrypoint);
        expect(compose.services["dp-1-gateway"]).not.toHaveProperty("command");
        // A node without such images keeps its one Compose file.
        const plain = renderApplyScript({ ...b, services: [b.services[1]] });
        expect(plain).not.toContain(NODE_PATHS.imageFacts);
        expect(plain).toContain(`docker compose -f ${NODE_PATHS.compose} up`);
    });

    it("writes each image's start as the service's command and gives its secret files to the image's user, read only", () => {
        const bin = dockerStandIn("py", { Entrypoint: ["/docker-entrypoint.sh"], Cmd: ["docker-start"] }, false);
        const secret = join(dir, "secret");
        writeFileSync(secret, "k3y", { mode: 0o644 });
        writeFileSync(join(dir, "manifest.json"), JSON.stringify([{ service: "dp-1-gateway", image: IMAGE, start: true, files: [secret] }]));
        writeFileSync(join(dir, "facts.py"), IMAGE_FACTS_PY);
        const out = join(dir, "starts.yaml");
        const r = run(bin, [PYTHON, join(dir, "facts.py"), join(dir, "manifest.json"), out]);
        expect(r.status, r.stderr).toBe(0);
        // JSON, which Compose reads as YAML: merged over compose.yaml, it sets the command alone.
        expect(parse(readFileSync(out, "utf8"))).toEqual({ services: { "dp-1-gateway": { command: ["/docker-entrypoint.sh", "docker-start"] } } });
        const st = statSync(secret);
        expect([st.uid, st.gid, st.mode & 0o777]).toEqual([uid, gid, 0o400]);
        expect(readFileSync(join(bin, "calls"), "utf8")).toContain(`pull -q ${IMAGE}`);
    });

    it("stops the boot on an image with nothing to start", () => {
        const bin = dockerStandIn("py-empty", { Entrypoint: null, Cmd: null }, true);
        writeFileSync(join(dir, "facts.py"), IMAGE_FACTS_PY);
        writeFileSync(join(dir, "manifest-empty.json"), JSON.stringify([{ service: "dp-1-gateway", image: IMAGE, start: true, files: [] }]));
        const r = run(bin, [PYTHON, join(dir, "facts.py"), join(dir, "manifest-empty.json"), join(dir, "starts-empty.yaml")]);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain(`gateway-ha: image ${IMAGE} has neither an entrypoint nor a command`);
    });
});
