import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        // Pulumi's mock engine is process-global state: one file per fork, files in sequence.
        pool: "forks",
        fileParallelism: false,
        testTimeout: 60_000,
        hookTimeout: 60_000,
    },
});
