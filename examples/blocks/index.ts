// A TypeScript program of another repository that composes the building blocks itself: etcd, three
// gateways and nginx balancers in front of them on this machine's Docker engine. Its control plane
// (the Admin API that writes routes into etcd) runs elsewhere, so the plan leaves that role out.
import * as pulumi from "@pulumi/pulumi";
import { BalancerKind, DockerTarget, EtcdCluster, Flavor, GatewayGroup, LoadBalancer, planPlatform } from "gateway-ha/blocks";

const config = new pulumi.Config();

// The plan: GatewayPlatform's Args, validated before anything is created; every address is the one
// the whole platform would give its node.
const plan = planPlatform(
    "edge",
    {
        flavor: Flavor.Apisix,
        loadBalancer: { kind: BalancerKind.Nginx },
        dataPlane: { replicas: 3 },
        docker: { networkName: "edge", subnet: "172.30.0.0/24", publishedPorts: { http: 8080, https: 8443 } },
        // This machine's Docker engine, state kept here: the only kind allowed an empty state passphrase.
        localDevelopment: config.getBoolean("localDevelopment") ?? true,
    },
    { roles: ["etcd", "data-plane", "load-balancer"] },
);

const target = new DockerTarget("edge-docker", { plan });
const etcd = new EtcdCluster("edge-etcd", { target });
const gateways = new GatewayGroup("edge-gateways", { target, etcd });
new LoadBalancer("edge-lb", { target, dependsOn: [gateways] });
// Every block has handed its services over: the balancers' reload steps can wait for the gateways' rollouts.
target.complete();

export const gatewayUrl = pulumi.output(target.entryPoints().gatewayUrl);
export const etcdEndpoints = pulumi.output(etcd.clientUrls);
export const etcdCaCert = etcd.caCertPem;
/** The control plane elsewhere writes routes as this user (a secret). */
export const controlPlaneEtcdUser = pulumi.secret(
    pulumi.all([etcd.consumers["control-plane"].user, etcd.consumers["control-plane"].password ?? ""]).apply(([user, password]) => ({ user, password })),
);
