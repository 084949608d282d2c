// IPv4 helpers for addresses and CIDRs in stack config.

export function parseIpv4(s: string): number | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
    if (!m) return undefined;
    const octets = m.slice(1).map(Number);
    if (octets.some((o, i) => o > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) return undefined;
    return ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
}

export function formatIpv4(n: number): string {
    return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

export interface Cidr {
    network: number;
    prefix: number;
}

export function parseCidr(s: string): Cidr | undefined {
    const [ip, bits, ...rest] = s.split("/");
    if (rest.length || bits === undefined || !/^\d{1,2}$/.test(bits)) return undefined;
    const prefix = Number(bits);
    const addr = parseIpv4(ip);
    if (addr === undefined || prefix > 32) return undefined;
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if ((addr & mask) >>> 0 !== addr) return undefined; // host bits set: ambiguous, reject
    return { network: addr, prefix };
}

export function cidrContains(c: Cidr, addr: number): boolean {
    const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
    return (addr & mask) >>> 0 === c.network;
}

/** Usable host addresses: not the network address, not broadcast. */
export function isHostAddress(c: Cidr, addr: number): boolean {
    const size = 2 ** (32 - c.prefix);
    return cidrContains(c, addr) && (size <= 2 || (addr !== c.network && addr !== c.network + size - 1));
}

/** Hostname (for remote hosts) or IPv4 literal. */
export function isValidHostAddress(s: string): boolean {
    if (parseIpv4(s) !== undefined) return true;
    if (/^\d+(\.\d+)*$/.test(s)) return false; // looks numeric but is not a valid IPv4
    return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(s);
}
