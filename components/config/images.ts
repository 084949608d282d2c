// Image references: their grammar, and what one says about the program's version (pure: no
// config, no resources).

// The reference grammar of distribution/reference (what Docker and every OCI registry client parse):
// [domain[:port]/]path[:tag][@digest], path components lowercase, a domain told from the first path
// component by a '.' or ':' in it, or being "localhost".
const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE = new RegExp(`^(?:(${DOMAIN})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);
/** The longest name (domain and path) a reference may have. */
const NAME_MAX = 255;

/**
 * Why `ref` is not an image reference the platform accepts, or undefined: it must parse by the
 * reference grammar and be pinned, to a tag other than `latest` or to a digest.
 */
export function imageReferenceProblem(ref: string): string | undefined {
    const m = REFERENCE.exec(ref);
    if (!m) return "must be an image reference: [registry[:port]/]path[:tag][@digest], lowercase path, no spaces";
    const [, domain, path, tag, digest] = m;
    // A first component without '.' or ':' that is not "localhost" is a path component, so lowercase.
    if (domain && !/[.:]/.test(domain) && domain !== "localhost" && !new RegExp(`^${PATH_COMPONENT}$`).test(domain))
        return "must be an image reference: a path is lowercase (a registry name has a '.' or a port)";
    if ((domain ? domain.length + 1 : 0) + path.length > NAME_MAX) return `must be an image reference: its name is longer than ${NAME_MAX} characters`;
    if (!tag && !digest) return "must be pinned to a tag or digest (not missing, not 'latest')";
    if (tag === "latest" && !digest) return "must be pinned to a tag or digest (not missing, not 'latest')";
    if (digest?.startsWith("sha256:") && digest.length !== "sha256:".length + 64) return "must be an image reference: a sha256 digest has 64 hex digits";
    return undefined;
}

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
