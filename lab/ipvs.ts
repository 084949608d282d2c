// What an LVS director's IPVS table holds, read from the kernel: /proc/PID/net/ip_vs of a process
// in the director's namespace is that namespace's table. A watch polls it and records each change
// of a virtual server's real servers; the parsing and the timeline queries are pure.
import { readFileSync } from "node:fs";
import { formatIpv4 } from "../components/config/net";

export interface IpvsRealServer {
    address: string;
    port: number;
    forward: string;
    weight: number;
}

export interface IpvsVirtualServer {
    protocol: string;
    address: string;
    port: number;
    scheduler: string;
    reals: IpvsRealServer[];
}

/** `C0A8651E:0050` → 192.168.101.30 and 80. */
function hexEndpoint(s: string): { address: string; port: number } {
    const [a, p] = s.split(":");
    return { address: formatIpv4(parseInt(a, 16) >>> 0), port: parseInt(p, 16) };
}

/** The virtual servers of a /proc/net/ip_vs text, each with its real servers. */
export function parseIpvs(text: string): IpvsVirtualServer[] {
    const out: IpvsVirtualServer[] = [];
    for (const line of text.split("\n")) {
        const vs = /^(TCP|UDP|SCTP)\s+([0-9A-F]{8}:[0-9A-F]{4})\s+(\S+)/.exec(line);
        if (vs) {
            out.push({ protocol: vs[1], ...hexEndpoint(vs[2]), scheduler: vs[3], reals: [] });
            continue;
        }
        const rs = /^\s+->\s+([0-9A-F]{8}:[0-9A-F]{4})\s+(\S+)\s+(\d+)/.exec(line);
        if (rs && out.length) out[out.length - 1].reals.push({ ...hexEndpoint(rs[1]), forward: rs[2], weight: Number(rs[3]) });
    }
    return out;
}

/** The addresses of the real servers behind `address:port` with a weight above 0 (those that get new connections). */
export function activeReals(table: IpvsVirtualServer[], address: string, port: number): string[] {
    const vs = table.find((v) => v.protocol === "TCP" && v.address === address && v.port === port);
    return (vs?.reals ?? [])
        .filter((r) => r.weight > 0)
        .map((r) => r.address)
        .sort();
}

export interface IpvsSample {
    t: number;
    reals: string[];
}

/** The first moment at or after `from` when `address` was not among the real servers, if any. */
export function firstWithout(samples: IpvsSample[], address: string, from: number): number | undefined {
    return samples.find((s) => s.t >= from && !s.reals.includes(address))?.t;
}

/** The first moment at or after `from` when `address` was among the real servers, if any. */
export function firstWith(samples: IpvsSample[], address: string, from: number): number | undefined {
    return samples.find((s) => s.t >= from && s.reals.includes(address))?.t;
}

/** Polls one virtual server's real servers in a director's namespace (through a process in it), recording each change. */
export class IpvsWatch {
    private readonly samples: IpvsSample[] = [];
    private readonly timer: NodeJS.Timeout;
    /** A process in the namespace, looked up again only when it is gone. */
    private pid?: number;

    constructor(
        private readonly findPid: () => number | undefined,
        private readonly address: string,
        private readonly port: number,
        everyMs = 20,
    ) {
        this.sample();
        this.timer = setInterval(() => this.sample(), everyMs);
    }

    private sample(): void {
        this.pid ??= this.findPid();
        if (this.pid === undefined) return;
        let text: string;
        try {
            text = readFileSync(`/proc/${this.pid}/net/ip_vs`, "utf8");
        } catch {
            this.pid = undefined; // the process exited
            return;
        }
        const reals = activeReals(parseIpvs(text), this.address, this.port);
        const last = this.samples[this.samples.length - 1];
        if (!last || last.reals.join(",") !== reals.join(",")) this.samples.push({ t: Date.now(), reals });
    }

    /** The real servers now. */
    current(): string[] {
        this.sample();
        return this.samples[this.samples.length - 1]?.reals ?? [];
    }

    /** Each change seen, in order. */
    history(): IpvsSample[] {
        return [...this.samples];
    }

    stop(): void {
        clearInterval(this.timer);
    }
}
