// gateway-ha's stack program: the stack config, validated, becomes GatewayPlatform's Args; its outputs
// are the stack's (the contract in components/outputs.ts).
import * as pulumi from "@pulumi/pulumi";
import { GatewayPlatform, type GatewayPlatformArgs } from "./components";
import { ConfigValidationError, loadPlatform, namespacedConfig, secretKeysIn, statePassphrase } from "./components/config";
import { setAt, valueAt } from "./components/config/paths";

// Which config keys Pulumi holds as secrets: the runtime knows (from the CLI, or the mocks'
// setAllConfig) but marks the function internal, so it is not in the typings.
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret: (key: string) => boolean }).isConfigSecret;

/**
 * The stack's rules first (secret values set with --secret, the state's passphrase), then the
 * component's, which are the config's. Validation throws before any resource exists, naming every
 * bad key, value and rule; as a RunError, Pulumi prints that message alone (no stack trace).
 */
function platform(): GatewayPlatform {
    const config = pulumi.runtime.allConfig();
    try {
        loadPlatform(config, {
            project: pulumi.getProject(),
            stack: pulumi.getStack(),
            secretKeys: Object.keys(config).filter(isConfigSecret),
            statePassphrase: statePassphrase(process.env),
        });
        const args = namespacedConfig(config);
        // Secret values go on as Pulumi secrets.
        for (const key of secretKeysIn(args)) setAt(args, key, pulumi.secret(valueAt(args, key) as string));
        return new GatewayPlatform("gateway-ha", args as GatewayPlatformArgs);
    } catch (e) {
        if (e instanceof ConfigValidationError) throw new pulumi.RunError(e.message);
        throw e;
    }
}
const gateway = platform();

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
    certificateExpiry,
    adminKey,
    dashboardAdmin,
    etcdCredentials,
} = gateway;
/** null without fallback storage, as the output contract has always said. */
export const fallbackBuckets = gateway.fallbackBuckets.apply((b) => b ?? null);
