import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "{gateway,subgraphs/*,prisma,packages/*,scripts,test}/{src,test}/**/*.test.ts",
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
