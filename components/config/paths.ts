// Keys as the config and its messages write them (`loadBalancer.keepalived.vips[0].authPass`), read
// and written on plain objects.

/** `a.b[].c` against a value: every such key that holds something, indices filled in (`a.b[0].c`). */
export function concreteKeys(value: unknown, path: string, at = ""): string[] {
    if (path === "") return value === undefined || value === null ? [] : [at];
    const [, head, each, rest] = /^([^.[]+)(\[\])?\.?(.*)$/.exec(path)!;
    const next = (value as Record<string, unknown> | undefined)?.[head];
    const here = at ? `${at}.${head}` : head;
    if (!each) return concreteKeys(next, rest, here);
    return Array.isArray(next) ? next.flatMap((item, i) => concreteKeys(item, rest, `${here}[${i}]`)) : [];
}

const keyParts = (key: string): (string | number)[] =>
    key
        .split(/\.|\[(\d+)\]/)
        .filter((p) => p !== undefined && p !== "")
        .map((p) => (/^\d+$/.test(p) ? Number(p) : p));

export function valueAt(value: unknown, key: string): unknown {
    return keyParts(key).reduce<unknown>((v, p) => (v as Record<string | number, unknown> | undefined)?.[p], value);
}

/** Sets an existing key's value (its parents must exist). */
export function setAt(value: Record<string, unknown>, key: string, to: unknown): void {
    const parts = keyParts(key);
    const parent = parts.slice(0, -1).reduce<Record<string | number, unknown>>((v, p) => v[p] as Record<string | number, unknown>, value);
    parent[parts.at(-1)!] = to;
}
