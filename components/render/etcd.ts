// Pure etcd renderers: member flags, client URLs, users and key prefixes, and the
// bootstrap script that turns on auth once the cluster has formed.
//
// Facts checked against real etcd (test/lab/etcd-cluster.test.ts, etcd 3.4; 3.5 from its source):
// - `etcdctl auth enable` creates the `root` role and grants it to user `root` when missing, but
//   the script does both itself so it does not depend on that client-side convenience.
// - etcd 3.4 has no `auth status`. With auth off, the server answers an Authenticate call with
//   "authentication is not enabled" and etcdctl carries on without a token; with auth on, an
//   unknown user gets "authentication failed". The script probes with a user that never exists.
// - So ETCDCTL_USER=root:<pw> can be exported before auth is enabled: the same commands work on a
//   fresh cluster and on one already bootstrapped (idempotent re-runs).
// - With --client-cert-auth, the CN of a client certificate is the etcd user when no password is
//   given. A CN that is not a user is refused for writes, but `endpoint health` still reports
//   healthy (its read gets "permission denied", which etcdctl counts as healthy), so the member
//   certificate works as the container health check's client certificate after auth is on.
//   A certificate with CN=root is root without a password: never issue one outside the deployer.
// - `--interactive=false` reads the password with scanf("%s"): one word. Whitespace would silently
//   cut it, and an empty password is accepted by 3.4, so the script refuses both.
// - etcd checks a peer's source address against the SANs of its certificate. On separate hosts or
//   containers that is the node address; on one loopback host it is 127.0.0.1.
import type { PlatformSpec } from "../config/types";
import { parseIpv4 } from "../config/net";
import type { Topology, TopologyNode } from "../topology/types";

/** Where member files live inside the etcd container. Tests may pass their own. */
export interface EtcdPaths {
    dataDir: string;
    pkiDir: string;
}

export const ETCD_CONTAINER_PATHS: EtcdPaths = { dataDir: "/var/lib/etcd", pkiDir: "/etc/etcd/pki" };

/**
 * File names inside pkiDir. The member certificate serves both client and peer traffic:
 * CN = member name, SANs = node address + member name + node name, EKU serverAuth + clientAuth.
 */
export const ETCD_PKI_FILES = { ca: "ca.crt", cert: "member.crt", key: "member.key" } as const;

/** Periodic compaction keeps one hour of history (gateways re-list when their watch revision is compacted). */
export const ETCD_AUTO_COMPACTION_RETENTION = "1h";

/** Environment variables the bootstrap script reads (besides the passwords from etcdUsers). */
/** The bootstrap's and membership steps' tries and seconds between them, unless ETCD_BOOTSTRAP_ENV says otherwise. */
export const ETCD_STEP_DEFAULTS = { tries: 60, delaySeconds: 2 } as const;

export const ETCD_BOOTSTRAP_ENV = {
    /** Health polls before giving up (default ETCD_STEP_DEFAULTS.tries). */
    tries: "ETCD_BOOTSTRAP_TRIES",
    /** Seconds between polls (default ETCD_STEP_DEFAULTS.delaySeconds). */
    delay: "ETCD_BOOTSTRAP_DELAY",
    /** Optional: the root password etcd has now, to rotate it to ETCD_ROOT_PASSWORD. */
    previousRootPassword: "ETCD_ROOT_PASSWORD_PREVIOUS",
} as const;

/** The services that sign in to etcd with a user of their own. */
export const ETCD_CONSUMERS = ["control-plane", "gateway"] as const;
export type EtcdConsumer = (typeof ETCD_CONSUMERS)[number];

export interface EtcdUser {
    name: string;
    role?: string;
    permission?: "read" | "readwrite";
    /** Key prefix the role may use (etcd `--prefix` grant: every key starting with it). */
    prefix?: string;
    /** Environment variable holding the password (never a literal anywhere). */
    passwordEnv: string;
}

function requireEtcd(spec: PlatformSpec): void {
    if (spec.flavor === "api7-v3") throw new Error("api7-v3 keeps its state in PostgreSQL: it has no etcd cluster");
}

function members(spec: PlatformSpec, topology: Topology): TopologyNode[] {
    requireEtcd(spec);
    const nodes = topology.byRole.etcd;
    if (nodes.length === 0) throw new Error("the topology has no etcd members");
    return nodes;
}

