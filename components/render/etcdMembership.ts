// etcd membership as code: the scripts a target runs around each member so that a cluster grows,
// shrinks and heals one member at a time without losing quorum or forking.
//
// Facts these scripts rely on (test/lab/etcd-membership.test.ts shows each on real etcd):
// - `--initial-cluster*` count only on a member's first start (empty data dir). With `existing`,
//   etcd fetches the cluster from the listed peers and refuses to start unless the list names
//   exactly the current members ("error validating peerURLs"): the list `member add` prints.
// - A member started with `new` and no data, whose peers already formed the cluster, exits with
//   "has already been bootstrapped"; new members started with `new` beside a cluster that is down
//   form their own if they are a majority of their list (split brain). So only the founders (the
//   members of the first deployment, kept in a record step) ever use `new`, and any other member
//   refuses to join while no member answers.
// - A founder alone does not answer clients until a quorum has formed: the first deployment cannot
//   ask the cluster anything. Founders are listed by name from the start, with client URLs only
//   once they have run.
// - A founding member's ID is the first 8 bytes of sha1(sorted peer URLs + cluster token); a member
//   added later gets a time-salted one. So `member list` tells a founder's original incarnation
//   (data in the data dir itself) from a re-joined one (data in a subdirectory named by its ID).
// - A learner does not vote, so adding one never changes the quorum; it fails `endpoint health`
//   ("rpc not supported for learner") until promoted, and etcd allows one learner at a time.
//   `member promote` is refused until the learner has caught up with the leader.
// - etcd refuses membership changes for a few seconds after a member became active ("unhealthy
//   cluster"): every change is retried.
// - With auth on, membership changes need root.
// - etcdctl prints member IDs in hex without leading zeros; `member add` pads them with spaces.
import { createHash } from "node:crypto";
import type { PlatformSpec } from "../config/types";
import type { Topology } from "../topology/types";
import { type EtcdFirstStart, ETCD_BOOTSTRAP_ENV, ETCD_CONTAINER_PATHS, ETCD_STEP_DEFAULTS, etcdClientUrl, etcdMemberName, etcdPeerUrl, etcdUsers } from "./etcd";

/** Environment of the membership steps (besides the root password and ETCD_BOOTSTRAP_ENV's tries/delay). */
export const ETCD_MEMBER_ENV = {
    name: "ETCD_MEMBER_NAME",
    peerUrl: "ETCD_MEMBER_PEER_URL",
    clientUrl: "ETCD_MEMBER_CLIENT_URL",
    /** The ID this member has if it founded the cluster (lower-case hex, as etcdctl prints it). */
    founderId: "ETCD_MEMBER_FOUNDER_ID",
    /** The founders' `--initial-cluster` (name=peerURL,...), from the record the first deployment made. */
    founders: "ETCD_FOUNDERS",
    /** The member's data volume inside its container. */
    dataDir: "ETCD_DATA_DIR",
} as const;

/** The founders record step prints this variable: the first deployment's `--initial-cluster`, kept for good. */
export const ETCD_FOUNDERS_RECORD_ENV = "ETCD_PLANNED_FOUNDERS";

/**
 * What a member starts with the first time: printed by the join step (one line, space-separated),
 * kept in the step's state afterwards. `new` only for founders of the first deployment; the data
 * dir is the volume itself for a founder, a subdirectory named by member ID after a join.
 */
export type EtcdJoinRecord = EtcdFirstStart;

/** A founding member's ID as etcd computes it (membership.NewMember with no time salt). */
export function etcdFounderId(peerUrl: string, clusterToken: string): string {
    const digest = createHash("sha1").update(`${peerUrl}${clusterToken}`).digest();
    return digest.readBigUInt64BE(0).toString(16);
}

/** The record a founder prints on the first deployment (and what the mock engine returns for a join step). */
export function founderRecord(founders: string, dataDir: string = ETCD_CONTAINER_PATHS.dataDir): EtcdJoinRecord {
    return { state: "new", initialCluster: founders, dataDir };
}

