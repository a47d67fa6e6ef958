import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  base64url,
  type CryptoKey,
  decodeJwt,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform } from "../../test/platform.ts";

/**
 * Access-token attacks through the gateway. Every forged token below differs from a token the gateway
 * accepts (the positive control, minted the same way with identity's real key) in one respect only, so
 * each refusal is due to the check it names and not to a mistake in the test.
 */

const CURRENT_ORGANIZATION = `{ currentOrganization { id name } }`;
const CREATE_PROJECT = `mutation($name: String!) { createProject(input: { name: $name }) { project { id name } } }`;

let platform: Platform;
let owner: Awaited<ReturnType<typeof signUpTenant>>;
let other: Awaited<ReturnType<typeof signUpTenant>>;
/** Identity's current signing key, read from its key file as only identity itself should. */
let signing: { kid: string; key: CryptoKey | Uint8Array };
/** What identity publishes: everything an attacker knows about the key. */
let published: JWK;
/** The owner's real claims (sub, tid, roles, iss, aud), without the time-bound ones. */
let claims: JWTPayload;

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  [owner, other] = await Promise.all([
    signUpTenant(platform.gatewayUrl, "auth-owner"),
    signUpTenant(platform.gatewayUrl, "auth-other"),
  ]);
  const stored = JSON.parse(await readFile(join(platform.keysDir, "signing-keys.json"), "utf8")) as Array<{
    kid: string;
    createdAt: string;
    privateJwk: JWK;
  }>;
  const newest = stored.reduce((a, b) => (a.createdAt >= b.createdAt ? a : b));
  signing = { kid: newest.kid, key: await importJWK(newest.privateJwk, "EdDSA") };
  const jwksUrl = new URL("/.well-known/jwks.json", platform.subgraphUrls.identity);
  const jwks = (await (await fetch(jwksUrl)).json()) as { keys: JWK[] };
  published = jwks.keys.find((k) => k.kid === signing.kid)!;
  const { iat: _iat, exp: _exp, jti: _jti, ...rest } = decodeJwt(owner.token);
  claims = rest;
});
afterAll(() => platform?.close());

const now = () => Math.floor(Date.now() / 1000);

interface MintOptions {
  /** Claims to set or replace on top of the owner's real ones. */
  set?: JWTPayload;
  /** Claims to leave out. */
  omit?: string[];
  header?: Partial<JWTHeaderParameters>;
  /** Defaults to identity's real signing key. */
  key?: CryptoKey | Uint8Array;
}

/** A token like identity's own; by default one the gateway must accept. */
async function mint({ set = {}, omit = [], header = {}, key = signing.key }: MintOptions = {}) {
  const payload: JWTPayload = { ...claims, iat: now(), exp: now() + 300, jti: randomUUID(), ...set };
  for (const name of omit) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: "EdDSA", kid: signing.kid, typ: "at+jwt", ...header })
    .sign(key);
}

const segment = (value: object) => base64url.encode(JSON.stringify(value));

/** Replaces the payload of a real token, keeping its header and signature. */
function tamper(token: string, change: (payload: JWTPayload) => JWTPayload): string {
  const [header, , signature] = token.split(".");
  return `${header}.${segment(change(decodeJwt(token)))}.${signature}`;
}

/** HS256 over the given secret, header otherwise as identity's. */
const hmacWith = (secret: Uint8Array) => mint({ header: { alg: "HS256" }, key: secret });

async function attackerEd25519() {
  return (await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true })).privateKey;
}

