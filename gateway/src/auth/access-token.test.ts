import { randomUUID } from "node:crypto";
import { generateKeyPair, type JWTVerifyGetKey, SignJWT } from "jose";
import { beforeAll, expect, it } from "vitest";
import { createAccessTokenVerifier } from "./access-token.ts";

const SETTINGS = { jwksUrl: "http://unused.invalid/jwks", issuer: "https://id.test", audience: "coditect" };
let keyPair: Awaited<ReturnType<typeof generateKeyPair>>;
beforeAll(async () => {
  keyPair = await generateKeyPair("EdDSA");
});

/** identity's JWKS as the verifier sees it, counting how often a signature needed a key. */
function countingKeys() {
  let lookups = 0;
  const keys: JWTVerifyGetKey = () => {
    lookups++;
    return keyPair.publicKey;
  };
  return { keys, lookups: () => lookups };
}

async function tokenOf(sessionId: string, expiresInSeconds = 600) {
  const token = await new SignJWT({ tid: randomUUID(), roles: ["MEMBER"], sid: sessionId })
    .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt" })
    .setSubject(randomUUID())
    .setIssuer(SETTINGS.issuer)
    .setAudience(SETTINGS.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(keyPair.privateKey);
  return `Bearer ${token}`;
}

it("checks a token's signature once, yet refuses it as soon as its session has ended", async () => {
  const { keys, lookups } = countingKeys();
  const ended = new Set<string>();
  const verify = createAccessTokenVerifier(SETTINGS, keys, { isRevoked: async (sid) => ended.has(sid) });
  const sessionId = randomUUID();
  const token = await tokenOf(sessionId);

  const first = await verify(token);
  expect(await verify(token)).toEqual(first);
  expect(lookups()).toBe(1);

  ended.add(sessionId);
  await expect(verify(token)).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
});

it("checks a remembered token's signature again once the JWKS cache time has passed", async () => {
  const { keys, lookups } = countingKeys();
  const verify = createAccessTokenVerifier({ ...SETTINGS, jwksCacheSeconds: 0.05 }, keys);
  const token = await tokenOf(randomUUID());
  await verify(token);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await verify(token);
  expect(lookups()).toBe(2);
});

it("remembers no token that failed, nor one about to expire", async () => {
  const { keys, lookups } = countingKeys();
  const verify = createAccessTokenVerifier(SETTINGS, keys);
  const expired = await tokenOf(randomUUID(), -60);
  await expect(verify(expired)).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
  await expect(verify(expired)).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
  // Within jose's 5 s clock tolerance: accepted, but checked again every time.
  const expiring = await tokenOf(randomUUID(), -1);
  await verify(expiring);
  await verify(expiring);
  expect(lookups()).toBe(4);
});
