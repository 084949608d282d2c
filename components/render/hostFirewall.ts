// Host firewalls for target ssh, pure: the port matrix's rules (components/topology/firewall.ts)
// narrowed to one host, with groups resolved to the member nodes' addresses, rendered for firewalld
// (rich rules in every active zone) or iptables and ip6tables (a chain of its own). One script holds both and
// picks whichever the host runs. It opens exactly the matrix's ports to exactly its sources and
// never touches SSH.
import { firewallRules, type FirewallGroup, type FirewallRule } from "../topology/firewall";
import type { HostFirewallSources } from "../config/types";
import type { Topology, TopologyNode } from "../topology/types";
import { IP_PROTOCOL_NUMBERS } from "../topology/types";

/** Traffic one host accepts: from an address or network, to a tcp/udp port or a whole IP protocol. */
export interface HostRule {
    /** `tcp`, `udp`, or an IP protocol number (VRRP is 112). */
    protocol: string;
    /** tcp and udp only. */
    port?: number;
    source: string;
    description: string;
}

export interface HostFirewall {
    node: string;
    allow: HostRule[];
    /** Every platform port (and port-less protocol) of the host: closed to any source `allow` does not name. */
    guarded: { protocol: string; port?: number }[];
}

/**
 * Port-less protocols go to the firewall as numbers, not names: /etc/protocols disagrees with
 * IANA's use here (netbase calls protocol 94 "ipip", while LVS tunnelling is protocol 4).
 */
const IP_PROTOCOLS: Record<string, number> = IP_PROTOCOL_NUMBERS;

const hasPort = (protocol: string) => protocol === "tcp" || protocol === "udp";

function ipProtocol(protocol: string): string {
    if (hasPort(protocol) || /^\d+$/.test(protocol)) return protocol;
    const n = IP_PROTOCOLS[protocol];
    if (n === undefined) throw new Error(`host firewall: no IP protocol number known for "${protocol}"`);
    return String(n);
}

/** The matrix's rules for hosts, their outside sources from the stack's (never SSH: the firewall leaves it alone). */
export function hostFirewallRules(topology: Topology, sources: HostFirewallSources): FirewallRule[] {
    return firewallRules(topology.flows, { clients: sources.clientCidrs, operators: sources.operatorCidrs, monitoring: sources.monitoringCidrs, ssh: [] });
}

/** The firewall groups a node belongs to: its roles, and both balancers on a balancer node. */
export function groupsOf(node: Pick<TopologyNode, "roles">): FirewallGroup[] {
    return node.roles.flatMap((r): FirewallGroup[] => (r === "load-balancer" ? ["gateway-balancer", "control-plane-balancer"] : [r]));
}

function groupAddresses(topology: Topology, group: FirewallGroup): string[] {
    return topology.nodes.filter((n) => groupsOf(n).includes(group)).map((n) => n.address);
}

/** The rules of one host: the matrix's rules for its groups, each source group resolved to addresses. */
export function hostFirewall(topology: Topology, node: TopologyNode, rules: FirewallRule[]): HostFirewall {
    const mine = new Set(groupsOf(node));
    const allow = new Map<string, HostRule>();
    const guarded = new Map<string, { protocol: string; port?: number }>();
    const guard = (protocol: string, port?: number) => guarded.set(`${protocol}/${port ?? ""}`, port === undefined ? { protocol } : { protocol, port });
    for (const rule of rules) {
        if (!mine.has(rule.group)) continue;
        const protocol = ipProtocol(rule.protocol);
        const port = hasPort(protocol) ? rule.port : undefined;
        guard(protocol, port);
        const sources = "group" in rule.from ? groupAddresses(topology, rule.from.group) : [rule.from.cidr];
        for (const source of sources) {
            const key = `${protocol}/${port ?? ""}/${source}`;
            const existing = allow.get(key);
            if (existing) {
                if (!existing.description.split("; ").includes(rule.description)) existing.description += `; ${rule.description}`;
            } else allow.set(key, { protocol, ...(port === undefined ? {} : { port }), source, description: rule.description });
        }
    }
    for (const b of node.ports) guard(b.protocol, b.port);
    return { node: node.name, allow: [...allow.values()], guarded: [...guarded.values()] };
}

/** A firewalld rich rule accepting one HostRule. */
export function richRule(r: HostRule): string {
    const what = r.port === undefined ? `protocol value="${r.protocol}"` : `port port="${r.port}" protocol="${r.protocol}"`;
    return `rule family="ipv4" source address="${r.source}" ${what} accept`;
}

/** iptables arguments matching a protocol and port. */
const iptMatch = (p: { protocol: string; port?: number }) => (p.port === undefined ? `-p ${p.protocol}` : `-p ${p.protocol} --dport ${p.port}`);

/** Comments in the script: descriptions come from flow purposes, never from user input, but stay on one line. */
const comment = (s: string) => `# ${s.replace(/[\r\n]+/g, " ")}`;

export const FIREWALL_CHAIN = "GATEWAY-HA";
/** The rich rules gateway-ha added last time, so a rule the matrix dropped is removed again. */
export const FIREWALLD_STATE = "/etc/gateway-ha/firewalld-rules";

/**
 * firewalld: rich rules in every zone that takes traffic (the default zone and each active one: an
 * interface bound to another zone would bypass rules in the default zone alone), permanent and
 * runtime, no reload, which would drop Docker's runtime rules. firewalld refuses what no rule
 * allows, over IPv6 too, so the rules are exact unless a zone already opens a platform port to
 * everyone: then it warns. The state file lists `<zone> <rule>` lines (a bare rule, from before
 * zones, is the default zone's).
 */
