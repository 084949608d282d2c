export * from "./schema";
export * from "./issues";
export * from "./types";
export * from "./validate";
export * from "./keepalived";
export { loadPlatform, loadPlatformConfig, namespacedConfig, resolveSpec, type LoadContext, type LoadedPlatform } from "./load";
