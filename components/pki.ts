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

export class CertificateAuthority {
    readonly certPem: pulumi.Output<string>;
    /** When each certificate expires (RFC 3339), by id (`ca` for the CA itself): what the rotation runbook watches. */
    readonly expiry: Record<string, pulumi.Output<string>> = {};
    private readonly key: tls.PrivateKey;

    constructor(
        private readonly name: string,
        commonName: string,
        private readonly opts: pulumi.CustomResourceOptions,
    ) {
        this.key = new tls.PrivateKey(`${name}-ca-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, opts);
        const cert = new tls.SelfSignedCert(
            `${name}-ca`,
            {
                privateKeyPem: this.key.privateKeyPem,
                isCaCertificate: true,
                subject: { commonName, organization: "gateway-ha" },
                validityPeriodHours: VALIDITY_HOURS * 5,
                earlyRenewalHours: EARLY_RENEWAL_HOURS,
                allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            },
            opts,
        );
        this.certPem = cert.certPem;
        this.expiry.ca = cert.validityEndTime;
    }

    /**
     * A certificate usable as TLS server and client (etcd members use one for both, and for peers).
     * `commonName` undefined issues a certificate without CN, named by `organizationalUnit` instead.
     */
    issue(id: string, subject: { commonName?: string; organizationalUnit?: string }, sans: { dns?: string[]; ips?: string[] }, renewalOrder: number): IssuedCert {
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
                caCertPem: this.certPem,
                validityPeriodHours: VALIDITY_HOURS,
                earlyRenewalHours: EARLY_RENEWAL_HOURS + renewalOrder * RENEWAL_STAGGER_HOURS,
                allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            },
            this.opts,
        );
        this.expiry[id] = cert.validityEndTime;
        return { certPem: cert.certPem, keyPem: pulumi.secret(key.privateKeyPem) };
    }
}