function member(spec: PlatformSpec, topology: Topology, index: number): TopologyNode {
    const nodes = members(spec, topology);
    const node = nodes[index];
    if (!Number.isInteger(index) || !node) throw new Error(`etcd member index ${index} out of range 0..${nodes.length - 1}`);
    if (!node.address) throw new Error(`etcd node ${node.name} has no address`);
    return node;
}

function scheme(spec: PlatformSpec): "https" | "http" {
    return spec.etcd.tls ? "https" : "http";
}

/** Host part of a URL: IPv6 literals need brackets. */
function urlHost(address: string): string {
    return address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
}

function isIpLiteral(address: string): boolean {
    return parseIpv4(address) !== undefined || address.includes(":");
}

/** The etcd member name of member `index`: its service name on the node (`etcd-1-etcd`, `node-3-etcd`). */
export function etcdMemberName(topology: Topology, index: number): string {
    const node = topology.byRole.etcd[index];
    if (!node) throw new Error(`etcd member index ${index} out of range 0..${topology.byRole.etcd.length - 1}`);
    return `${node.name}-etcd`;
}

/**
 * The TLS server name APISIX-based clients send to every member (`etcd.tls.sni`), and a DNS SAN of
 * every member certificate. lua-resty-etcd hands OpenResty the URL host unless `sni` is set, and
 * OpenResty checks it with X509_check_host, which matches DNS names only (apache/apisix #5155,
 * #10940): an IP host never matches an IP SAN there. One name for all members, because `sni` is
 * one value for the whole host list (apisix/core/etcd.lua `_new`, 2.13.3 and 3.14.1). It needs no
 * DNS record: it is only compared with the certificate.
 */
export const ETCD_TLS_SERVER_NAME = "etcd.gateway-ha.internal";

/** Subject alternative names of member `index`'s certificate: node address, member name, node name, the shared server name. */
export function etcdMemberSans(topology: Topology, index: number): { ipAddresses: string[]; dnsNames: string[] } {
    const node = topology.byRole.etcd[index];
    if (!node) throw new Error(`etcd member index ${index} out of range 0..${topology.byRole.etcd.length - 1}`);
    const ip = isIpLiteral(node.address);
    const dnsNames = [...new Set([...(ip || !node.address ? [] : [node.address]), etcdMemberName(topology, index), node.name, ETCD_TLS_SERVER_NAME])];
    return { ipAddresses: ip ? [node.address] : [], dnsNames };
}

export function etcdPeerUrl(spec: PlatformSpec, topology: Topology, index: number): string {
    return `${scheme(spec)}://${urlHost(member(spec, topology, index).address)}:${spec.etcd.peerPort}`;
}

export function etcdClientUrl(spec: PlatformSpec, topology: Topology, index: number): string {
    return `${scheme(spec)}://${urlHost(member(spec, topology, index).address)}:${spec.etcd.clientPort}`;
}

/** Client URL list, e.g. ["https://172.28.0.11:2379", ...] (http:// when spec.etcd.tls is false). */
export function etcdClientUrls(spec: PlatformSpec, topology: Topology): string[] {
    return members(spec, topology).map((_, i) => etcdClientUrl(spec, topology, i));
}

/** `name=peerURL,...`: the same string for every member. */
export function etcdInitialCluster(spec: PlatformSpec, topology: Topology): string {
    return members(spec, topology)
        .map((_, i) => `${etcdMemberName(topology, i)}=${etcdPeerUrl(spec, topology, i)}`)
        .join(",");
}

/**
 * Address etcd binds: the node's own IP, so several members can share one network namespace.
 * etcd only binds IP literals; a node known by hostname (remote host) binds all interfaces.
 */
function listenHost(address: string): string {
    return isIpLiteral(address) ? urlHost(address) : "0.0.0.0";
}

/** What a member starts with the first time (etcdMembership.ts's join record); without one, a founder's. */
export interface EtcdFirstStart {
    state: "new" | "existing";
    initialCluster: string;
    dataDir: string;
}

/**
 * The etcd member command-line flags (argv after the binary) for member `index` of topology.byRole.etcd.
 * `first` comes from the member's join step; without it the member founds the planned cluster.
 */
