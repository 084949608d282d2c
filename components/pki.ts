// Certificates for etcd's client and peer TLS, from a CA generated per stack.
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface IssuedCert {
    certPem: pulumi.Output<string>;
    /** Always a Pulumi secret. */
    keyPem: pulumi.Output<string>;
}

const VALIDITY_HOURS = 24 * 365 * 2;
/** Renew a certificate (replace it on the next `pulumi up`) in its last 30 days. */
const EARLY_RENEWAL_HOURS = 24 * 30;
/**
 * Certificates created together expire together: each one's renewal window opens a week before the
 * previous one's (`renewalOrder`), so with a `pulumi up` at least weekly no two renew (and restart
 * their services) in the same update. early_renewal_hours changes in place (hashicorp/terraform-
 * provider-tls: no RequiresReplace on it), so a deployed stack takes this without new certificates.
 */
export const RENEWAL_STAGGER_HOURS = 24 * 7;

/** A CA rotation's state: the generation that signs, and those trusted (config/validate.ts, checkEtcdCaTrust). */
export interface CaGenerations {
    signing: number;
    /** Oldest first; includes `signing`. */
    trusted: number[];
}

/**
 * A CA per trusted generation; the signing one issues every certificate. Generation 0 keeps the
 * names a stack had before rotation existed, so its CA stays; a later generation is its own
 * resources (`<name>-ca-<g>`), created when first trusted and deleted when no longer trusted.
 */
export class CertificateAuthority {
    /** The trust bundle: every trusted generation's certificate, oldest first. */
    readonly certPem: pulumi.Output<string>;
    /** When each certificate expires (RFC 3339), by id: `ca` the signing CA, `ca-<g>` another trusted one. */
    readonly expiry: Record<string, pulumi.Output<string>> = {};
    private readonly key: tls.PrivateKey;
    private readonly signingCertPem: pulumi.Output<string>;

    constructor(
        private readonly name: string,
        commonName: string,
        generations: CaGenerations,
        private readonly opts: pulumi.CustomResourceOptions,
    ) {
        const made = new Map<number, { key: tls.PrivateKey; cert: tls.SelfSignedCert }>();
        for (const g of new Set([...generations.trusted, generations.signing])) {
            const id = g === 0 ? `${name}-ca` : `${name}-ca-${g}`;
            const key = new tls.PrivateKey(`${id}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, opts);
            const cert = new tls.SelfSignedCert(
                id,
                {
                    privateKeyPem: key.privateKeyPem,
                    isCaCertificate: true,
                    // Distinct subjects: a verifier picks the issuer of a certificate by name.
                    subject: { commonName: g === 0 ? commonName : `${commonName} ${g}`, organization: "gateway-ha" },
                    validityPeriodHours: VALIDITY_HOURS * 5,
                    earlyRenewalHours: EARLY_RENEWAL_HOURS,
                    allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
                },
                opts,
            );
            made.set(g, { key, cert });
            this.expiry[g === generations.signing ? "ca" : `ca-${g}`] = cert.validityEndTime;
        }
        const signing = made.get(generations.signing)!;
        this.key = signing.key;
        this.signingCertPem = signing.cert.certPem;
        const trusted = generations.trusted.map((g) => made.get(g)!.cert.certPem);
        // One CA: its certificate as it was before rotation existed (no content change for a deployed stack).
        this.certPem = trusted.length === 1 ? trusted[0] : pulumi.all(trusted).apply((pems) => pems.map((p) => (p.endsWith("\n") ? p : `${p}\n`)).join(""));
    }

    /**
     * A certificate usable as TLS server and client (etcd members use one for both, and for peers),
     * or with `serverOnly` as a TLS server only. `commonName` undefined issues a certificate without
     * CN, named by `organizationalUnit` instead. SANs may be outputs (an NLB's DNS name).
     */
    issue(
        id: string,
        subject: { commonName?: string; organizationalUnit?: string },
        sans: { dns?: pulumi.Input<pulumi.Input<string>[]>; ips?: pulumi.Input<pulumi.Input<string>[]> },
        renewalOrder: number,
        serverOnly = false,
    ): IssuedCert {
        const key = new tls.PrivateKey(`${this.name}-${id}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, this.opts);
        const csr = new tls.CertRequest(
            `${this.name}-${id}-csr`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { ...subject, organization: "gateway-ha" },
                dnsNames: sans.dns,
                ipAddresses: sans.ips,
            },
            this.opts,
        );
        const cert = new tls.LocallySignedCert(
            `${this.name}-${id}-cert`,
            {
                certRequestPem: csr.certRequestPem,
                caPrivateKeyPem: this.key.privateKeyPem,
                caCertPem: this.signingCertPem,
                validityPeriodHours: VALIDITY_HOURS,
                earlyRenewalHours: EARLY_RENEWAL_HOURS + renewalOrder * RENEWAL_STAGGER_HOURS,
                allowedUses: ["digital_signature", "key_encipherment", "server_auth", ...(serverOnly ? [] : ["client_auth"])],
            },
            this.opts,
        );
        this.expiry[id] = cert.validityEndTime;
        return { certPem: cert.certPem, keyPem: pulumi.secret(key.privateKeyPem) };
    }
}

/**
 * The management channel's PKI: a CA of its own (a management certificate never opens etcd, whose CA
 * signs its clients), and where the target's clients reach the control plane beyond the addresses
 * the topology knows (an NLB's DNS name).
 */
export interface ManagementPki {
    ca: CertificateAuthority;
    entryHosts: pulumi.Input<string>[];
    /** The first of this component's renewal orders: certificates made together renew a week apart. */
    firstRenewalOrder: number;
    /**
     * The operator's certificate (controlPlane.certificate), served instead of the CA's where the
     * component ends its clients' TLS. Checked by checkServingCertificate before anything is created.
     */
    served?: ServedCertificate;
}

/** An operator-supplied server certificate as a component serves it. */
export interface ServedCertificate {
    /** PEM: the certificate, then its intermediates. */
    certPem: string;
    /** A Pulumi secret. */
    keyPem: pulumi.Input<string>;
    /** The root its clients trust. */
    caPem: string;
    /** The name (or IPv4 address) clients reach it by, which it names. */
    host: string;
}

/** The operator's certificate in the shape of one the stack issues (its key kept a secret). */
export function servedAsIssued(served: ServedCertificate): IssuedCert {
    return { certPem: pulumi.output(served.certPem), keyPem: pulumi.secret(served.keyPem) };
}
