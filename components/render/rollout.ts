// Rolling replacement of a role's replicas behind their balancers (pure: spec + topology -> plan and
// scripts). A replica's rollout step sits after its container: its deletion (before the container
// goes, in a replacement, a scale-down or a destroy) drains the replica on every running balancer
// and stops it gracefully; its creation (after the new container) waits until the replica is healthy
// and back in rotation. The next replica of the role waits for that step, so one replica is out at a
// time. The scripts run where `pulumi up` runs, with the docker CLI.
import type { RolloutSpec } from "../service";
import type { PlatformSpec } from "../config/types";
import type { Topology, TopologyNode } from "../topology/types";
import type { BalancerScope } from "./haproxy";
import { q } from "./ssh";

/** haproxy's runtime API inside a balancer container: a UNIX socket only its own user may open. */
export const HAPROXY_ADMIN_SOCKET = "/tmp/haproxy-admin.sock";

/** The haproxy backends a gateway's server sits in (HTTP, and HTTPS passed through). */
export const GATEWAY_BACKENDS = ["be_gateway_http", "be_gateway_https"] as const;

/** The backend of a control-plane port (controlPlanePorts' service). */
export const controlPlaneBackend = (service: string) => `be_${service}`;

/** A balancer's service name on its node: the gateway or the control-plane balancer. */
export const balancerServiceName = (node: TopologyNode, scope: BalancerScope) => `${node.name}-${scope}-lb`;

/** Time beyond the service's own shutdown timeout before `docker stop` kills it. */
export const STOP_MARGIN_SECONDS = 10;

/** How long a rollout waits for a replica to be healthy, and then for a balancer to mark it up, before it fails `pulumi up`. */
export const READY_TIMEOUT_SECONDS = 180;

/**
 * What a replica's rollout needs to know about the balancers in front of `scope`. haproxy is driven
 * through its runtime API; nginx (passive checks) and keepalived/IPVS have no runtime state to set,
 * so the rollout waits until they would send the replica traffic again: nginx's fail_timeout, or
 * keepalived's rise checks.
 */
export function rolloutPlan(
    spec: PlatformSpec,
    topology: Topology,
    scope: BalancerScope,
    replica: { backends: string[]; stopSignal: string; shutdownSeconds: number },
): RolloutSpec {
    const { kind, healthCheck: hc, keepalived } = spec.loadBalancer;
    const proxies = kind === "haproxy" || kind === "nginx";
    return {
        balancers: proxies ? topology.byRole["load-balancer"].map((node) => ({ name: balancerServiceName(node, scope), node })) : [],
        balancerKind: kind === "haproxy" ? "haproxy" : "passive",
        backends: replica.backends,
        rotationSeconds: kind === "haproxy" ? 0 : kind === "nginx" ? hc.intervalSeconds! * hc.fall : keepalived.check.interval * keepalived.check.rise,
        stopSignal: replica.stopSignal,
        stopGraceSeconds: replica.shutdownSeconds + STOP_MARGIN_SECONDS,
        drainSeconds: replica.shutdownSeconds,
        readyTimeoutSeconds: READY_TIMEOUT_SECONDS,
    };
}

/**
 * keepalived's rollout: one holder of a role's VIPs at a time (VirtualIps), no balancer in front.
 * Its deletion stops it with SIGTERM, on which keepalived gives its VIPs up with a priority-0
 * advert, so a backup holds them within its skew time. Its creation waits, once it runs, until it
 * takes part in VRRP again: its check scripts' first run (timeout) and a master-down interval
 * (3 × advert_int + skew, under 4 × advert_int); by then it holds its VIPs or is a backup that has
 * heard their master, ready for the next holder's priority-0 advert.
 */
export function keepalivedRolloutPlan(spec: PlatformSpec): RolloutSpec {
    const k = spec.loadBalancer.keepalived;
    return {
        balancers: [],
        balancerKind: "passive",
        backends: [],
        rotationSeconds: k.check.timeout + 4 * k.advertInt,
        stopSignal: "TERM",
        stopGraceSeconds: STOP_MARGIN_SECONDS,
        drainSeconds: 0,
        readyTimeoutSeconds: READY_TIMEOUT_SECONDS,
    };
}