export function formatJoinRecord(r: EtcdJoinRecord): string {
    return `${r.state} ${r.initialCluster} ${r.dataDir}`;
}

/** Parses the join step's stdout (its last line); throws naming what is wrong. */
export function parseJoinRecord(stdout: string): EtcdJoinRecord {
    const line = stdout.trim().split("\n").pop() ?? "";
    const [state, initialCluster, dataDir, ...rest] = line.split(" ");
    if ((state !== "new" && state !== "existing") || !initialCluster || !dataDir?.startsWith("/") || rest.length > 0)
        throw new Error(`etcd join step printed ${JSON.stringify(line)}; expected "<new|existing> <initial cluster> <data dir>"`);
    const member = "[A-Za-z0-9_.-]+=https?://[A-Za-z0-9_.:\\[\\]-]+";
    if (!new RegExp(`^${member}(,${member})*$`).test(initialCluster) || !/^\/[A-Za-z0-9_./-]*$/.test(dataDir))
        throw new Error(`etcd join step printed an initial cluster that is not name=peerURL,... or a data dir that is not a plain path: ${JSON.stringify(line)}`);
    return { state, initialCluster, dataDir };
}

/**
 * The environment of member `index`'s join and gate steps. Not in it: the root password and the
 * founders (ETCD_MEMBER_ENV.founders), which the caller adds from their own resources.
 */
export function etcdMemberStepEnv(spec: PlatformSpec, topology: Topology, index: number): Record<string, string> {
    const peerUrl = etcdPeerUrl(spec, topology, index);
    return {
        [ETCD_MEMBER_ENV.name]: etcdMemberName(topology, index),
        [ETCD_MEMBER_ENV.peerUrl]: peerUrl,
        [ETCD_MEMBER_ENV.clientUrl]: etcdClientUrl(spec, topology, index),
        [ETCD_MEMBER_ENV.founderId]: etcdFounderId(peerUrl, spec.etcd.clusterToken),
        [ETCD_MEMBER_ENV.dataDir]: ETCD_CONTAINER_PATHS.dataDir,
    };
}

/** Shell helpers shared by the three scripts. */
function prelude(spec: PlatformSpec, title: string): string {
    const root = etcdUsers(spec).find((u) => u.name === "root")!.passwordEnv;
    const prev = ETCD_BOOTSTRAP_ENV.previousRootPassword;
    const e = ETCD_MEMBER_ENV;
    return `# gateway-ha: ${title}. Generated: do not edit.
# The caller defines \`tool\`: etcdctl run where a member's certificate is, forwarding ETCDCTL_USER
# and ETCDCTL_ENDPOINTS (every member's client URL; changes go to voters only, as a learner refuses
# them). Nothing secret is printed; stdout carries only the step's record.
set -eu
set +x
tries=\${${ETCD_BOOTSTRAP_ENV.tries}:-${ETCD_STEP_DEFAULTS.tries}}
delay=\${${ETCD_BOOTSTRAP_ENV.delay}:-${ETCD_STEP_DEFAULTS.delaySeconds}}
say() { printf 'etcd-membership: %s: %s\\n' "$${e.name}" "$*" >&2; }
die() { printf 'etcd-membership: %s: ERROR: %s\\n' "$${e.name}" "$*" >&2; exit 1; }
case $tries in '' | *[!0-9]*) die "${ETCD_BOOTSTRAP_ENV.tries} must be a whole number" ;; esac
case $delay in '' | *[!0-9]*) die "${ETCD_BOOTSTRAP_ENV.delay} must be a whole number of seconds" ;; esac
[ -n "\${ETCDCTL_ENDPOINTS-}" ] || die "ETCDCTL_ENDPOINTS must list the members' client URLs"
export ETCDCTL_ENDPOINTS
for v in "$${e.name}" "$${e.peerUrl}" "$${e.clientUrl}"; do [ -n "$v" ] || die "${e.name}, ${e.peerUrl} and ${e.clientUrl} must be set"; done
${
    spec.etcd.auth
        ? `[ -n "\${${root}-}" ] || die "${root} is not set or empty"
# Membership changes need root once auth is on; while it is off etcd ignores the credentials.
ETCDCTL_USER="root:$${root}"
export ETCDCTL_USER
# A root password rotation: etcd keeps the previous password until the bootstrap (after every
# member's steps) changes it.
if [ -n "\${${prev}-}" ]; then
    _a=$(tool member list 2>&1) || case $_a in
        *'authentication failed'*)
            say "etcd still has the previous root password: using it until the bootstrap rotates it"
            ETCDCTL_USER="root:$${prev}"
            ;;
    esac