export function etcdMemberArgs(spec: PlatformSpec, topology: Topology, index: number, paths: EtcdPaths = ETCD_CONTAINER_PATHS, first?: EtcdFirstStart): string[] {
    const node = member(spec, topology, index);
    const e = spec.etcd;
    const s = scheme(spec);
    const listen = listenHost(node.address);
    const pki = (f: string) => `${paths.pkiDir.replace(/\/+$/, "")}/${f}`;
    const args = [
        `--name=${etcdMemberName(topology, index)}`,
        `--data-dir=${first?.dataDir ?? paths.dataDir}`,
        `--listen-client-urls=${s}://${listen}:${e.clientPort}`,
        `--advertise-client-urls=${etcdClientUrl(spec, topology, index)}`,
        `--listen-peer-urls=${s}://${listen}:${e.peerPort}`,
        `--initial-advertise-peer-urls=${etcdPeerUrl(spec, topology, index)}`,
        `--initial-cluster=${first?.initialCluster ?? etcdInitialCluster(spec, topology)}`,
        `--initial-cluster-token=${e.clusterToken}`,
        `--initial-cluster-state=${first?.state ?? "new"}`,
        `--heartbeat-interval=${e.heartbeatMs}`,
        `--election-timeout=${e.electionMs}`,
        `--quota-backend-bytes=${e.quotaBackendBytes}`,
        `--auto-compaction-mode=periodic`,
        `--auto-compaction-retention=${ETCD_AUTO_COMPACTION_RETENTION}`,
        `--logger=zap`,
    ];
    if (e.tls)
        args.push(
            `--client-cert-auth=true`,
            `--trusted-ca-file=${pki(ETCD_PKI_FILES.ca)}`,
            `--cert-file=${pki(ETCD_PKI_FILES.cert)}`,
            `--key-file=${pki(ETCD_PKI_FILES.key)}`,
            `--peer-client-cert-auth=true`,
            // One CA signs members and clients: only a certificate naming the members' shared server
            // name (a DNS SAN of member certificates alone) may speak Raft, which bypasses auth.
            `--peer-cert-allowed-hostname=${ETCD_TLS_SERVER_NAME}`,
            `--peer-trusted-ca-file=${pki(ETCD_PKI_FILES.ca)}`,
            `--peer-cert-file=${pki(ETCD_PKI_FILES.cert)}`,
            `--peer-key-file=${pki(ETCD_PKI_FILES.key)}`,
        );
    return args;
}

/**
 * etcdctl connection flags (endpoints and, with TLS, the member's own CA/cert/key), e.g. for the
 * container health check (`etcdctl <these> endpoint health`) or a task's `toolArgv`.
 * `index` picks one member's own endpoint; without it, all client URLs.
 */
export function etcdctlConnectionArgs(spec: PlatformSpec, topology: Topology, index?: number, paths: EtcdPaths = ETCD_CONTAINER_PATHS): string[] {
    const endpoints = index === undefined ? etcdClientUrls(spec, topology) : [etcdClientUrl(spec, topology, index)];
    const pki = (f: string) => `${paths.pkiDir.replace(/\/+$/, "")}/${f}`;
    return [
        `--endpoints=${endpoints.join(",")}`,
        ...(spec.etcd.tls ? [`--cacert=${pki(ETCD_PKI_FILES.ca)}`, `--cert=${pki(ETCD_PKI_FILES.cert)}`, `--key=${pki(ETCD_PKI_FILES.key)}`] : []),
    ];
}

/**
 * The key prefix a consumer uses. apisix: `/apisix` for both. api7-v2: the dashboard owns `/api7`,
 * gateways read their cluster's `/api7/<clusterId>`.
 */
export function etcdPrefix(spec: PlatformSpec, consumer: EtcdConsumer): string {
    requireEtcd(spec);
    switch (spec.flavor) {
        case "apisix":
            return "/apisix";
        case "api7-v2":
            if (consumer === "control-plane") return "/api7";
            if (!spec.dataPlane.clusterId) throw new Error("flavor api7-v2 needs dataPlane.clusterId (checked in validate.ts)");
            return `/api7/${spec.dataPlane.clusterId}`;
        default:
            throw new Error(`flavor ${spec.flavor} has no etcd prefix`);
    }
}

/**
 * The etcd user a consumer signs in as. A consumer password rotation moves it between two users
 * that take turns, so the running consumers keep working while they roll onto the new one: rotation
 * N's active user is `<consumer>` for even N, `<consumer>-alt` for odd N; the other is the previous
 * one, revoked once every consumer has rolled (renderEtcdRevokeScript).
 */
export function etcdConsumerUser(spec: PlatformSpec, consumer: EtcdConsumer, which: "active" | "previous" = "active"): string {
    const odd = spec.etcd.consumerPasswordRotation % 2 === 1;
    return odd === (which === "active") ? `${consumer}-alt` : consumer;
}

