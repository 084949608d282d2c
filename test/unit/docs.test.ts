// The README stays a few screens with the two commands a newcomer needs on its first; the docs/
// pages it leads to hold the rest, and every link between them (a file, a heading) resolves.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers";

function markdownFiles(): string[] {
    const out = ["README.md"];
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
            const rel = path.join(dir, e.name);
            if (e.isDirectory()) walk(rel);
            else if (e.name.endsWith(".md")) out.push(rel);
        }
    };
    walk("docs");
    return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
    return heading
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}_\- ]/gu, "")
        .replace(/ /g, "-");
}

function anchorsOf(text: string): Set<string> {
    const withoutCode = text.replace(/^```[\s\S]*?^```/gm, "");
    return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => headingSlug(m[1])));
}

/** Local links `[text](target)`, outside code blocks and spans. */
function linksOf(text: string): string[] {
    const prose = text.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
    return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/.test(t));
}

describe("docs", () => {
    const files = markdownFiles();

    it("the README's first screen gives the command that deploys the default stack and the one that runs the tests", () => {
        const firstScreen = fs.readFileSync(path.join(ROOT, "README.md"), "utf8").split("\n").slice(0, 25).join("\n");
        expect(firstScreen).toContain("npm ci && npm run deploy:dev");
        expect(firstScreen).toMatch(/^npm test$/m);
        const scripts = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts;
        expect(scripts["deploy:dev"]).toBeDefined();
        expect(scripts.test).toBeDefined();
    });

    it("the README fits on a few screens and leads to every page under docs/", () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        expect(readme.split("\n").length).toBeLessThan(120);
        const linked = new Set(linksOf(readme).map((t) => t.split("#")[0]));
        expect(files.filter((f) => f !== "README.md" && !linked.has(f))).toEqual([]);
    });

    it("every local link resolves: the file exists, and so does the heading it points at", () => {
        const broken: string[] = [];
        for (const file of files) {
            const text = fs.readFileSync(path.join(ROOT, file), "utf8");
            for (const target of linksOf(text)) {
                const [p, anchor] = target.split("#");
                const dest = p ? path.normalize(path.join(path.dirname(file), p)) : file;
                if (!fs.existsSync(path.join(ROOT, dest))) {
                    broken.push(`${file}: ${target} (no ${dest})`);
                    continue;
                }
                if (anchor !== undefined && dest.endsWith(".md") && !anchorsOf(fs.readFileSync(path.join(ROOT, dest), "utf8")).has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${dest})`);
            }
        }
        expect(broken).toEqual([]);
    });

    it("the link check finds a broken file and a broken heading", () => {
        expect(headingSlug("etcd membership: scaling and repair")).toBe("etcd-membership-scaling-and-repair");
        expect(headingSlug("SSH target (existing hosts)")).toBe("ssh-target-existing-hosts");
        expect(linksOf("see [a](docs/x.md#y) and `[b](no.md)` and [c](https://example.com)")).toEqual(["docs/x.md#y"]);
        expect(anchorsOf("# Top\n```\n# not a heading\n```\n## Sub part")).toEqual(new Set(["top", "sub-part"]));
    });
});
