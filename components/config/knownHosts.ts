// ssh.knownHosts, the pinned host keys of target ssh: known_hosts lines as `ssh-keyscan` prints
// them. The remote commands check one fixed key per host, which @pulumi/command takes in
// authorized_keys form (`<key type> <base64 key>`, parsed with Go's ssh.ParseAuthorizedKey); this
// module finds that key for a node in the lines.
import { createHmac } from "node:crypto";

/** One known_hosts line: optional marker, host patterns, key type, base64 key, optional comment. */
const KNOWN_HOSTS_LINE = /^(?:@(cert-authority|revoked)\s+)?(\S+)\s+(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)\s+([A-Za-z0-9+/]{20,}=*)(?:\s.*)?$/;

export interface KnownHostsLine {
    marker?: "cert-authority" | "revoked";
    /** The host field: comma-separated names, or a hashed `|1|salt|hash` entry. */
    hosts: string;
    keyType: string;
    key: string;
}

/** A known_hosts line, parsed; undefined when it is not one. */
export function parseKnownHostsLine(line: string): KnownHostsLine | undefined {
    const m = KNOWN_HOSTS_LINE.exec(line.trim());
    if (!m) return undefined;
    return { ...(m[1] ? { marker: m[1] as KnownHostsLine["marker"] } : {}), hosts: m[2], keyType: m[3], key: m[4] };
}

/** How known_hosts names a host: the address, or `[address]:port` off port 22 (as `ssh-keyscan -p` prints it). */
export function knownHostsName(address: string, port: number): string {
    return port === 22 ? address : `[${address}]:${port}`;
}

/** A known_hosts pattern: `*` and `?` are wildcards, everything else literal. */
const globMatches = (pattern: string, host: string) =>
    new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`).test(host);

/**
 * Whether a known_hosts host field names `host`, as OpenSSH reads it: comma-separated patterns
 * with wildcards, `!pattern` excluding, or one hashed `|1|salt|hash` entry.
 */
export function knownHostsNames(field: string, host: string): boolean {
    const hashed = /^\|1\|([^|]+)\|(.+)$/.exec(field);
    if (hashed) return createHmac("sha1", Buffer.from(hashed[1], "base64")).update(host).digest("base64") === hashed[2];
    const patterns = field.split(",");
    if (patterns.some((p) => p.startsWith("!") && globMatches(p.slice(1), host))) return false;
    return patterns.some((p) => !p.startsWith("!") && globMatches(p, host));
}

/**
 * Ed25519 first, then ECDSA, then the rest: the provider offers only the pinned key's algorithm,
 * and for an RSA key that is SHA-1 `ssh-rsa`, which OpenSSH 8.8 and later refuse by default.
 */
const preference = (keyType: string) => (keyType === "ssh-ed25519" ? 0 : keyType.startsWith("ecdsa-") ? 1 : 2);

/**
 * The key to pin for a host, in authorized_keys form (`<key type> <base64 key>`): of the lines
 * naming it, the preferred type, never a revoked key; undefined when there is none. CA lines name
 * no host key, so they pin nothing.
 */
export function pinnedHostKey(lines: readonly string[], address: string, port: number): string | undefined {
    const host = knownHostsName(address, port);
    const naming = lines.map(parseKnownHostsLine).filter((l): l is KnownHostsLine => l !== undefined && knownHostsNames(l.hosts, host));
    const revoked = new Set(naming.filter((l) => l.marker === "revoked").map((l) => l.key));
    const [best] = naming.filter((l) => l.marker === undefined && !revoked.has(l.key)).sort((a, b) => preference(a.keyType) - preference(b.keyType));
    return best ? `${best.keyType} ${best.key}` : undefined;
}