fi
`
        : ""
}
# members: \`member list\` as lines "id|status|name|peer URLs|client URLs|is learner".
members() {
    _rc=0
    _ml=$(tool member list 2>&1) || _rc=$?
    if [ "$_rc" -ne 0 ]; then printf '%s\\n' "$_ml" >&2; return "$_rc"; fi
    printf '%s\\n' "$_ml" | grep '^[0-9a-f][0-9a-f]*, ' | sed 's/, /|/g' || true
}

# this_member LIST: this member's line (by peer URL, else by name), or nothing.
this_member() {
    printf '%s\\n' "$1" | awk -F'|' -v p="$${e.peerUrl}" '$4 == p' | head -n 1 | grep . ||
        printf '%s\\n' "$1" | awk -F'|' -v n="$${e.name}" 'n != "" && $3 == n' | head -n 1
}

field() { printf '%s\\n' "$1" | cut -d'|' -f"$2"; }

# healthy URL: the member at client URL answers \`endpoint health\` (a learner does not).
healthy() {
    _h=$(tool endpoint health --cluster 2>&1) || true
    printf '%s\\n' "$_h" | grep -q "^$1 is healthy"
}

# voters [ID]: the client URLs of the voting members that have run (but ID), comma-separated.
voters() {
    members | awk -F'|' -v x="\${1-}" '$1 != x && $6 != "true" && $5 != "" { printf "%s%s", (n++ ? "," : ""), $5 }'
}

# leader_url: the client URL of the voter that leads (its \`endpoint status\` gives its own ID as the
# leader's), or nothing. etcd forwards a promotion sent to a follower without the caller's
# credentials (etcd-io/etcd#20757: 3.4, and 3.5 as deployed); the leader refuses it ("auth: user name
# is empty") and the caller waits out a timeout: only a promotion that reaches the leader goes through.
leader_url() {
    for _u in $(voters | tr ',' ' '); do
        _s=$( (ETCDCTL_ENDPOINTS=$_u; export ETCDCTL_ENDPOINTS; tool endpoint status -w json) 2>/dev/null) || continue
        _m=$(printf '%s\\n' "$_s" | sed -n 's/.*"member_id":\\([0-9]*\\).*/\\1/p' | head -n 1)
        _l=$(printf '%s\\n' "$_s" | sed -n 's/.*"leader":\\([0-9]*\\).*/\\1/p' | head -n 1)
        if [ -n "$_m" ] && [ "$_m" = "$_l" ]; then printf '%s\\n' "$_u"; return 0; fi
    done
    return 1
}

# change ARGS...: a membership change, sent to voters (a promotion to the leader), retried while
# etcd refuses it for now; its output in $_out. Never sent to a member being removed: it stops as it
# applies its own removal, and the answer is "server stopped" for a change that went through.
change() {
    _c=1
    _x=
    [ "$1" != remove ] || _x=$2
    while :; do
        _rc=0
        _v=
        [ "$1" != promote ] || _v=$(leader_url) || _v=
        [ -n "$_v" ] || _v=$(voters "$_x") || _v=
        _out=$(ETCDCTL_ENDPOINTS=\${_v:-$ETCDCTL_ENDPOINTS}; export ETCDCTL_ENDPOINTS; tool member "$@" 2>&1) || _rc=$?
        [ "$_rc" -ne 0 ] || return 0
        case $_out in
            *'unhealthy cluster'* | *'too many learner'* | *'in sync with leader'* | *'not enough started members'* | *'context deadline exceeded'* | *'leader changed'* | *'not supported for learner'* | *'request timed out'*) ;;
            *) printf '%s\\n' "$_out" >&2; return "$_rc" ;;
        esac
        [ "$_c" -lt "$tries" ] || { printf '%s\\n' "$_out" >&2; return "$_rc"; }
        _c=$((_c + 1))
        sleep "$delay"
    done
}

# remove_member ID: removes it. A removal whose answer was lost may have gone through: the member
# list has the last word.
remove_member() {
    change remove "$1" >/dev/null && return 0
    _l=$(members) || return 1
    if printf '%s\\n' "$_l" | awk -F'|' -v id="$1" '$1 == id' | grep -q .; then return 1; fi
    say "member $1 is no longer listed: its removal went through"
}

# quorum_without ID: the voters other than ID that answer are a majority of the voters left.
quorum_without() {
    _list=$(members) || return 1
    _voters=$(printf '%s\\n' "$_list" | awk -F'|' -v id="$1" '$1 != id && $6 != "true"' | grep -c .) || true
    _h=$(tool endpoint health --cluster 2>&1) || true
    _up=0
    for _u in $(printf '%s\\n' "$_list" | awk -F'|' -v id="$1" '$1 != id && $6 != "true" { print $5 }'); do
        printf '%s\\n' "$_h" | grep -q "^$_u is healthy" && _up=$((_up + 1))
    done
    [ "$_up" -ge $((_voters / 2 + 1)) ]
}
`;
}

