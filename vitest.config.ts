import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // graphql ships CommonJS (`main`) and ESM (`module`) builds. Node, and so production under tsx, loads
    // the CommonJS one everywhere; Vite would hand our own sources the ESM one while graphql-yoga and
    // @graphql-tools, loaded by Node, keep the CommonJS one. Two GraphQLError classes then make every
    // `instanceof GraphQLError` false, and tests would see errors production never shows.
    alias: [{ find: /^graphql$/, replacement: createRequire(import.meta.url).resolve("graphql") }],
  },
  test: {
    include: [
      "{gateway,worker,subgraphs/*,prisma,packages/*,scripts,test}/{src,test}/**/*.test.ts",
      "test/**/*.test.ts",
    ],
    globalSetup: ["./test/global-setup.ts"],
    // Integration tests start servers and a database; generous but finite.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: more workers than that only adds contention.
    maxWorkers: 2,
  },
});
