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

describe("internal context verification", () => {
  const claims = { rid: "r4", tid: tenantId, roles: ["OWNER"], cred: "user", scp: ["read", "write"] };
  const hs256 = (build: (jwt: SignJWT) => SignJWT, key = secret) =>
    build(new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setSubject(userId)).sign(
      new TextEncoder().encode(key),
    );
  const valid = (jwt: SignJWT) =>
    jwt
      .setIssuer("coditect-gateway")
      .setAudience("coditect-subgraphs")
      .setIssuedAt()
      .setExpirationTime("60s");

  it("accepts a context another HS256 implementation signed with the secret (the control)", async () => {
    expect((await verifyInternalContext(secret, await hs256(valid)))?.principal?.tenantId).toBe(tenantId);
  });

  it.each([
    ["another issuer", (jwt: SignJWT) => valid(jwt).setIssuer("someone-else")],
    ["another audience", (jwt: SignJWT) => valid(jwt).setAudience("someone-else")],
    ["no expiry", (jwt: SignJWT) => jwt.setIssuer("coditect-gateway").setAudience("coditect-subgraphs")],
    [
      "an expiry in the past",
      (jwt: SignJWT) => valid(jwt).setExpirationTime(Math.floor(Date.now() / 1000) - 1),
    ],
  ])("refuses a context with %s", async (_name, build) => {
    expect(await verifyInternalContext(secret, await hs256(build))).toBeNull();
  });

  it("refuses another secret's signature and a payload changed after signing", async () => {
    expect(await verifyInternalContext(secret, await hs256(valid, "t".repeat(32)))).toBeNull();
    const [header, , signature] = (await hs256(valid)).split(".");
    const forged = Buffer.from(JSON.stringify({ ...claims, tid: userId })).toString("base64url");
    expect(await verifyInternalContext(secret, `${header}.${forged}.${signature}`)).toBeNull();
  });
});
