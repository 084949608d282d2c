// Reading operator-supplied certificates: API7 v3's dashboard-issued gateway identity, and the
// control plane's own certificate from the organisation's CA (checked before anything is created).
import { X509Certificate, createPrivateKey } from "node:crypto";
import { parseIpv4 } from "./net";

/** When the first certificate of a PEM text expires, in RFC 3339 UTC as @pulumi/tls reports it; undefined if it does not parse. */
export function certificateNotAfter(pem: string): string | undefined {
    try {
        return new Date(new X509Certificate(pem).validTo).toISOString().replace(/\.\d{3}Z$/, "Z");
    } catch {
        return undefined;
    }
}

/** Every certificate of a PEM text, in order; undefined if one does not parse. */
export function pemCertificates(pem: string): X509Certificate[] | undefined {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    try {
        return blocks.length ? blocks.map((b) => new X509Certificate(b)) : undefined;
    } catch {
        return undefined;
    }
}

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";

export interface ServingCertificate {
    /** The certificate, then its intermediates. */
    certificate: string;
    privateKey: string;
    /** The root clients trust. */
    caCertificate: string;
    /** The name (or IPv4 address) clients reach the server by. */
    host: string;
}

/** A problem with one field of a ServingCertificate, named by the field; never showing the key. */
export interface ServingCertificateProblem {
    field: keyof ServingCertificate;
    /** What to show of the field's value (never the key, nor a whole PEM). */
    shown: string;
    rule: string;
}

/**
 * What a TLS client that trusts `caCertificate` and connects to `host` would refuse, and what the
 * server could not load: the key must be the certificate's; the certificate valid at `now`, for TLS
 * servers, naming `host`; each certificate issued by the next, the last by the CA (or the CA itself).
 */
export function checkServingCertificate(c: ServingCertificate, now: Date): ServingCertificateProblem[] {
    const chain = pemCertificates(c.certificate);
    const ca = pemCertificates(c.caCertificate)?.[0];
    const problems: ServingCertificateProblem[] = [];
    if (!chain) return [{ field: "certificate", shown: "(PEM)", rule: "must be PEM certificates that parse as X.509: the certificate, then its intermediates" }];
    const leaf = chain[0];
    const shown = `(PEM: ${leaf.subject.replace(/\n/g, ", ")})`;
    try {
        if (!leaf.checkPrivateKey(createPrivateKey(c.privateKey))) problems.push({ field: "privateKey", shown: "", rule: "is not the key of controlPlane.certificate.certificate: their public keys differ" });
    } catch {
        problems.push({ field: "privateKey", shown: "", rule: "must be a PEM private key that parses (PKCS#8, PKCS#1 or SEC1)" });
    }
    if (now < new Date(leaf.validFrom)) problems.push({ field: "certificate", shown, rule: `is not valid before ${leaf.validFrom}` });
    if (now > new Date(leaf.validTo)) problems.push({ field: "certificate", shown, rule: `expired on ${leaf.validTo}` });
    const usages = leaf.keyUsage;
    if (usages && !usages.includes(SERVER_AUTH) && !usages.includes(ANY_EXTENDED_KEY_USAGE))
        problems.push({ field: "certificate", shown, rule: "is not for TLS servers: its extended key usage lacks serverAuth" });
    for (let i = 0; i + 1 < chain.length; i++)
        if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey))
            problems.push({ field: "certificate", shown, rule: `certificate ${i + 1} of the PEM is not issued by certificate ${i + 2}: list the intermediates in order, from the one that issued it` });
    if (!ca) problems.push({ field: "caCertificate", shown: "(PEM)", rule: "must be a PEM certificate that parses as X.509" });
    else if (!ca.ca) problems.push({ field: "caCertificate", shown: `(PEM: ${ca.subject.replace(/\n/g, ", ")})`, rule: "must be a CA certificate (basic constraints CA:TRUE)" });
    else {
        const last = chain[chain.length - 1];
        if (last.fingerprint256 !== ca.fingerprint256 && !(last.checkIssued(ca) && last.verify(ca.publicKey)))
            problems.push({ field: "certificate", shown, rule: "is not issued by controlPlane.certificate.caCertificate (through the intermediates after it)" });
    }
    const named = parseIpv4(c.host) !== undefined ? leaf.checkIP(c.host) : leaf.checkHost(c.host);
    if (!named) problems.push({ field: "host", shown: c.host, rule: `is not a name of controlPlane.certificate.certificate (${leaf.subjectAltName ?? "it has no subject alternative names"})` });
    return problems;
}
