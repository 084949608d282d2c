// The building blocks, for TypeScript programs that compose a platform themselves
// (`import ... from "gateway-ha/blocks"`): a plan (planPlatform), a target that deploys it, and the
// blocks on that target, each taking the target and the blocks it builds on. GatewayPlatform is
// composed of exactly these. A separate entry from the package's: Pulumi's component analyzer
// reads every component the main entry exports, and these take objects (a target, a block) that
// only TypeScript can pass. Loading it creates nothing.
export { planPlatform, type PlanOptions, type PlatformPlan } from "./plan";
export { DockerTarget, type DockerTargetArgs } from "./targets/docker";
export { SshTarget, type SshTargetArgs } from "./targets/ssh";
export { AwsTarget, type AwsTargetArgs } from "./targets/aws";
export { EtcdCluster, type EtcdClusterArgs } from "./etcdCluster";
export { ControlPlane, type ControlPlaneArgs } from "./controlPlane";
export { GatewayGroup, type GatewayGroupArgs } from "./gatewayGroup";
export { LoadBalancer, type LoadBalancerArgs } from "./loadBalancer";
export { VirtualIps, type VirtualIpsArgs } from "./vip";
export { FallbackStorage, type FallbackStorageArgs } from "./fallbackStorage";
export { CertificateAuthority, type ManagementPki } from "./pki";
export type { Target } from "./service";
export * from "./platformArgs";
