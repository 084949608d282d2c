// Example consumer: reads a gateway-ha stack's outputs through a StackReference, typed by the
// platform's output contract (components/outputs.ts), and re-exports a few of them.
import * as pulumi from "@pulumi/pulumi";
import { platformOutput } from "gateway-ha/outputs";

const config = new pulumi.Config();
// e.g. "organization/gateway-ha/dev" (file backends always use the org "organization").
const platform = new pulumi.StackReference(config.require("platformStack"));

/** Clients' entry point (the gateway balancer, HTTP). */
export const gatewayUrl: pulumi.Output<string> = platformOutput(platform, "gatewayUrl");
/** Operators' entry point (the control-plane balancer); https:// where the control plane serves TLS. */
export const controlPlaneUrl: pulumi.Output<string> = platformOutput(platform, "controlPlaneUrl");
/** The CA to verify controlPlaneUrl's certificate with (e.g. `curl --cacert`); empty where it is plain HTTP. */
export const managementCaCert: pulumi.Output<string> = platformOutput(platform, "managementCaCert");
/** etcd client URLs on the platform network (empty for api7-v3). */
export const etcdEndpoints: pulumi.Output<string[]> = platformOutput(platform, "etcdEndpoints");
/** Addresses of the gateway (data-plane) nodes, from the typed `nodes` output. */
export const gatewayAddresses: pulumi.Output<string[]> = platformOutput(platform, "nodes").apply((nodes) =>
    Object.values(nodes)
        .filter((n) => n.roles.includes("data-plane"))
        .map((n) => n.address),
);
/** APISIX Admin API key: already a secret in the platform stack; kept secret here explicitly. */
export const adminKey: pulumi.Output<string> = pulumi.secret(platformOutput(platform, "adminKey"));