/** A balancer's container as the scripts address it: `DOCKER_HOST|name` (an empty host: the local engine). */
export interface RolloutContainer {
    dockerHost?: string;
    container: string;
}

const ref = (c: RolloutContainer) => q(`${c.dockerHost ?? ""}|${c.container}`);

/** Shell helpers both scripts share: reach a container on its engine, ask a balancer's runtime API. */
function prelude(balancers: RolloutContainer[]): string[] {
    return [
        "set -eu",
        `balancers=${q(balancers.map((b) => `${b.dockerHost ?? ""}|${b.container}`).join(" "))}`,
        'dk() { h=${1%%|*}; shift; env ${h:+DOCKER_HOST=$h} docker "$@"; }',
        'running() { [ "$(dk "$1" container inspect -f \'{{.State.Running}}\' "${1#*|}" 2>/dev/null)" = true ]; }',
        // One command per connection: haproxy answers and closes.
        `cli() { printf '%s\\n' "$2" | dk "$1" exec -i "\${1#*|}" socat -t 5 - UNIX-CONNECT:${HAPROXY_ADMIN_SOCKET}; }`,
        // Column 5 is scur, 18 status, of `show stat` (haproxy's management guide, section 9.1).
        'srvstat() { cli "$1" "show stat" | awk -F, -v be="$2" -v srv="$3" -v col="$4" \'$1 == be && $2 == srv { print $col }\'; }',
        // BALANCER BACKEND SETTING: 0 set, 2 no such server there (its config does not list it), 1 refused (said on stderr).
        "setsrv() {",
        '    out=$(cli "$1" "set server $2/$server $3") || { echo "gateway-ha: ${1#*|}: no answer from its runtime API" >&2; return 1; }',
        '    case "$out" in *"No such"*) return 2 ;; *[![:space:]]*) echo "gateway-ha: ${1#*|}: set server $2/$server $3: $out" >&2; return 1 ;; esac',
        "}",
    ];
}

/** `body` for each backend of each running balancer (`$b`, `$be`), indented under the two loops. */
function eachServer(rollout: RolloutSpec, body: string[], indent = ""): string[] {
    return [
        "for b in $balancers; do",
        '    running "$b" || continue',
        `    for be in ${rollout.backends.map(q).join(" ")}; do`,
        ...body.map((l) => `        ${l}`),
        "    done",
        "done",
    ].map((l) => indent + l);
}

/**
 * The rollout step's deletion: take the replica out of every running haproxy (`drain`: no new
 * requests, current ones finish), wait until its sessions end (at most `drainSeconds`), then stop
 * it with its graceful signal, killed after `stopGraceSeconds`, and mark it down there. A replica a balancer does not list
 * (its config already dropped it, or never had it) is skipped there; nginx and keepalived have
 * nothing to drain: the graceful stop closes the replica's listeners and they retry elsewhere.
 */
export function renderRolloutDrainScript(rollout: RolloutSpec, self: RolloutContainer, server: string, balancers: RolloutContainer[]): string {
    const lines = [...prelude(rollout.balancerKind === "haproxy" ? balancers : []), `self=${ref(self)}`, `server=${q(server)}`];
    lines.push('running "$self" || exit 0');
    if (rollout.balancerKind === "haproxy") lines.push(...drainLines(rollout, server));
    lines.push(`dk "$self" stop --signal ${rollout.stopSignal} --time ${rollout.stopGraceSeconds} "\${self#*|}" >/dev/null`, `echo "gateway-ha: ${server} stopped"`);
    if (rollout.balancerKind === "haproxy") lines.push(...markedDownLines(rollout));
    return `${lines.join("\n")}\n`;
}

/** On every running haproxy: `state drain`, then wait until the replica's sessions end (at most drainSeconds). */
function drainLines(rollout: RolloutSpec, server: string): string[] {
    return [
        ...eachServer(rollout, ["rc=0", 'setsrv "$b" "$be" "state drain" || rc=$?', '[ "$rc" != 1 ] || exit 1']),
        "i=0",
        `while [ "$i" -lt ${rollout.drainSeconds} ]; do`,
        "    busy=0",
        ...eachServer(rollout, ['n=$(srvstat "$b" "$be" "$server" 5)', '[ "${n:-0}" = 0 ] || busy=1'], "    "),
        '    [ "$busy" = 1 ] || break',
        "    sleep 1",
        "    i=$((i + 1))",
        "done",
        `echo "gateway-ha: ${server} drained after \${i} s"`,
    ];
}

