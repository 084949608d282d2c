// The gateway-ha package: what `import ... from "gateway-ha"` and `pulumi package add` reach. It
// declares components and types; loading it creates nothing.
export { GatewayPlatform, type PlatformBlocks } from "./platform";
export * from "./platformArgs";
export * from "./outputs";