/** The etcd users the platform creates and the key prefixes they get: root; control-plane readwrite; gateway read-only. */
export function etcdUsers(spec: PlatformSpec): EtcdUser[] {
    requireEtcd(spec);
    return [
        { name: "root", role: "root", passwordEnv: "ETCD_ROOT_PASSWORD" },
        { name: etcdConsumerUser(spec, "control-plane"), role: "control-plane", permission: "readwrite", prefix: etcdPrefix(spec, "control-plane"), passwordEnv: "ETCD_CONTROL_PLANE_PASSWORD" },
        { name: etcdConsumerUser(spec, "gateway"), role: "gateway", permission: "read", prefix: etcdPrefix(spec, "gateway"), passwordEnv: "ETCD_GATEWAY_PASSWORD" },
    ];
}

/** Single-quoted for POSIX sh. */
function shq(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const SAFE_WORD = /^[A-Za-z0-9_./-]+$/;

/** Shell functions shared by the bootstrap and health-check scripts. */
function scriptPrelude(expected: number, title: string): string {
    return `# gateway-ha: ${title}. Generated: do not edit.
# The caller defines \`tool\`: etcdctl with endpoints and TLS flags already set, forwarding
# ETCDCTL_USER. Passwords come only from the environment and reach etcdctl on stdin or through
# ETCDCTL_USER: never on a command line, never printed (xtrace stays off).
set -eu
set +x

expected=${expected}
tries=\${${ETCD_BOOTSTRAP_ENV.tries}:-${ETCD_STEP_DEFAULTS.tries}}
delay=\${${ETCD_BOOTSTRAP_ENV.delay}:-${ETCD_STEP_DEFAULTS.delaySeconds}}

say() { printf 'etcd-bootstrap: %s\\n' "$*" >&2; }
die() { printf 'etcd-bootstrap: ERROR: %s\\n' "$*" >&2; exit 1; }

command -v tool >/dev/null 2>&1 || die "the caller must define the shell function 'tool' (etcdctl with endpoints and TLS flags)"
case $tries in '' | *[!0-9]*) die "${ETCD_BOOTSTRAP_ENV.tries} must be a whole number" ;; esac
case $delay in '' | *[!0-9]*) die "${ETCD_BOOTSTRAP_ENV.delay} must be a whole number of seconds" ;; esac
[ "$tries" -ge 1 ] || die "${ETCD_BOOTSTRAP_ENV.tries} must be at least 1"

# run ARGS...: tool, its output shown only when it fails.
run() {
    _rc=0
    _out=$(tool "$@" 2>&1) || _rc=$?
    [ "$_rc" -eq 0 ] || printf '%s\\n' "$_out" >&2
    return "$_rc"
}

# health: true when \`endpoint health --cluster\` passes and at least $expected members answer
# (a scale-down removes the members beyond the plan after this runs). Leaves etcdctl's report in $_out.
health() {
    _rc=0
    _out=$(tool endpoint health --cluster 2>&1) || _rc=$?
    _ok=$(printf '%s\\n' "$_out" | grep -c ' is healthy') || true
    [ "$_rc" -eq 0 ] && [ "$_ok" -ge "$expected" ]
}

# check_members: at least $expected members, all started (members that formed a cluster of their
# own are missing from this list).
check_members() {
    _rc=0
    _out=$(tool member list 2>&1) || _rc=$?
    [ "$_rc" -eq 0 ] || { printf '%s\\n' "$_out" >&2; die "etcdctl member list failed"; }
    _total=$(printf '%s\\n' "$_out" | grep -c '^[0-9a-f][0-9a-f]*, ') || true
    _started=$(printf '%s\\n' "$_out" | grep -c '^[0-9a-f][0-9a-f]*, started, ') || true
    if [ "$_total" -lt "$expected" ] || [ "$_started" -ne "$_total" ]; then
        printf '%s\\n' "$_out" >&2
        die "etcd has $_total member(s), $_started started; expected at least $expected, all started"
    fi
}

# verify: every member healthy now (a few quick retries for a member still catching up).
verify() {
    _v=1
    until health; do
        if [ "$_v" -ge 3 ]; then
            printf '%s\\n' "$_out" >&2
            die "cluster unhealthy: expected all $expected members healthy (endpoint health --cluster); see the report above"
        fi
        _v=$((_v + 1))
        sleep 1
    done
    check_members
}
`;
}

/**
 * POSIX sh script body: wait for the cluster to form, check its membership, bootstrap auth
 * (users, roles, permissions, `auth enable`; idempotent, updates changed passwords), then verify
 * as root that every member is healthy. Exits non-zero with a message on stderr otherwise.
 */
export function renderEtcdBootstrapScript(spec: PlatformSpec, topology: Topology): string {
    const expected = members(spec, topology).length;
    const users = etcdUsers(spec);
    for (const u of users) {
        if (!ENV_NAME.test(u.passwordEnv)) throw new Error(`bad password variable name ${u.passwordEnv}`);
        if (!SAFE_WORD.test(u.name) || (u.role && !SAFE_WORD.test(u.role)) || (u.prefix && !SAFE_WORD.test(u.prefix)))
            throw new Error(`etcd user ${u.name}: names and prefixes must be plain words`);
    }
    const root = users.find((u) => u.name === "root")!;
    const others = users.filter((u) => u !== root);
    const rootVar = root.passwordEnv;
    const prevVar = ETCD_BOOTSTRAP_ENV.previousRootPassword;

    const lines: string[] = [scriptPrelude(expected, `etcd bootstrap for ${expected} members (cluster token ${spec.etcd.clusterToken.replace(/[^\w.-]/g, "_")})`)];

    if (spec.etcd.auth) {
        lines.push(`# need_password NAME VALUE: set, one word (etcdctl --interactive=false reads a single word).
need_password() {
    [ -n "$2" ] || die "$1 is not set or empty"
    case $2 in *[[:space:]]* | *[[:cntrl:]]*) die "$1 must not contain whitespace or control characters" ;; esac
}
${users.map((u) => `need_password ${u.passwordEnv} "\${${u.passwordEnv}-}"`).join("\n")}

# As root from the start: while auth is off, etcd ignores the credentials.
ETCDCTL_USER="root:$${rootVar}"
export ETCDCTL_USER

# rotate_root: etcd still has the previous root password; change it to ${rootVar}.
rotated=no
rotate_root() {
    [ -n "\${${prevVar}-}" ] || die "etcd rejected the root password in ${rootVar}: auth is on with another root password (set ${prevVar} to the current one to rotate it)"
    [ "$rotated" = no ] || die "etcd rejected both ${rootVar} and ${prevVar}"
    rotated=yes
    need_password ${prevVar} "$${prevVar}"
    say "rotating the root password"
    ETCDCTL_USER="root:$${prevVar}"
    printf '%s\\n' "$${rootVar}" | run user passwd root --interactive=false >/dev/null || die "could not change the root password"
    ETCDCTL_USER="root:$${rootVar}"
}

# auth_enabled: etcd 3.4 has no \`auth status\`. Authenticating as a user that never exists fails
# only when auth is on; with auth off, etcd answers "authentication is not enabled" and etcdctl goes on.
auth_enabled() {
    _rc=0
    _out=$(ETCDCTL_USER='gateway-ha-auth-probe:probe'; export ETCDCTL_USER; tool member list 2>&1) || _rc=$?
    [ "$_rc" -ne 0 ] || return 1
    case $_out in *'authentication failed'*) return 0 ;; esac
    printf '%s\\n' "$_out" >&2
    die "could not tell whether etcd auth is enabled"
}

ensure_role() {
    tool role get "$1" >/dev/null 2>&1 || run role add "$1" >/dev/null
}

# grant ROLE PERMISSION PREFIX: every key starting with PREFIX, so a client may also range over
# PREFIX itself (lua-resty-etcd's readdir(PREFIX) asks for [PREFIX, PREFIX+1)).
grant() {
    run role grant-permission "$1" "$2" "$3" --prefix=true >/dev/null
}

# only_grant ROLE PREFIX: revokes the role's grants on any other prefix (a changed clusterId's old
# prefix), so a consumer keeps exactly the keys it is meant to reach.
only_grant() {
    _grants=$(tool role get "$1") || die "could not read role $1"
    # Prefixes are /apisix or /api7[/<clusterId>] (letters, digits, _ and -): no word splitting.
    for _p in $(printf '%s\\n' "$_grants" | sed -n 's/^[[:space:]]*\\[.*) (prefix \\(.*\\))$/\\1/p' | sort -u); do
        [ "$_p" = "$2" ] && continue
        run role revoke-permission "$1" "$_p" --prefix=true >/dev/null || die "could not revoke $1's grant on $_p"
        say "revoked $1's grant on $_p"
    done
}

# ensure_user NAME PASSWORD ROLE: create or update the password (stdin), then grant the role.
ensure_user() {
    if tool user get "$1" >/dev/null 2>&1; then
        printf '%s\\n' "$2" | run user passwd "$1" --interactive=false >/dev/null
    else
        printf '%s\\n' "$2" | run user add "$1" --interactive=false >/dev/null
    fi
    run user grant-role "$1" "$3" >/dev/null
}
`);
    }

    lines.push(`say "waiting for $expected healthy members (up to $tries tries, \${delay}s apart)"
i=1
until health; do
${spec.etcd.auth ? `    case $_out in *'authentication failed'*) rotate_root; continue ;; esac\n` : ""}    if [ "$i" -ge "$tries" ]; then
        printf '%s\\n' "$_out" >&2
        die "etcd did not report $expected healthy members after $tries tries; see the report above"
    fi
    i=$((i + 1))
    sleep "$delay"
done
check_members
say "cluster formed: $expected members healthy"
`);

    if (spec.etcd.auth) {
        lines.push(`if auth_enabled; then say "auth already enabled: updating roles, users and passwords"; else say "auth off: creating roles and users, then enabling auth"; fi
ensure_role root
ensure_user root "$${rootVar}" root
${others
    .map((u) =>
        [`ensure_role ${shq(u.role!)}`, `grant ${shq(u.role!)} ${u.permission} ${shq(u.prefix!)}`, `only_grant ${shq(u.role!)} ${shq(u.prefix!)}`, `ensure_user ${shq(u.name)} "$${u.passwordEnv}" ${shq(u.role!)}`].join("\n"),
    )
    .join("\n")}
run auth enable >/dev/null
auth_enabled || die "auth enable did not take effect"
say "auth enabled; users: ${users.map((u) => u.name).join(", ")}"
`);
    }

    lines.push(`verify
say "etcd healthy: $expected of $expected members${spec.etcd.auth ? ", auth enabled" : ""}"
`);
    return lines.join("\n");
}

