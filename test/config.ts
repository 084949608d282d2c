// Stack config for tests, as Pulumi hands it to the program: `gateway-ha:<key>`, structured values
// as JSON. Shared by the unit, render and lab tests; no Pulumi runtime in here.
import { ConfigValidationError, loadPlatform, type ConfigIssue, type LoadedPlatform } from "../components/config";
import { issueDpIdentity, type DpIdentity } from "../lab/standins/dpIdentity";

export const PROJECT = "gateway-ha";
export const CTX = { project: PROJECT, stack: "test" };

/** `{flavor: "apisix", etcd: {...}}` -> Pulumi's config map. */
export function cfg(values: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${PROJECT}:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
}

/** Loads (validates) a config given as plain values. */
export function load(values: Record<string, unknown> = {}, ctx = CTX): LoadedPlatform {
    return loadPlatform(cfg(values), ctx);
}

/** Every validation issue of a config; none when it loads. */
export function issuesOf(values: Record<string, unknown>): ConfigIssue[] {
    try {
        load(values);
    } catch (e) {
        if (e instanceof ConfigValidationError) return e.issues;
        throw e;
    }
    return [];
}

let dpIdentity: DpIdentity | undefined;

/** The API7 v3 gateway group identity the tests' v3 stacks carry, issued once per test file (openssl). */
export function testDpIdentity(): DpIdentity {
    return (dpIdentity ??= issueDpIdentity());
}

/** `dataPlane.dpManagerIdentity` as `npm run api7:identity` sets it. */
export function dpManagerIdentityConfig(): { certificate: string; caCertificate: string; privateKey: string } {
    const id = testDpIdentity();
    return { certificate: id.certificate, caCertificate: id.caCertificate, privateKey: id.privateKey };
}

/**
 * API7 v3 images of a release newer than the contracts' 3.2.16 (API7's upgrade docs use 3.7.3), whose
 * fallback_cp reads two buckets and an endpoint: what `resilience.fallbackStorage.kind: local` needs.
 */
export function withNewerApi7v3(values: Record<string, unknown>): Record<string, unknown> {
    const cp = (values.controlPlane ?? {}) as Record<string, unknown>;
    const dp = (values.dataPlane ?? {}) as Record<string, unknown>;
    return {
        ...values,
        controlPlane: { image: "api7/api7-ee-3-integrated:v3.7.3", dpManagerImage: "api7/api7-ee-dp-manager:v3.7.3", ...cp },
        dataPlane: { image: "api7/api7-ee-3-gateway:3.7.3", ...dp },
    };
}
