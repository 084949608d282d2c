// What an image reference says about the program's version (pure: no config, no resources).

/** An image reference's tag without a leading "v" ("" when it has none). */
export function imageVersion(image: string): string {
    const last = image.split("/").pop() ?? "";
    return last.includes(":") ? last.slice(last.indexOf(":") + 1).replace(/^v/, "") : "";
}

/**
 * Whether an API7 v3 image is of the pinned 3.2.16 line, whose `fallback_cp.aws_s3` has one `bucket`
 * and no endpoint (the 3.2.16.3 gateway deployment docs; the 3.2.16 chart's dashboard_configuration).
 * A digest says nothing about the version: it is taken as the pinned one.
 */
export function readsOneFallbackBucket(image: string): boolean {
    return image.includes("@") || /^3\.2\.16(\.|$)/.test(imageVersion(image));
}
