import { decodeProtectedHeader, type JWK } from "jose";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { rotateSigningKeys } from "../../subgraphs/identity/src/modules/keys/keys.service.ts";
import { eventually } from "../../test/eventually.ts";
import { gql, type Platform, signUpTenant, startPlatform } from "../../test/platform.ts";

/**
 * Signing-key rotation with the real identity and gateway: the rotation command's own function writes
 * the key file identity runs on; identity re-reads it every second here (JWT_KEYS_RELOAD_SECONDS).
 */

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"), {
    identity: { JWT_KEYS_RELOAD_SECONDS: "1" },
    // The gateway refetches the JWKS after a second (production: 600 s, below the 900 s publish lead).
    gateway: { JWKS_CACHE_SECONDS: "1" },
  });
});
afterAll(() => platform?.close());

const ME = `{ me { id } }`;
const jwks = async () => {
  const url = new URL("/.well-known/jwks.json", platform.subgraphUrls.identity);
  return ((await (await fetch(url)).json()) as { keys: JWK[] }).keys.map((k) => k.kid);
};
const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const me = async (token: string) => (await gql(platform.gatewayUrl, ME, { token })).data?.me?.id;

it("publishes the new key before it signs; old and new tokens both verify; the old key leaves after its tokens", async () => {
  const before = await signUpTenant(platform.gatewayUrl, "rotate-old");
  const oldKid = kidOf(before.token);
  expect(await me(before.token)).toBe(before.userId);

  const rotation = await rotateSigningKeys(platform.keysDir, {
    publishLeadSeconds: 3,
    // Long enough for two sign-ups and two checks after activation on a busy machine: the old key
    // leaves the JWKS this long after activation, and `before` must still verify until then.
    tokenTtlSeconds: 10,
    marginSeconds: 0,
  });
  // Published within a reload, while the old key still signs.
  await eventually(jwks, (kids) => kids.includes(rotation.kid), 5_000);
  expect(await jwks()).toContain(oldKid);
  const during = await signUpTenant(platform.gatewayUrl, "rotate-during");
  if (Date.now() < Date.parse(rotation.activatesAt)) expect(kidOf(during.token)).toBe(oldKid);

  // After activation, new tokens carry the new kid; the gateway fetches it (unknown kid) and both verify.
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(rotation.activatesAt) - Date.now() + 1_100)));
  const after = await signUpTenant(platform.gatewayUrl, "rotate-new");
  expect(kidOf(after.token)).toBe(rotation.kid);
  expect(await me(after.token)).toBe(after.userId);
  expect(await me(before.token)).toBe(before.userId);

  // Once every token the old key signed has expired (here: activation + 10 s), it leaves the JWKS.
  const retiresAt = Date.parse(rotation.retiring.find((k) => k.kid === oldKid)!.retiresAt);
  await new Promise((r) => setTimeout(r, Math.max(0, retiresAt - Date.now() + 100)));
  expect(await jwks()).toEqual([rotation.kid]);
}, 60_000);
