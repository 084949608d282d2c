// The AWS network plan, pure: which subnet each zone gets and which fixed addresses live in them.
// Node addresses are fixed (etcd's initial cluster and certificates name them), so they are chosen
// here, before any resource exists, from CIDRs the config gives or this plan carves.
import type { PlatformSpec } from "../config/types";
import { formatIpv4, parseCidr } from "../config/net";

export interface AwsNetworkPlan {
    vpcCidr: string;
    /** How many availability zones the platform spans; zone i is subnet i. */
    zoneCount: number;
    /** Private subnet CIDR per zone: nodes and the internal control-plane balancer. */
    privateSubnets: string[];
    /** Public subnet CIDR per zone: NAT gateways and an internet-facing gateway balancer. */
    publicSubnets: string[];
    /** The internal control-plane balancer's fixed address in each private subnet. */
    controlPlaneBalancerAddresses: string[];
}

/** Zones used when aws.zones is not given: three, as etcd members spread over three zones. */
export const DEFAULT_ZONE_COUNT = 3;
/** AWS reserves a subnet's first four addresses; the balancer takes this host, nodes start after it. */
export const BALANCER_HOST_OFFSET = 10;

/** A new VPC is cut into 16 equal blocks: private subnets take blocks 0–7, public ones 8–15. */
export function awsNetworkPlan(spec: Pick<PlatformSpec, "aws">): AwsNetworkPlan {
    const a = spec.aws;
    if (a.existingVpc) {
        const priv = a.existingVpc.privateSubnets.map((s) => s.cidr);
        return {
            vpcCidr: a.existingVpc.cidr,
            zoneCount: priv.length,
            privateSubnets: priv,
            publicSubnets: a.existingVpc.publicSubnets.map((s) => s.cidr),
            controlPlaneBalancerAddresses: priv.map(balancerAddress),
        };
    }
    const zoneCount = a.zones?.length ?? DEFAULT_ZONE_COUNT;
    const vpc = parseCidr(a.vpcCidr);
    if (!vpc) throw new Error(`aws.vpcCidr ${a.vpcCidr} is not a CIDR`);
    const prefix = vpc.prefix + 4;
    const block = (i: number) => `${formatIpv4(vpc.network + i * 2 ** (32 - prefix))}/${prefix}`;
    const privateSubnets = Array.from({ length: zoneCount }, (_, i) => block(i));
    return {
        vpcCidr: a.vpcCidr,
        zoneCount,
        privateSubnets,
        publicSubnets: Array.from({ length: zoneCount }, (_, i) => block(8 + i)),
        controlPlaneBalancerAddresses: privateSubnets.map(balancerAddress),
    };
}

function balancerAddress(cidr: string): string {
    const c = parseCidr(cidr);
    return c ? formatIpv4(c.network + BALANCER_HOST_OFFSET) : "";
}
