// What a target reads from an image whose Dockerfile is not public (the API7 images), where the
// image is pulled: its start (Entrypoint then Cmd, what `docker run IMAGE` runs) and the user its
// program runs as (`id` in a container of it, which also resolves a USER given by name). A service
// whose secrets wrapper replaces the entrypoint gets that start as its command, and its secret files
// are that user's alone.
import type { ImageUser } from "../service";

/** Marks an image-facts step's script: the mock engine answers it (the unit tests and the lab have no images). */
export const IMAGE_FACTS_MARKER = "# gateway-ha: image facts of";

export interface ImageFacts {
    /** Entrypoint then Cmd. */
    start: string[];
    user: ImageUser;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Prints four lines: the image's Entrypoint and Cmd as JSON (`null` when unset), its user's uid and
 * gid. Pulls the image if this Docker engine does not have it. The container that runs `id` has no
 * network and is removed; without a shell in the image the secrets wrapper could not run either.
 */
export function renderImageFactsScript(image: string): string {
    const i = q(image);
    return [
        `${IMAGE_FACTS_MARKER} ${image}`,
        "set -eu",
        `docker image inspect ${i} >/dev/null 2>&1 || docker pull -q ${i} >/dev/null`,
        `docker image inspect -f '{{json .Config.Entrypoint}}' ${i}`,
        `docker image inspect -f '{{json .Config.Cmd}}' ${i}`,
        `docker run --rm --network none --entrypoint /bin/sh ${i} -c 'id -u; id -g'`,
        "",
    ].join("\n");
}

function stringList(image: string, what: string, line: string): string[] {
    let v: unknown;
    try {
        v = JSON.parse(line);
    } catch {
        throw new Error(`image ${image}: its ${what} is not JSON: ${line}`);
    }
    if (v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`image ${image}: its ${what} is not a list of strings: ${line}`);
    return v;
}

function id(image: string, what: string, line: string): number {
    if (!/^(0|[1-9][0-9]{0,9})$/.test(line)) throw new Error(`image ${image}: its user's ${what} is not a number: ${line}`);
    return Number(line);
}

/** The facts from the script's output; anything else stops `pulumi up`, naming the image. */
export function parseImageFacts(image: string, stdout: string): ImageFacts {
    const lines = stdout.trim().split("\n").map((l) => l.trim());
    if (lines.length !== 4) throw new Error(`image ${image}: expected its entrypoint, command, uid and gid, got ${JSON.stringify(stdout.slice(0, 200))}`);
    const start = [...stringList(image, "entrypoint", lines[0]), ...stringList(image, "command", lines[1])];
    if (!start.length) throw new Error(`image ${image}: it has neither an entrypoint nor a command: nothing to start after the secrets wrapper`);
    return { start, user: { uid: id(image, "uid", lines[2]), gid: id(image, "gid", lines[3]) } };
}
