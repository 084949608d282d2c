// Reading operator-supplied certificates (API7 v3's dashboard-issued gateway identity).
import { X509Certificate } from "node:crypto";

/** When the first certificate of a PEM text expires, in RFC 3339 UTC as @pulumi/tls reports it; undefined if it does not parse. */
export function certificateNotAfter(pem: string): string | undefined {
    try {
        return new Date(new X509Certificate(pem).validTo).toISOString().replace(/\.\d{3}Z$/, "Z");
    } catch {
        return undefined;
    }
}
