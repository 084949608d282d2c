// examples/consumer under Pulumi's mock engine: its StackReference is answered with sample
// outputs shaped like the platform's output contract (components/outputs.ts), secrets wrapped
// and listed in secretOutputNames as the engine returns them.
import * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime/mocks";
import { beforeAll, describe, expect, it } from "vitest";
import { SECRET_OUTPUT_KEYS, type PlatformStackOutputs } from "../../components/outputs";

const PLATFORM_STACK = "organization/gateway-ha/dev";

const SAMPLE: PlatformStackOutputs = {
    flavor: "apisix",
    target: "docker",
    layout: "standard",
    gatewayUrl: "http://127.0.0.1:9080",
    gatewayHttpsUrl: "https://127.0.0.1:9443",
    controlPlaneUrl: "https://127.0.0.1:19000",
    etcdEndpoints: ["https://172.28.0.11:2379", "https://172.28.0.12:2379", "https://172.28.0.13:2379"],
    nodes: {
        "etcd-1": { address: "172.28.0.11", roles: ["etcd"] },
        "etcd-2": { address: "172.28.0.12", roles: ["etcd"] },
        "etcd-3": { address: "172.28.0.13", roles: ["etcd"] },
        "cp-1": { address: "172.28.0.14", roles: ["control-plane"] },
        "cp-2": { address: "172.28.0.15", roles: ["control-plane"] },
        "dp-1": { address: "172.28.0.16", roles: ["data-plane"] },
        "dp-2": { address: "172.28.0.17", roles: ["data-plane"] },
        "lb-1": { address: "172.28.0.18", roles: ["load-balancer"] },
    },
    etcdCaCert: "-----BEGIN CERTIFICATE-----\nc2FtcGxl\n-----END CERTIFICATE-----\n",
    managementCaCert: "-----BEGIN CERTIFICATE-----\nbWFuYWdlbWVudA==\n-----END CERTIFICATE-----\n",
    balancerDnsNames: { gateway: "127.0.0.1", controlPlane: "127.0.0.1" },
    fallbackBuckets: null,
    certificateExpiry: { "etcd/ca": "2031-12-04T06:35:48Z", "etcd/member-1": "2028-12-04T06:35:48Z" },
    adminKey: "sample-admin-key-0123456789abcdef",
    dashboardAdmin: { user: "", password: "" },
    etcdCredentials: {
        root: { user: "root", password: "sample-root-pw" },
        "control-plane": { user: "control-plane", password: "sample-cp-pw" },
        gateway: { user: "gateway", password: "sample-gw-pw" },
    },
};

/** The referenced stack's outputs as the engine returns them: secret values wrapped. */
const engineOutputs = Object.fromEntries(
    Object.entries(SAMPLE).map(([k, v]) => [
        k,
        (SECRET_OUTPUT_KEYS as readonly string[]).includes(k) ? { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: v } : v,
    ]),
);

const registered: MockResourceArgs[] = [];
let consumer: typeof import("../../examples/consumer/index");

async function settle<T>(o: pulumi.Output<T>): Promise<{ value: T; secret: boolean }> {
    const value = await new Promise<T>((resolve) => o.apply((v) => resolve(v)));
    return { value, secret: await pulumi.isSecret(o) };
}

beforeAll(async () => {
    pulumi.runtime.setAllConfig({ "gateway-ha-consumer:platformStack": PLATFORM_STACK });
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                registered.push(args);
                if (args.type === "pulumi:pulumi:StackReference")
                    return { id: String(args.inputs.name), state: { name: args.inputs.name, outputs: engineOutputs, secretOutputNames: [...SECRET_OUTPUT_KEYS] } };
                return { id: `${args.name}-id`, state: args.inputs };
            },
            call: (args) => {
                throw new Error(`unexpected call ${args.token}`);
            },
        },
        "gateway-ha-consumer",
        "test",
        false,
    );
    consumer = await import("../../examples/consumer/index");
});

describe("examples/consumer", () => {
    it("reads the configured platform stack through one StackReference and creates nothing else", async () => {
        await settle(consumer.gatewayUrl);
        const resources = registered.filter((r) => r.type !== "pulumi:pulumi:Stack");
        expect(resources).toHaveLength(1);
        expect(resources[0]).toMatchObject({ type: "pulumi:pulumi:StackReference", name: PLATFORM_STACK, id: PLATFORM_STACK, custom: true });
        expect(resources[0].inputs.name).toBe(PLATFORM_STACK);
    });

    it("re-exports the plain outputs with their values, not as secrets", async () => {
        expect(await settle(consumer.gatewayUrl)).toEqual({ value: SAMPLE.gatewayUrl, secret: false });
        expect(await settle(consumer.controlPlaneUrl)).toEqual({ value: SAMPLE.controlPlaneUrl, secret: false });
        expect(await settle(consumer.managementCaCert)).toEqual({ value: SAMPLE.managementCaCert, secret: false });
        expect(await settle(consumer.etcdEndpoints)).toEqual({ value: SAMPLE.etcdEndpoints, secret: false });
        expect(await settle(consumer.gatewayAddresses)).toEqual({ value: ["172.28.0.16", "172.28.0.17"], secret: false });
    });

    it("keeps the admin key secret", async () => {
        expect(await settle(consumer.adminKey)).toEqual({ value: SAMPLE.adminKey, secret: true });
    });
});
