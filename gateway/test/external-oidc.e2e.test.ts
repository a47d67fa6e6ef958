import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { INTERNAL_CONTEXT_HEADER, signInternalContext } from "@app/common";
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startGateway, startPlatform } from "../../test/platform.ts";

/**
 * Tokens of an external OpenID Connect issuer, which this test plays itself: its own keys, its own JWKS
 * served over HTTP on port 0. The gateway accepts the issuer's valid tokens, maps their claims to a
 * platform user and organization, insists on the membership, and refuses every kind of bad token.
 */

const ISSUER = "https://idp.example.test/";
const AUDIENCE = "coditect-partner-portal";
const USER_CLAIM = "https://coditect.example/user_id";
const TENANT_CLAIM = "https://coditect.example/org_id";

const ME = `{ me { id } }`;
const CURRENT_ORGANIZATION = `{ currentOrganization { id } }`;
const CREATE_PROJECT = `mutation($name: String!) { createProject(input: { name: $name }) { project { id } } }`;

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;
let platform: Platform;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let jwksServer: Server;
let a: Tenant;
let b: Tenant;
let published: { key: CryptoKey; publicJwk: JWK };
let unpublished: CryptoKey;

const now = () => Math.floor(Date.now() / 1000);
const codes = (res: { errors?: Array<{ extensions?: { code?: string } }> }) =>
  res.errors?.map((e) => e.extensions?.code);

/** A token of the external issuer for `user` in `tenant`; by default one the gateway must accept. */
function mint(
  user: Tenant,
  {
    claims = {},
    kid = "ext-1",
    key = published.key,
  }: { claims?: JWTPayload; kid?: string; key?: CryptoKey } = {},
) {
  return new SignJWT({
    [USER_CLAIM]: user.userId,
    [TENANT_CLAIM]: user.tenantId,
    iss: ISSUER,
    aud: AUDIENCE,
    sub: `auth0|${user.userId.slice(0, 8)}`,
    roles: ["OWNER"],
    iat: now(),
    exp: now() + 300,
    ...claims,
  })
    .setProtectedHeader({ alg: "ES256", kid })
    .sign(key);
}