/**
 * The join step, run before the member's service is (re)created. Prints the member's first-start
 * record (EtcdJoinRecord). A founder while no member answers (the first deployment) or that never
 * started: the founders' record; any other member while none answers: refused. A member not in the cluster: `member add --learner`. A
 * member listed but not healthy (data lost) or at another address: removed and added again, into a
 * fresh data directory, provided quorum holds without it. A healthy listed member: its record
 * again, unchanged, so re-running the step moves nothing.
 */
export function renderEtcdJoinScript(spec: PlatformSpec): string {
    const e = ETCD_MEMBER_ENV;
    return `${prelude(spec, "etcd join step")}
record() { printf '%s %s %s\\n' "$1" "$2" "$3"; }
founders() { record new "$${e.founders}" "$${e.dataDir}"; }
[ -n "\${${e.founders}-}" ] || die "${e.founders} is not set"
is_founder() { case ",$${e.founders}," in *",$${e.name}=$${e.peerUrl},"*) return 0 ;; esac; return 1; }

i=1
while :; do
    _rc=0
    list=$(members) || _rc=$?
    [ "$_rc" -ne 0 ] || break
    # A founder starts as one: on the first deployment nothing answers before a quorum has started,
    # and later etcd itself refuses a founder whose peers already formed the cluster.
    if is_founder; then
        say "no member answers: a founder of $${e.founders}"
        founders
        exit 0
    fi
    # Never found a cluster beside one that exists but is down: that is how a split brain starts.
    [ "$i" -lt "$tries" ] || die "no etcd member answers after $tries tries: refusing to add a member that is not a founder until the cluster is back"
    i=$((i + 1))
    sleep "$delay"
done

me=$(this_member "$list")
if [ -n "$me" ]; then
    id=$(field "$me" 1)
    status=$(field "$me" 2)
    peer=$(field "$me" 4)
    client=$(field "$me" 5)
    learner=$(field "$me" 6)
    # A founder is listed by name from the start; it has client URLs once it has run.
    if is_founder && [ "$id" = "$${e.founderId}" ] && [ -z "$client" ] && [ "$peer" = "$${e.peerUrl}" ]; then
        say "a founding member that has not started yet"
        founders
        exit 0
    fi
    if [ "$status" = started ] && [ "$peer" = "$${e.peerUrl}" ] && [ "$learner" != true ] && healthy "$${e.clientUrl}"; then
        say "already a healthy member ($id): keeping its data"
        if is_founder && [ "$id" = "$${e.founderId}" ]; then founders; else record existing "$(printf '%s\\n' "$list" | awk -F'|' '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $3, $4 }')" "$${e.dataDir}/$id"; fi
        exit 0
    fi
    # A new address: etcd would reach the member where it no longer listens. Added again at the new
    # one, it catches up from the leader (etcd's data is small; no half-moved member in between).
    if [ "$peer" != "$${e.peerUrl}" ]; then why="is listed at $peer, not $${e.peerUrl}"; else why="is listed but not healthy (status $status)"; fi
    quorum_without "$id" || die "member $id $why, and the others are no quorum without it: not removing it"
    say "member $id $why: removing it to add it again with empty data"
    remove_member "$id" || die "could not remove member $id"
fi

say "adding as a learner"
change add "$${e.name}" --learner --peer-urls="$${e.peerUrl}" || die "member add failed"
added=$_out
id=$(printf '%s\\n' "$added" | sed -n 's/^Member  *\\([0-9a-f]*\\) added.*/\\1/p' | head -n 1)
cluster=$(printf '%s\\n' "$added" | sed -n 's/^ETCD_INITIAL_CLUSTER="\\(.*\\)"$/\\1/p' | head -n 1)
[ -n "$id" ] && [ -n "$cluster" ] || { printf '%s\\n' "$added" >&2; die "could not read the new member's ID and initial cluster"; }
say "added as learner $id"
record existing "$cluster" "$${e.dataDir}/$id"
`;
}

