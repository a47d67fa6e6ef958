import { EnvError, parseEnv } from "@app/common/env";
import { describe, expect, it } from "vitest";
import { gatewayEnv } from "./env.ts";

const REQUIRED = { INTERNAL_CONTEXT_SECRET: "s".repeat(32) };
const parse = (source: Record<string, string>) =>
  parseEnv(gatewayEnv, { source: { ...REQUIRED, ...source }, exit: false });

describe("gateway settings", () => {
  it("opens introspection, GraphiQL and localhost CORS outside production", () => {
    expect(parse({})).toMatchObject({ INTROSPECTION: "always", GRAPHIQL: true, CORS_ORIGINS: "localhost" });
  });

  it("restricts them in production", () => {
    expect(parse({ NODE_ENV: "production" })).toMatchObject({
      INTROSPECTION: "authenticated",
      GRAPHIQL: false,
      CORS_ORIGINS: [],
      HSTS_MAX_AGE: 0,
      REQUEST_MAX_BATCH: 0,
    });
  });

  it("reads CORS_ORIGINS as a comma-separated list of origins", () => {
    expect(parse({ CORS_ORIGINS: "https://app.example.com, http://localhost:3000" }).CORS_ORIGINS).toEqual([
      "https://app.example.com",
      "http://localhost:3000",
    ]);
  });

  it("names every bad limit setting at once", () => {
    try {
      parse({
        CORS_ORIGINS: "https://app.example.com/path",
        QUERY_MAX_DEPTH: "0",
        INTROSPECTION: "sometimes",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EnvError);
      const problems = (error as EnvError).problems.join("\n");
      expect(problems).toMatch(/^CORS_ORIGINS\.0: must be an origin/m);
      expect(problems).toMatch(/^QUERY_MAX_DEPTH: /m);
      expect(problems).toMatch(/^INTROSPECTION: /m);
    }
  });
});