/**
 * POSIX sh script body: the post-deploy check alone (no waiting, no changes): every member
 * healthy and the membership exactly as planned. Same `tool` contract; with auth it runs as root.
 */
export function renderEtcdHealthCheckScript(spec: PlatformSpec, topology: Topology): string {
    const expected = members(spec, topology).length;
    const rootVar = etcdUsers(spec).find((u) => u.name === "root")!.passwordEnv;
    return [
        scriptPrelude(expected, `etcd health check for ${expected} members`),
        spec.etcd.auth
            ? `[ -n "\${${rootVar}-}" ] || die "${rootVar} is not set or empty"
ETCDCTL_USER="root:$${rootVar}"
export ETCDCTL_USER
`
            : "",
        `verify
say "etcd healthy: $expected of $expected members"
`,
    ].join("\n");
}

/**
 * POSIX sh script body, run once every consumer has rolled onto its rotated user: deletes the
 * previous consumer users (etcd drops their tokens with them), after checking that the active ones
 * exist. Idempotent; as root; the same `tool` contract as the bootstrap.
 */
export function renderEtcdRevokeScript(spec: PlatformSpec, topology: Topology): string {
    const expected = members(spec, topology).length;
    const rootVar = etcdUsers(spec).find((u) => u.name === "root")!.passwordEnv;
    const pairs = ETCD_CONSUMERS.map((c) => ({ active: etcdConsumerUser(spec, c), previous: etcdConsumerUser(spec, c, "previous") }));
    return [
        scriptPrelude(expected, `etcd consumer user revocation (${pairs.map((p) => p.previous).join(", ")})`),
        `[ -n "\${${rootVar}-}" ] || die "${rootVar} is not set or empty"
ETCDCTL_USER="root:$${rootVar}"
export ETCDCTL_USER

# revoke PREVIOUS ACTIVE: delete PREVIOUS once ACTIVE exists (the consumers run as ACTIVE now).
revoke() {
    run user get "$2" >/dev/null || die "the active user $2 is missing: not revoking $1 (run pulumi up again: the bootstrap creates it)"
    _rc=0
    _out=$(tool user get "$1" 2>&1) || _rc=$?
    if [ "$_rc" -ne 0 ]; then
        case $_out in *'user name not found'*) say "$1: already revoked"; return 0 ;; esac
        printf '%s\\n' "$_out" >&2
        die "etcdctl user get $1 failed"
    fi
    run user delete "$1" >/dev/null || die "could not delete user $1"
    say "revoked $1 (its consumers run as $2)"
}
${pairs.map((p) => `revoke ${shq(p.previous)} ${shq(p.active)}`).join("\n")}
`,
    ].join("\n");
}