export function renderFirewalld(fw: HostFirewall): string {
    const tcpPorts = fw.guarded.filter((g) => g.port !== undefined);
    return [
        "gateway_ha_firewalld() {",
        "  default_zone=$(firewall-cmd --get-default-zone)",
        "  # Zone names are single words at the start of a line; their bindings are indented below them.",
        "  zones=$( { echo \"$default_zone\"; firewall-cmd --get-active-zones | sed -n 's/^\\([^[:space:]][^[:space:]]*\\).*/\\1/p'; } | sort -u)",
        '  rules=$(mktemp)',
        "  cat > \"$rules\" <<'GATEWAY_HA_RULES'",
        ...fw.allow.map(richRule),
        "GATEWAY_HA_RULES",
        '  wanted=$(mktemp)',
        '  for zone in $zones; do sed "s/^/$zone /" "$rules"; done > "$wanted"',
        '  rm -f "$rules"',
        `  mkdir -p ${FIREWALLD_STATE.replace(/\/[^/]+$/, "")}`,
        `  if [ -f ${FIREWALLD_STATE} ]; then`,
        "    while IFS= read -r line; do",
        '      case $line in "rule "*) line="$default_zone $line" ;; esac',
        '      grep -qxF "$line" "$wanted" && continue',
        '      zone=${line%% *}; rule=${line#* }',
        '      firewall-cmd -q --permanent --zone="$zone" --remove-rich-rule="$rule" || true',
        '      firewall-cmd -q --zone="$zone" --remove-rich-rule="$rule" || true',
        `    done < ${FIREWALLD_STATE}`,
        "  fi",
        "  while IFS= read -r line; do",
        '    zone=${line%% *}; rule=${line#* }',
        '    firewall-cmd -q --permanent --zone="$zone" --query-rich-rule="$rule" || firewall-cmd -q --permanent --zone="$zone" --add-rich-rule="$rule"',
        '    firewall-cmd -q --zone="$zone" --query-rich-rule="$rule" || firewall-cmd -q --zone="$zone" --add-rich-rule="$rule"',
        '  done < "$wanted"',
        `  mv -f "$wanted" ${FIREWALLD_STATE}`,
        "  for zone in $zones; do",
        ...tcpPorts.map(
            (g) =>
                `    if firewall-cmd -q --zone="$zone" --query-port=${g.port}/${g.protocol}; then echo "gateway-ha: WARNING: firewalld zone $zone opens ${g.port}/${g.protocol} to everyone on ${fw.node}; the port matrix allows only its sources" >&2; fi`,
        ),
        ...(tcpPorts.length ? [] : ["    :"]),
        "  done",
        "}",
    ].join("\n");
}

/**
 * iptables: the chain GATEWAY-HA, first in INPUT, rebuilt on every run: accept each source, then
 * drop every platform port from anyone else. Other ports (SSH among them) fall through to the
 * host's own rules. Every source is IPv4 (validated), so where the host has IPv6 the same chain in
 * ip6tables drops every platform port but on loopback: a service listening on [::] is not open there.
 */
export function renderIptables(fw: HostFirewall): string {
    const chain = (ipt: string, accept: HostRule[]) => [
        `  ${ipt} -N ${FIREWALL_CHAIN} 2>/dev/null || true`,
        `  ${ipt} -F ${FIREWALL_CHAIN}`,
        `  ${ipt} -A ${FIREWALL_CHAIN} -i lo -j RETURN`,
        ...accept.flatMap((r) => [`  ${comment(r.description)}`, `  ${ipt} -A ${FIREWALL_CHAIN} -s ${r.source} ${iptMatch(r)} -j ACCEPT`]),
        ...fw.guarded.map((g) => `  ${ipt} -A ${FIREWALL_CHAIN} ${iptMatch(g)} -j DROP`),
        `  ${ipt} -C INPUT -j ${FIREWALL_CHAIN} 2>/dev/null || ${ipt} -I INPUT 1 -j ${FIREWALL_CHAIN}`,
    ];
    return [
        "gateway_ha_iptables() {",
        ...chain("iptables -w", fw.allow),
        "  if [ -e /proc/net/if_inet6 ]; then",
        `    command -v ip6tables >/dev/null 2>&1 || { echo "gateway-ha: ${fw.node} has IPv6 but no ip6tables: the platform's ports stay open over IPv6" >&2; exit 1; }`,
        ...chain("ip6tables -w", []).map((l) => `  ${l}`),
        "  fi",
        "}",
    ].join("\n");
}

/** The host's firewall script: firewalld when it runs, else iptables; idempotent, run at every boot. */
export function renderFirewallScript(fw: HostFirewall): string {
    return [
        "#!/bin/sh",
        `# gateway-ha host firewall for ${fw.node}, from the port matrix. Generated: do not edit.`,
        "set -eu",
        renderFirewalld(fw),
        renderIptables(fw),
        "if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd -q --state 2>/dev/null; then",
        "  gateway_ha_firewalld",
        "elif command -v iptables >/dev/null 2>&1; then",
        "  gateway_ha_iptables",
        "else",
        `  echo "gateway-ha: ${fw.node} has neither firewalld running nor iptables" >&2`,
        "  exit 1",
        "fi",
        "",
    ].join("\n");
}
