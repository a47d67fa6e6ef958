import { type EnvError, parseEnv } from "@app/common/env";
import { describe, expect, it } from "vitest";
import { gatewayEnv } from "../env.ts";

const REQUIRED = { INTERNAL_CONTEXT_SECRET: "s".repeat(32) };
const parse = (source: Record<string, string>) =>
  parseEnv(gatewayEnv, { source: { ...REQUIRED, ...source }, exit: false });
const problems = (source: Record<string, string>) => {
  try {
    parse(source);
    return [];
  } catch (error) {
    return (error as EnvError).problems;
  }
};

describe("credential settings", () => {
  it("keeps the API-key cache lifetime within the 60 s revocation promise", () => {
    expect(parse({}).AUTH_CACHE_TTL_SECONDS).toBe(30);
    expect(problems({ AUTH_CACHE_TTL_SECONDS: "61" })).toEqual([
      expect.stringContaining("AUTH_CACHE_TTL_SECONDS"),
    ]);
  });

  it("takes the external issuer whole, and never as identity itself", () => {
    expect(problems({ EXTERNAL_OIDC_ISSUER: "https://idp.example.com/" })).toEqual([
      "EXTERNAL_OIDC_JWKS_URL: is required with EXTERNAL_OIDC_ISSUER",
      "EXTERNAL_OIDC_AUDIENCE: is required with EXTERNAL_OIDC_ISSUER",
    ]);
    expect(
      problems({
        EXTERNAL_OIDC_ISSUER: "http://localhost:4002",
        EXTERNAL_OIDC_JWKS_URL: "http://localhost:4002/jwks",
        EXTERNAL_OIDC_AUDIENCE: "x",
      }),
    ).toEqual(["EXTERNAL_OIDC_ISSUER: must differ from JWT_ISSUER (identity's own tokens)"]);
    expect(
      parse({
        EXTERNAL_OIDC_ISSUER: "https://idp.example.com/",
        EXTERNAL_OIDC_JWKS_URL: "https://idp.example.com/.well-known/jwks.json",
        EXTERNAL_OIDC_AUDIENCE: "coditect",
      }),
    ).toMatchObject({ EXTERNAL_OIDC_USER_CLAIM: "sub", EXTERNAL_OIDC_TENANT_CLAIM: "tid" });
  });
});
