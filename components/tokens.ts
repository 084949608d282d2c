// Type tokens of the components: one module, `index`, as a Pulumi package's components have
// (`gateway-ha:index:<Class>`). Each keeps the token it had before as an alias, so a stack created
// with it updates in place: same URNs, nothing replaced.
import type * as pulumi from "@pulumi/pulumi";

export const componentType = (className: string): string => `gateway-ha:index:${className}`;

/**
 * The options plus an alias from the component's previous token. Its children need none of their
 * own: the engine carries a parent's aliases to its children.
 */
export function withPreviousToken(previous: string, opts?: pulumi.ComponentResourceOptions): pulumi.ComponentResourceOptions {
    return { ...opts, aliases: [...(opts?.aliases ?? []), { type: previous }] };
}
