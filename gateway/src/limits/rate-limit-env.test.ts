import { EnvError, parseEnv } from "@app/common/env";
import { describe, expect, it } from "vitest";
import { gatewayEnv } from "../env.ts";

const REQUIRED = { INTERNAL_CONTEXT_SECRET: "s".repeat(32) };
const parse = (source: Record<string, string>) =>
  parseEnv(gatewayEnv, { source: { ...REQUIRED, ...source }, exit: false });

describe("rate-limit and persisted-operation settings", () => {
  it("limit in production, not elsewhere, unless told; arbitrary operations by default", () => {
    expect(parse({})).toMatchObject({ RATE_LIMITS: false, PERSISTED_OPERATIONS: "arbitrary" });
    expect(parse({ NODE_ENV: "production" })).toMatchObject({
      RATE_LIMITS: true,
      RATE_LIMIT_PLANS: { FREE: 600, PRO: 3_000, ENTERPRISE: 12_000 },
      RATE_LIMIT_TENANT_PER_MINUTE: 600,
    });
    expect(parse({ NODE_ENV: "production", RATE_LIMITS: "false" }).RATE_LIMITS).toBe(false);
  });

  it("reads the per-plan rates", () => {
    expect(parse({ RATE_LIMIT_PLANS: "FREE=10, PRO=200 ,TEAM_2=5" }).RATE_LIMIT_PLANS).toEqual({
      FREE: 10,
      PRO: 200,
      TEAM_2: 5,
    });
  });

  it("names every bad setting", () => {
    try {
      parse({
        RATE_LIMIT_PLANS: "FREE=ten",
        RATE_LIMIT_API_KEY_PER_MINUTE: "0",
        PERSISTED_OPERATIONS: "sometimes",
        APQ_TTL_SECONDS: "-1",
        TRUSTED_PROXY_HOPS: "eleven",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EnvError);
      const message = (error as Error).message;
      for (const name of [
        "RATE_LIMIT_PLANS",
        "RATE_LIMIT_API_KEY_PER_MINUTE",
        "PERSISTED_OPERATIONS",
        "APQ_TTL_SECONDS",
        "TRUSTED_PROXY_HOPS",
      ])
        expect(message).toContain(name);
      expect(message).toContain('"FREE=ten" is not PLAN_CODE=<requests per minute>');
    }
  });
});
