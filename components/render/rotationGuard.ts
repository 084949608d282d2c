// The password rotations' guard: a record step on the deployer that holds the rotation counters
// deployed last and fails `pulumi up`, before any password changes, when one goes down. A lower
// counter makes a slot active again whose password etcd no longer has, and regenerates the other:
// neither is the password etcd holds, so every step and consumer is locked out.

/** The step's environment variable: the counters this `up` deploys, as `rotationRecord` writes them. */
export const ROTATION_ENV = "GATEWAY_HA_ROTATIONS";

/** `etcd.rootPasswordRotation=1 etcd.consumerPasswordRotation=2` (config keys, so errors name them). */
export const rotationRecord = (counters: Record<string, number>): string =>
    Object.entries(counters)
        .map(([key, n]) => `${key}=${n}`)
        .join(" ");

/**
 * Prints this `up`'s counters once none is lower than in the previous record, which it reads from
 * its own previous stdout (the command provider's PULUMI_COMMAND_STDOUT).
 */
export function renderRotationGuardScript(): string {
    return `set -eu
prev="$(printf '%s\\n' "\${PULUMI_COMMAND_STDOUT:-}" | grep -v '^$' | tail -n 1)"
printf '%s\\n%s\\n' "$prev" "$${ROTATION_ENV}" | awk '
NR == 1 { for (i = 1; i <= NF; i++) { split($i, kv, "="); last[kv[1]] = kv[2] } next }
{
    for (i = 1; i <= NF; i++) {
        split($i, kv, "=")
        if ((kv[1] in last) && kv[2] + 0 < last[kv[1]] + 0) {
            printf "%s: %s is lower than %s, the rotation deployed last; a rotation counter only goes up (etcd holds the passwords of rotation %s; to rotate again, set %d)\\n", kv[1], kv[2], last[kv[1]], last[kv[1]], last[kv[1]] + 1 > "/dev/stderr"
            bad = 1
        }
    }
}
END { if (bad) exit 1 }'
printf '%s\n' "$${ROTATION_ENV}"
`;
}