/**
 * The gate step, run after the member's service starts: waits until the member has started,
 * promotes it once its log has caught up (a learner), then waits until it answers as a healthy
 * voter. Prints the member's ID, which the remove script reads back on deletion.
 */
export function renderEtcdGateScript(spec: PlatformSpec): string {
    const e = ETCD_MEMBER_ENV;
    return `${prelude(spec, "etcd member gate")}
i=1
while :; do
    list=$(members) || list=
    me=$(this_member "$list")
    [ -z "$me" ] || [ "$(field "$me" 2)" != started ] || break
    [ "$i" -lt "$tries" ] || die "the member has not started after $tries tries"
    i=$((i + 1))
    sleep "$delay"
done
id=$(field "$me" 1)
if [ "$(field "$me" 6)" = true ]; then
    say "promoting learner $id once it has caught up"
    # A timed-out promote may have gone through: the member list has the last word.
    change promote "$id" >/dev/null ||
        [ "$(field "$(this_member "$(members)")" 6)" = false ] || die "could not promote learner $id"
fi
i=1
until healthy "$${e.clientUrl}"; do
    [ "$i" -lt "$tries" ] || die "member $id is not healthy after $tries tries"
    i=$((i + 1))
    sleep "$delay"
done
say "member $id is a healthy voter"
printf '%s\\n' "$id"
`;
}

/**
 * The gate step's delete: removes the member it gated (ID from PULUMI_COMMAND_STDOUT, else by peer
 * URL) before its service goes, only while the others keep quorum and at least 3 voters remain (a
 * destroyed stack keeps its last three); a leader hands its leadership to another voter first.
 * Gone already, replaced by a repair, or no member answers (the end of a destroy): nothing to do.
 */
