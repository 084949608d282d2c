// A TypeScript program of another repository that deploys the platform as a component: its Args
// are the stack config's keys, typed (enums for the choices), secrets as Pulumi secrets.
import * as pulumi from "@pulumi/pulumi";
import { BalancerKind, Flavor, GatewayPlatform, Layout } from "gateway-ha";

const config = new pulumi.Config();

const platform = new GatewayPlatform("edge", {
    flavor: Flavor.Apisix,
    layout: Layout.Compact,
    loadBalancer: { kind: BalancerKind.Nginx, healthCheck: { fall: 2 } },
    dataPlane: { replicas: 3, shutdownTimeoutSeconds: 20 },
    docker: { networkName: "edge", subnet: "172.29.0.0/24", publishedPorts: { http: 8080, https: 8443, controlPlane: 18000 } },
    // This machine's Docker engine, state kept here: the only kind allowed an empty state passphrase.
    localDevelopment: config.getBoolean("localDevelopment") ?? true,
});

export const gatewayUrl = platform.gatewayUrl;
export const controlPlaneUrl = platform.controlPlaneUrl;
export const managementCaCert = platform.managementCaCert;
export const adminKey = platform.adminKey;
/** The gateways' addresses, from the typed nodes output. */
export const gatewayAddresses = platform.nodes.apply((nodes) =>
    Object.values(nodes)
        .filter((n) => n.roles.includes("data-plane"))
        .map((n) => n.address),
);
