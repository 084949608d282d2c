// The LVS drill's view of a director's IPVS table: /proc/net/ip_vs parsed, the real servers that
// take new connections, and when one left or came back.
import { describe, expect, it } from "vitest";
import { activeReals, firstWith, firstWithout, parseIpvs } from "../../lab/ipvs";
import { lvsBounds } from "../../lab/drills";
import { load } from "../config";

// As the kernel prints it (net/netfilter/ipvs/ip_vs_ctl.c): two virtual servers, one real server quiesced.
const TABLE = [
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn",
    "TCP  C0A86514:0050 wrr ",
    "  -> C0A8650F:0050      Route   1      0          3         ",
    "  -> C0A8650E:0050      Route   0      0          0         ",
    "TCP  C0A8650A:23DC rr ",
    "  -> C0A8650C:23DC      Route   1      0          0         ",
    "  -> C0A8650B:23DC      Route   1      2          0         ",
    "",
].join("\n");

describe("IPVS table", () => {
    it("parses virtual servers and their real servers from hex addresses and ports", () => {
        const t = parseIpvs(TABLE);
        expect(t.map((v) => `${v.protocol} ${v.address}:${v.port} ${v.scheduler}`)).toEqual(["TCP 192.168.101.20:80 wrr", "TCP 192.168.101.10:9180 rr"]);
        expect(t[0].reals).toEqual([
            { address: "192.168.101.15", port: 80, forward: "Route", weight: 1 },
            { address: "192.168.101.14", port: 80, forward: "Route", weight: 0 },
        ]);
        expect(parseIpvs(TABLE.split("\n").slice(0, 3).join("\n"))).toEqual([]);
    });

    it("active real servers: weight above 0, of the named virtual server only", () => {
        const t = parseIpvs(TABLE);
        expect(activeReals(t, "192.168.101.20", 80)).toEqual(["192.168.101.15"]);
        expect(activeReals(t, "192.168.101.10", 9180)).toEqual(["192.168.101.11", "192.168.101.12"]);
        expect(activeReals(t, "192.168.101.20", 443)).toEqual([]);
    });

    it("when a real server left and came back, counting from a moment", () => {
        const samples = [
            { t: 100, reals: ["a", "b"] },
            { t: 250, reals: ["b"] },
            { t: 900, reals: ["a", "b"] },
        ];
        expect(firstWithout(samples, "a", 120)).toBe(250);
        expect(firstWithout(samples, "b", 0)).toBeUndefined();
        expect(firstWith(samples, "a", 300)).toBe(900);
        expect(firstWith(samples, "a", 901)).toBeUndefined();
    });

    it("the drill's bounds follow the checker settings: docs/lab.md's 6 s with the defaults; the VM's 3 s checks give 12 s", () => {
        expect(lvsBounds(load().spec)).toEqual({ removalMs: 6000, readdMs: 3000 });
        expect(lvsBounds(load({ loadBalancer: { keepalived: { check: { interval: 3, timeout: 3 } } } }).spec)).toEqual({ removalMs: 12000, readdMs: 6000 });
    });
});