beforeAll(async () => {
  const first = await generateKeyPair("ES256", { extractable: true });
  published = {
    key: first.privateKey,
    publicJwk: { ...(await exportJWK(first.publicKey)), kid: "ext-1", alg: "ES256" },
  };
  unpublished = (await generateKeyPair("ES256")).privateKey;
  jwksServer = createServer((_req, res) => {
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ keys: [published.publicJwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  const { port } = jwksServer.address() as AddressInfo;

  platform = await startPlatform(inject("databaseUrl"));
  gateway = await startGateway(platform, {
    EXTERNAL_OIDC_ISSUER: ISSUER,
    EXTERNAL_OIDC_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
    EXTERNAL_OIDC_AUDIENCE: AUDIENCE,
    EXTERNAL_OIDC_USER_CLAIM: USER_CLAIM,
    EXTERNAL_OIDC_TENANT_CLAIM: TENANT_CLAIM,
    EXTERNAL_OIDC_ROLES_CLAIM: "roles",
  });
  [a, b] = await Promise.all([
    signUpTenant(platform.gatewayUrl, "oidc-a"),
    signUpTenant(platform.gatewayUrl, "oidc-b"),
  ]);
});
afterAll(async () => {
  await gateway?.close();
  await platform?.close();
  jwksServer?.close();
});

describe("an external issuer's tokens", () => {
  it("are accepted, mapped to the platform user and organization, with the member's role", async () => {
    const token = await mint(a);
    expect((await gql(gateway.url, ME, { token })).data?.me.id).toBe(a.userId);
    expect((await gql(gateway.url, CURRENT_ORGANIZATION, { token })).data?.currentOrganization.id).toBe(
      a.tenantId,
    );
    const created = await gql(gateway.url, CREATE_PROJECT, { token, variables: { name: "via the IdP" } });
    expect(created.errors).toBeUndefined();
    // identity's own tokens still work beside them
    expect((await gql(gateway.url, ME, { token: a.token })).data?.me.id).toBe(a.userId);
  });

  it("a roles claim can lower the role, never raise it", async () => {
    const viewer = await mint(a, { claims: { roles: ["VIEWER"] } });
    expect((await gql(gateway.url, ME, { token: viewer })).data?.me.id).toBe(a.userId);
    const refused = await gql(gateway.url, CREATE_PROJECT, { token: viewer, variables: { name: "no" } });
    expect(codes(refused)).toEqual(["FORBIDDEN"]);
    // B's owner invites nobody: a roles claim naming OWNER for a tenant they are not in changes nothing.
    const raised = await mint(a, { claims: { [TENANT_CLAIM]: b.tenantId, roles: ["OWNER"] } });
    expect(codes(await gql(gateway.url, ME, { token: raised }))).toEqual(["UNAUTHENTICATED"]);
    // A configured roles claim that is missing or names no platform role: fail closed.
    for (const roles of [["SUPERUSER"], undefined]) {
      const none = await mint(a, { claims: { roles } });
      expect(codes(await gql(gateway.url, ME, { token: none }))).toEqual(["UNAUTHENTICATED"]);
    }
  });

  it("identity's membership endpoint answers the gateway only", async () => {
    const url = new URL("/internal/memberships/resolve", platform.subgraphUrls.identity);
    const ask = async (header: string) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", [INTERNAL_CONTEXT_HEADER]: header },
        body: JSON.stringify({ tenantId: a.tenantId, userId: a.userId }),
      });
    const forged = await ask("forged");
    expect(forged.status).toBe(401);
    expect(await forged.text()).not.toContain("OWNER");
    const signed = await signInternalContext(platform.internalSecret, {
      requestId: "oidc-test",
      principal: null,
    });
    expect(await (await ask(signed)).json()).toEqual({ role: "OWNER" });
  });

  it("refuses a user who is not a member of the organization the token names", async () => {
    const token = await mint(a, { claims: { [TENANT_CLAIM]: b.tenantId } });
    const res = await gql(gateway.url, CURRENT_ORGANIZATION, { token });
    expect(codes(res)).toEqual(["UNAUTHENTICATED"]);
    expect(res.data ?? null).toBeNull();
  });

  it("refuses wrong issuer, wrong audience, unknown kid, an unpublished key, expired, not yet valid, HS256, missing claims", async () => {
    const spki = await exportSPKI((await generateKeyPair("ES256", { extractable: true })).publicKey);
    const hs256 = await new SignJWT({
      [USER_CLAIM]: a.userId,
      [TENANT_CLAIM]: a.tenantId,
      iss: ISSUER,
      aud: AUDIENCE,
    })
      .setProtectedHeader({ alg: "HS256", kid: "ext-1" })
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(JSON.stringify(published.publicJwk) + spki));
    const bad: Record<string, string> = {
      "wrong issuer": await mint(a, { claims: { iss: "https://evil.example.test/" } }),
      "wrong audience": await mint(a, { claims: { aud: "someone-else" } }),
      "unknown kid": await mint(a, { kid: "ext-9", key: unpublished }),
      "unpublished key, known kid": await mint(a, { key: unpublished }),
      expired: await mint(a, { claims: { iat: now() - 600, exp: now() - 60 } }),
      "not yet valid": await mint(a, { claims: { nbf: now() + 600 } }),
      hs256,
      "no user claim": await mint(a, { claims: { [USER_CLAIM]: undefined } }),
      "user claim not a uuid": await mint(a, { claims: { [USER_CLAIM]: "alice" } }),
    };
    for (const [name, token] of Object.entries(bad)) {
      const res = await gql(gateway.url, ME, { token });
      expect(codes(res), name).toEqual(["UNAUTHENTICATED"]);
      expect(res.data ?? null, name).toBeNull();
    }
  });
});