/**
 * The replica is (about to be) gone: say so, so the return waits for `rise` passing checks of its
 * replacement, not for a state the checks had not yet taken back (fall x interval). A refusal only
 * warns: its checks will find it down.
 */
function markedDownLines(rollout: RolloutSpec): string[] {
    return eachServer(rollout, ['setsrv "$b" "$be" "health down" || :']);
}

/** On every running haproxy that lists the replica: `state ready`, then wait until its checks mark it UP. */
function returnLines(rollout: RolloutSpec): string[] {
    return eachServer(rollout, [
        "rc=0",
        'setsrv "$b" "$be" "state ready" || rc=$?',
        '[ "$rc" != 1 ] || exit 1',
        '[ "$rc" = 0 ] || continue',
        "i=0",
        'until [ "$(srvstat "$b" "$be" "$server" 18)" = UP ]; do',
        `    [ "$i" -lt ${rollout.readyTimeoutSeconds} ] || { echo "gateway-ha: \${b#*|} has not marked $be/$server UP after ${rollout.readyTimeoutSeconds} s" >&2; exit 1; }`,
        "    sleep 1",
        "    i=$((i + 1))",
        "done",
    ]);
}

/**
 * For a target whose steps run on each balancer's own host (ssh), where another host's replica is
 * stopped and started by its own step: the replica taken out of this host's haproxy (drained, then
 * marked down, as it stops next), and put back once its replacement is healthy.
 */
export function renderBalancerDrainScript(rollout: RolloutSpec, server: string, balancer: string): string {
    return [...prelude([{ container: balancer }]), `server=${q(server)}`, ...drainLines(rollout, server), ...markedDownLines(rollout)].join("\n") + "\n";
}

/** renderBalancerDrainScript's counterpart: the replica back in this host's haproxy, UP. */
export function renderBalancerReturnScript(rollout: RolloutSpec, server: string, balancer: string): string {
    return [...prelude([{ container: balancer }]), `server=${q(server)}`, ...returnLines(rollout), `echo "gateway-ha: ${server} in rotation on ${balancer}"`].join("\n") + "\n";
}

/**
 * The rollout step's creation: wait until the replica's container is healthy (running, without a
 * health check), then put it back: on every running haproxy `state ready` (a drain outlives the
 * container it was set for) and wait until the balancer's own checks mark it UP (rise × interval);
 * behind nginx or keepalived, wait `rotationSeconds`. Fails `pulumi up` after `readyTimeoutSeconds` each,
 * so the next replica never stops while this one is out.
 */
export function renderRolloutReadyScript(rollout: RolloutSpec, self: RolloutContainer, server: string, balancers: RolloutContainer[]): string {
    const lines = [...prelude(rollout.balancerKind === "haproxy" ? balancers : []), `self=${ref(self)}`, `server=${q(server)}`];
    lines.push(
        "i=0",
        "until [ \"$(dk \"$self\" container inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' \"${self#*|}\" 2>/dev/null)\" = healthy ] ||",
        "    [ \"$(dk \"$self\" container inspect -f '{{if .State.Health}}-{{else}}{{.State.Status}}{{end}}' \"${self#*|}\" 2>/dev/null)\" = running ]; do",
        `    [ "$i" -lt ${rollout.readyTimeoutSeconds} ] || { echo "gateway-ha: ${server} is not healthy after ${rollout.readyTimeoutSeconds} s" >&2; exit 1; }`,
        "    sleep 1",
        "    i=$((i + 1))",
        "done",
    );
    if (rollout.balancerKind === "haproxy") {
        lines.push(...returnLines(rollout));
    } else if (rollout.rotationSeconds > 0) {
        lines.push(`sleep ${rollout.rotationSeconds}`);
    }
    lines.push(`echo "gateway-ha: ${server} healthy and in rotation"`);
    return `${lines.join("\n")}\n`;
}
