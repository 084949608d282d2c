// gateway-ha: read and validate the stack config, build the platform, export the output contract.
import * as pulumi from "@pulumi/pulumi";
import { GatewayPlatform } from "./components/platform";
import { ConfigValidationError, loadPlatform, statePassphrase } from "./components/config";

// Which config keys Pulumi holds as secrets: the runtime knows (from the CLI, or the mocks'
// setAllConfig) but marks the function internal, so it is not in the typings.
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret: (key: string) => boolean }).isConfigSecret;

// Validation throws before any resource exists, naming every bad key, value and rule; as a RunError,
// Pulumi prints that message alone (no stack trace, no program text).
function load(): ReturnType<typeof loadPlatform> {
    const config = pulumi.runtime.allConfig();
    try {
        return loadPlatform(config, {
            project: pulumi.getProject(),
            stack: pulumi.getStack(),
            secretKeys: Object.keys(config).filter(isConfigSecret),
            statePassphrase: statePassphrase(process.env),
        });
    } catch (e) {
        if (e instanceof ConfigValidationError) throw new pulumi.RunError(e.message);
        throw e;
    }
}
const { spec, secrets, topology } = load();

const platform = new GatewayPlatform("gateway-ha", {
    spec,
    topology,
    databaseDsn: secrets.databaseDsn === undefined ? undefined : pulumi.secret(secrets.databaseDsn),
    dpClientKey: secrets.dpClientKey === undefined ? undefined : pulumi.secret(secrets.dpClientKey),
    controlPlaneKey: secrets.controlPlaneKey === undefined ? undefined : pulumi.secret(secrets.controlPlaneKey),
    sshPrivateKey: secrets.sshPrivateKey === undefined ? undefined : pulumi.secret(secrets.sshPrivateKey),
    vipAuthPass: secrets.vipAuthPass && Object.fromEntries(Object.entries(secrets.vipAuthPass).map(([vip, pass]) => [vip, pulumi.secret(pass)])),
});

export const {
    flavor,
    target,
    layout,
    gatewayUrl,
    gatewayHttpsUrl,
    controlPlaneUrl,
    managementCaCert,
    etcdEndpoints,
    nodes,
    etcdCaCert,
    balancerDnsNames,
    fallbackBuckets,
    certificateExpiry,
} = platform.outputs;
export const { adminKey, dashboardAdmin, etcdCredentials } = platform.secretOutputs;
