import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
    // The examples import the package by its name, as tsconfig.json's paths map it.
    resolve: {
        alias: [
            { find: /^gateway-ha$/, replacement: resolve(__dirname, "components/index.ts") },
            { find: /^gateway-ha\/outputs$/, replacement: resolve(__dirname, "components/outputs.ts") },
            { find: /^gateway-ha\/blocks$/, replacement: resolve(__dirname, "components/blocks.ts") },
        ],
    },
    test: {
        include: ["test/**/*.test.ts"],
        // Pulumi's mock engine is process-global state: one file per fork, files in sequence.
        pool: "forks",
        fileParallelism: false,
        testTimeout: 60_000,
        hookTimeout: 60_000,
    },
});