/** `Authorization` header values that must all be refused. */
const attacks: Array<[string, () => Promise<string>]> = [
  [
    "a Basic header instead of Bearer",
    async () => `Basic ${Buffer.from("owner:password").toString("base64")}`,
  ],
  ["a real token without the Bearer scheme", async () => owner.token],
  ["an empty Authorization header", async () => ""],
  ["Bearer with no token", async () => "Bearer "],
  ["Bearer garbage", async () => "Bearer garbage"],
  ["Bearer with three dots", async () => "Bearer ..."],
  ["Bearer a.b.c", async () => "Bearer a.b.c"],
  ["a real token with a fourth segment", async () => `Bearer ${owner.token}.AAAA`],
  ["a real token followed by a second one", async () => `Bearer ${owner.token} ${owner.token}`],
  ["an expired token", async () => `Bearer ${await mint({ set: { iat: now() - 3600, exp: now() - 120 } })}`],
  ["a token without exp", async () => `Bearer ${await mint({ omit: ["exp"] })}`],
  // Without its session id a token could not be refused when its session ends (log-out, removal).
  ["a token without sid", async () => `Bearer ${await mint({ omit: ["sid"] })}`],
  ["a token with a malformed sid", async () => `Bearer ${await mint({ set: { sid: "not-a-uuid" } })}`],
  [
    "a token not valid before ten minutes from now",
    async () => `Bearer ${await mint({ set: { nbf: now() + 600 } })}`,
  ],
  [
    "a token signed by another Ed25519 key under the real kid",
    async () => `Bearer ${await mint({ key: await attackerEd25519() })}`,
  ],
  [
    "a token signed by another Ed25519 key under an unknown kid",
    async () => `Bearer ${await mint({ key: await attackerEd25519(), header: { kid: randomUUID() } })}`,
  ],
  [
    "a token signed by another key that embeds its own public key (jwk header)",
    async () => {
      const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
      return `Bearer ${await mint({ key: privateKey, header: { kid: undefined, jwk: await exportJWK(publicKey) } })}`;
    },
  ],
  [
    "an ES256 token from the attacker's own P-256 key under the real kid",
    async () => {
      const { privateKey } = await generateKeyPair("ES256");
      return `Bearer ${await mint({ key: privateKey, header: { alg: "ES256" } })}`;
    },
  ],
  [
    "an unsigned token (alg: none) with otherwise valid claims",
    async () => {
      const payload = { ...claims, iat: now(), exp: now() + 300, jti: randomUUID() };
      return `Bearer ${segment({ alg: "none", kid: signing.kid, typ: "at+jwt" })}.${segment(payload)}.`;
    },
  ],
  [
    "a real token relabelled alg: none with its signature dropped",
    async () => {
      const [, payload] = owner.token.split(".");
      return `Bearer ${segment({ alg: "none", kid: signing.kid, typ: "at+jwt" })}.${payload}.`;
    },
  ],
  [
    "HS256 keyed with the JWKS x value",
    async () => `Bearer ${await hmacWith(new TextEncoder().encode(published.x!))}`,
  ],
  [
    "HS256 keyed with the raw public key bytes",
    async () => `Bearer ${await hmacWith(base64url.decode(published.x!))}`,
  ],
  [
    "HS256 keyed with the public key as PEM",
    async () => {
      const pem = await exportSPKI((await importJWK(published, "EdDSA")) as CryptoKey);
      return `Bearer ${await hmacWith(new TextEncoder().encode(pem))}`;
    },
  ],
  [
    "HS256 keyed with the published JWK as JSON",
    async () => `Bearer ${await hmacWith(new TextEncoder().encode(JSON.stringify(published)))}`,
  ],
  [
    "a token from another issuer",
    async () => `Bearer ${await mint({ set: { iss: "https://evil.example" } })}`,
  ],
  ["a token for another audience", async () => `Bearer ${await mint({ set: { aud: "another-api" } })}`],
  [
    "a real token whose tid was changed to another tenant",
    async () => `Bearer ${tamper(owner.token, (p) => ({ ...p, tid: other.tenantId }))}`,
  ],
  [
    "a real token whose sub was changed to another tenant's user",
    async () => `Bearer ${tamper(owner.token, (p) => ({ ...p, sub: other.userId }))}`,
  ],
  ["a token without tid", async () => `Bearer ${await mint({ omit: ["tid"] })}`],
  ["a token whose tid is not a uuid", async () => `Bearer ${await mint({ set: { tid: "' OR 1=1 --" } })}`],
  ["a token without roles", async () => `Bearer ${await mint({ omit: ["roles"] })}`],
  ["a token with no role", async () => `Bearer ${await mint({ set: { roles: [] } })}`],
  [
    "a token with a role that does not exist",
    async () => `Bearer ${await mint({ set: { roles: ["SUPERUSER"] } })}`,
  ],
  ["a token without sub", async () => `Bearer ${await mint({ omit: ["sub"] })}`],
  [
    "a JWT of another type (typ JWT, not an access token)",
    async () => `Bearer ${await mint({ header: { typ: "JWT" } })}`,
  ],
  ["a JWT without typ", async () => `Bearer ${await mint({ header: { typ: undefined } })}`],
];