export function renderEtcdRemoveScript(spec: PlatformSpec): string {
    return `${prelude(spec, "etcd member removal")}
# No answer: no quorum, so no removal is possible. That is how a destroy ends (the engine may stop the
# other members before the first one's gate goes), and a scale-down only gets here after the
# bootstrap found the cluster healthy; failing would only block the destroy. Say so and keep it.
# A few tries first: an election answers nothing for a moment. A refused password is no such case:
# the step holds the root password of its last run, which a rotation in this same up has changed.
n=1
until list=$(members); do
    case $(tool member list 2>&1) in *'authentication failed'*) die "etcd refused the root password this step last ran with: a root password rotation in the same pulumi up as removing this member; run pulumi up again with the previous member count, then remove it in an up of its own" ;; esac
    if [ "$n" -ge 5 ]; then
        say "no etcd member answers (a destroy stops them one after another): it stays in the membership; if the cluster is still in use, remove it with etcdctl member remove once it answers"
        exit 0
    fi
    n=$((n + 1))
    sleep "$delay"
done
id=$(printf '%s\\n' "\${PULUMI_COMMAND_STDOUT-}" | grep . | tail -n 1 | tr -cd '0-9a-f') || id=
# By the recorded ID only: after a repair the same peer URL belongs to the new incarnation.
if [ -n "$id" ]; then me=$(printf '%s\\n' "$list" | awk -F'|' -v id="$id" '$1 == id'); else me=$(this_member "$list"); fi
if [ -z "$me" ]; then say "not a member (any more): nothing to remove"; exit 0; fi
id=$(field "$me" 1)
# A scale-down never goes below 3 members; a stack being destroyed keeps its last three in the
# membership, so kept volumes (destroy --exclude-protected) still form the cluster on the next up.
left=$(printf '%s\\n' "$list" | awk -F'|' -v id="$id" '$1 != id && $6 != "true"' | grep -c .) || true
if [ "$left" -lt 3 ]; then say "keeping member $id: only $left voters would remain"; exit 0; fi
quorum_without "$id" || die "removing member $id would leave no healthy quorum: not removing it"
# The leader removed would leave the rest without one for an election timeout: hand it over first
# (\`endpoint status\` JSON gives IDs in decimal: the member is the leader when both agree).
url=$(field "$me" 5)
st=$( (ETCDCTL_ENDPOINTS=$url; export ETCDCTL_ENDPOINTS; tool endpoint status -w json) 2>/dev/null) || st=
self=$(printf '%s\\n' "$st" | sed -n 's/.*"member_id":\\([0-9]*\\).*/\\1/p' | head -n 1)
lead=$(printf '%s\\n' "$st" | sed -n 's/.*"leader":\\([0-9]*\\).*/\\1/p' | head -n 1)
if [ -n "$self" ] && [ "$self" = "$lead" ]; then
    to=$(printf '%s\\n' "$list" | awk -F'|' -v id="$id" '$1 != id && $2 == "started" && $6 != "true" { print $1; exit }')
    if [ -n "$to" ] && (ETCDCTL_ENDPOINTS=$url; export ETCDCTL_ENDPOINTS; tool move-leader "$to" >/dev/null 2>&1); then
        say "handed the leadership from $id to $to"
    else
        say "could not hand the leadership over first: the others elect a leader after the member goes"
    fi
fi
remove_member "$id" || die "could not remove member $id"
say "removed member $id"
`;
}

/**
 * The rollout step, run after the member's container is (re)created, which the next member's
 * container waits for: so a changed member container (an image upgrade) is replaced one member at
 * a time, each back before the next stops. Done once the member answers as a healthy voter, or is
 * a learner (it does not vote; its gate promotes it), or no member has a leader on three checks in
 * a row (longer than an election): the cluster is forming (the first deployment starts its
 * founders in this order, and a founder alone answers no client before a quorum runs), or it had
 * lost its quorum already, when stopping the next member costs nothing more.
 */
export function renderEtcdRolloutScript(spec: PlatformSpec): string {
    const e = ETCD_MEMBER_ENV;
    return `${prelude(spec, "etcd member rollout step")}
# leaderless: no member answers \`endpoint status\` with a leader (etcd omits a zero leader).
leaderless() {
    _s=$(tool endpoint status -w json 2>/dev/null) || true
    ! printf '%s\\n' "$_s" | grep -q '"leader":[1-9]'
}
i=1
seen=0
while :; do
    if list=$(members 2>/dev/null); then
        seen=0
        me=$(this_member "$list")
        if [ -n "$me" ] && [ "$(field "$me" 6)" = true ]; then say "a learner: its gate promotes it"; exit 0; fi
        if [ -n "$me" ] && healthy "$${e.clientUrl}"; then say "a healthy voter again"; exit 0; fi
    elif leaderless; then
        seen=$((seen + 1))
        if [ "$seen" -ge 3 ]; then say "no member has a leader: the cluster is forming (or had no quorum)"; exit 0; fi
    else
        seen=0
    fi
    [ "$i" -lt "$tries" ] || die "the member is not back as a healthy voter after $tries tries: not stopping the next member"
    i=$((i + 1))
    sleep "$delay"
done
`;
}
