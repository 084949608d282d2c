// What a program's platforms hold that two cannot share, by what it is: a Docker network, subnet or
// published address on the local engine, a host (target ssh, remote Docker hosts), a bucket name.
// Their names are their own already (platformNames); these come from the Args. GatewayPlatform
// claims all of its plan's before it registers anything; a target claims its own and
// FallbackStorage its buckets, so a program composing the blocks itself is kept apart the same way.
import { ConfigValidationError } from "./config";
import type { PlatformPlan } from "./plan";

interface Claim {
    what: string;
    key: string;
    value: unknown;
}

/** Keyed by project/stack too: one process may run several stacks' programs (the Automation API), each its own program. */
const claimed = new Map<string, { platform: string; by: string }>();

function targetClaims({ spec, topology }: PlatformPlan): Claim[] {
    const claims: Claim[] = [];
    if (spec.target === "docker" && topology.nodes.some((n) => !n.ssh)) {
        claims.push({ what: `docker network ${spec.docker.networkName}`, key: "docker.networkName", value: spec.docker.networkName });
        claims.push({ what: `docker subnet ${spec.docker.subnet}`, key: "docker.subnet", value: spec.docker.subnet });
        for (const [port, value] of Object.entries(spec.docker.publishedPorts))
            claims.push({ what: `published ${spec.docker.publishAddress}:${value}`, key: `docker.publishedPorts.${port}`, value });
    }
    for (const node of topology.nodes.filter((n) => spec.target === "ssh" || n.ssh))
        claims.push({ what: `host ${node.address}`, key: "nodes", value: `${node.name} at ${node.address}` });
    return claims;
}

function bucketClaims({ spec }: PlatformPlan): Claim[] {
    const storage = spec.resilience.fallbackStorage;
    return storage?.kind === "s3"
        ? (["configBucket", "resourceBucket"] as const).map((key) => ({ what: `bucket ${storage[key]}`, key: `resilience.fallbackStorage.${key}`, value: storage[key] }))
        : [];
}

/**
 * Claims what `of` the plan holds for the platform `plan.name`, or throws naming each key another
 * platform of this program holds (`keyPrefix` + key). `by` names the claimant in the holder's errors.
 */
export function claimPhysical(by: string, plan: PlatformPlan, of: "all" | "target" | "buckets", keyPrefix: string): void {
    const claims = [...(of === "buckets" ? [] : targetClaims(plan)), ...(of === "target" ? [] : bucketClaims(plan))];
    const program = `${plan.spec.project}/${plan.spec.stack}`;
    const holder = (c: Claim) => claimed.get(`${program} ${c.what}`);
    const taken = claims.filter((c) => holder(c) !== undefined && holder(c)!.platform !== plan.name);
    if (taken.length)
        throw new ConfigValidationError(
            taken.map((c) => ({ key: c.key, value: c.value, rule: `already ${holder(c)!.by}'s in this program: two platforms cannot share it` })),
            { title: `${by}: invalid args`, keyPrefix },
        );
    for (const c of claims) if (!holder(c)) claimed.set(`${program} ${c.what}`, { platform: plan.name, by });
}