const codes = (res: Awaited<ReturnType<typeof gql>>) => res.errors?.map((e) => e.extensions?.code);

describe("access tokens at the gateway", () => {
  it("accepts a token minted like identity's (the control every attack below differs from)", async () => {
    const authorization = `Bearer ${await mint()}`;
    const org = await gql(platform.gatewayUrl, CURRENT_ORGANIZATION, { headers: { authorization } });
    expect(org.errors).toBeUndefined();
    expect(org.data).toEqual({ currentOrganization: { id: owner.tenantId, name: "auth-owner Inc" } });
    const created = await gql(platform.gatewayUrl, CREATE_PROJECT, {
      headers: { authorization },
      variables: { name: "control" },
    });
    expect(created.errors).toBeUndefined();
    expect(created.data?.createProject.project.name).toBe("control");
  });

  it("accepts the scheme in any case, as HTTP says (`bearer`, `BEARER`)", async () => {
    for (const scheme of ["bearer", "BEARER"]) {
      const org = await gql(platform.gatewayUrl, CURRENT_ORGANIZATION, {
        headers: { authorization: `${scheme} ${owner.token}` },
      });
      expect(org.data, scheme).toEqual({
        currentOrganization: { id: owner.tenantId, name: "auth-owner Inc" },
      });
    }
  });

  it("accepts the token identity issued at sign-up", async () => {
    const org = await gql(platform.gatewayUrl, CURRENT_ORGANIZATION, { token: owner.token });
    expect(org.data).toEqual({ currentOrganization: { id: owner.tenantId, name: "auth-owner Inc" } });
  });

  it("accepts a real token whose payload was re-encoded unchanged (so tampering fails for the change)", async () => {
    const org = await gql(platform.gatewayUrl, CURRENT_ORGANIZATION, {
      token: tamper(owner.token, (p) => p),
    });
    expect(org.data).toEqual({ currentOrganization: { id: owner.tenantId, name: "auth-owner Inc" } });
  });

  it("answers a protected query without a token with UNAUTHENTICATED and no organization", async () => {
    const res = await gql(platform.gatewayUrl, CURRENT_ORGANIZATION);
    expect(codes(res)).toEqual(["UNAUTHENTICATED"]);
    expect(res.data?.currentOrganization ?? null).toBeNull();
    // The subgraph's own message on the client's field, not a failed fetch naming an internal URL.
    expect(res.errors?.[0]).toMatchObject({
      path: ["currentOrganization"],
      message: expect.stringMatching(/token/),
    });
    for (const url of Object.values(platform.subgraphUrls)) expect(JSON.stringify(res)).not.toContain(url);
  });

  it("refuses a mutation without a token and writes nothing", async () => {
    const name = `anonymous ${randomUUID()}`;
    const res = await gql(platform.gatewayUrl, CREATE_PROJECT, { variables: { name } });
    expect(codes(res)).toEqual(["UNAUTHENTICATED"]);
    expect(res.data ?? null).toBeNull();
    expect(await platform.prisma.project.count({ where: { name } })).toBe(0);
  });

  it.each(attacks)("refuses %s: UNAUTHENTICATED, no data, nothing written", async (_name, authorization) => {
    const headers = { authorization: await authorization() };
    const query = await gql(platform.gatewayUrl, CURRENT_ORGANIZATION, { headers });
    expect(codes(query)).toEqual(["UNAUTHENTICATED"]);
    expect(query.data ?? null).toBeNull();
    expect(query.status).toBe(401);

    const name = `forged ${randomUUID()}`;
    const mutation = await gql(platform.gatewayUrl, CREATE_PROJECT, { headers, variables: { name } });
    expect(codes(mutation)).toEqual(["UNAUTHENTICATED"]);
    expect(mutation.data ?? null).toBeNull();
    expect(await platform.prisma.project.count({ where: { name } })).toBe(0);
  });

  it("does not say which check a forged token failed", async () => {
    const expired = await gql(platform.gatewayUrl, CURRENT_ORGANIZATION, {
      token: await mint({ set: { exp: now() - 120 } }),
    });
    const forged = await gql(platform.gatewayUrl, CURRENT_ORGANIZATION, {
      token: await mint({ key: await attackerEd25519() }),
    });
    expect(expired.errors?.[0]?.message).toBeTruthy();
    expect(forged.errors?.[0]?.message).toBe(expired.errors?.[0]?.message);
  });
});
