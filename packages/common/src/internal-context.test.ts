import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { signInternalContext, verifyInternalContext } from "./internal-context.ts";

const secret = "s".repeat(32);
const tenantId = "0190c2a0-0000-7000-8000-000000000001";
const userId = "0190c2a0-0000-7000-8000-000000000002";

describe("internal context credential and scopes", () => {
  it("carries an API key's credential and scopes to the subgraph", async () => {
    const token = await signInternalContext(secret, {
      requestId: "r1",
      principal: { tenantId, userId, roles: ["VIEWER"], credential: "apiKey", scopes: ["read"] },
    });
    expect((await verifyInternalContext(secret, token))?.principal).toEqual({
      tenantId,
      userId,
      roles: ["VIEWER"],
      credential: "apiKey",
      scopes: ["read"],
    });
  });

  it("reads a principal without credential as a user with every scope", async () => {
    const token = await signInternalContext(secret, {
      requestId: "r2",
      principal: { tenantId, userId, roles: ["OWNER"] },
    });
    expect((await verifyInternalContext(secret, token))?.principal).toMatchObject({
      credential: "user",
      scopes: ["read", "write"],
    });
  });

  it("refuses an API-key context that names no scopes (never implied)", async () => {
    const token = await new SignJWT({ rid: "r3", tid: tenantId, roles: ["MEMBER"], cred: "apiKey" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("coditect-gateway")
      .setAudience("coditect-subgraphs")
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime("60s")
      .sign(new TextEncoder().encode(secret));
    expect(await verifyInternalContext(secret, token)).toBeNull();
  });
});
