import { type Principal, ROLES, unauthenticated, userPrincipal } from "@app/common";
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";
import { z } from "zod";
import type { SessionRevocationCheck } from "./session-revocation.ts";

/** Asymmetric algorithms only: `none` and HMAC (a public key used as a shared secret) are refused. */
export const ACCEPTED_ALGORITHMS = ["EdDSA", "ES256"];

const accessTokenClaims = z.object({
  sub: z.uuid(),
  tid: z.uuid(),
  roles: z.array(z.enum(ROLES)).min(1),
  /** The session (refresh-token family): refused once it has ended. */
  sid: z.uuid(),
});

/** Verified tokens remembered per process; beyond this the least recently used are verified again. */
const MAX_CACHED_TOKENS = 10_000;

type VerifiedToken = z.infer<typeof accessTokenClaims> & { exp: number };

export interface AccessTokenSettings {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /**
   * How long the fetched JWKS is used before it is fetched again (JWKS_CACHE_SECONDS; default 600). A
   * token naming an unknown kid refetches sooner, at most once per min(30 s, this).
   */
  jwksCacheSeconds?: number;
}

/**
 * Verifies `Authorization: Bearer <jwt>` against identity's JWKS (fetched once, refetched when a token
 * names an unknown `kid`, so rotated keys are picked up without a restart). No header means an
 * anonymous request; a header that does not verify is UNAUTHENTICATED, never anonymous.
 *
 * A client sends the same token with every request until it expires, so a verified token's claims are
 * remembered by its exact text: the signature check (EdDSA) and claim validation run once per token,
 * not once per request. What can change while a token is valid is still checked every time: whether
 * its session has ended (`sessions`) and, by the caller (tenancy.guard), its organization's status. A
 * remembered token is forgotten when it expires, and at the latest after the JWKS cache time, so a key
 * removed from the JWKS stops being trusted no later than without this cache.
 */
export function createAccessTokenVerifier(
  settings: AccessTokenSettings,
  keys?: JWTVerifyGetKey,
  sessions?: Pick<SessionRevocationCheck, "isRevoked">,
) {
  const cacheMaxAge = (settings.jwksCacheSeconds ?? 600) * 1000;
  const jwks =
    keys ??
    createRemoteJWKSet(new URL(settings.jwksUrl), {
      cacheMaxAge,
      cooldownDuration: Math.min(30_000, cacheMaxAge),
    });
  const verified = new LRUCache<string, VerifiedToken>({ max: MAX_CACHED_TOKENS });

  async function claimsOf(token: string): Promise<VerifiedToken> {
    const cached = verified.get(token);
    if (cached) return cached;
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: ACCEPTED_ALGORITHMS,
      issuer: settings.issuer,
      audience: settings.audience,
      requiredClaims: ["exp", "sub", "iat"],
      // Only access tokens: an ID token or another JWT signed by the same key is not a credential.
      typ: "at+jwt",
      clockTolerance: 5,
    });
    const claims = accessTokenClaims.safeParse(payload);
    if (!claims.success) throw new Error("claims");
    const accepted = { ...claims.data, exp: payload.exp! };
    const ttl = Math.min(accepted.exp * 1000 - Date.now(), cacheMaxAge);
    if (ttl > 0) verified.set(token, accepted, { ttl });
    return accepted;
  }

  return async function verify(
    authorization: string | null,
  ): Promise<(Principal & { expiresAt: number }) | null> {
    if (authorization === null) return null;
    // The scheme is case-insensitive (RFC 9110); the token itself is a compact JWS.
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(authorization.trim());
    if (!match) throw unauthenticated("The Authorization header must be `Bearer <access token>`.");
    try {
      const claims = await claimsOf(match[1]!);
      if (await sessions?.isRevoked(claims.sid)) throw new Error("session ended");
      return {
        ...userPrincipal({ userId: claims.sub, tenantId: claims.tid, roles: claims.roles }),
        // Long-lived connections (WebSockets) are closed when it passes.
        expiresAt: claims.exp,
      };
    } catch {
      // One message for every failure: which check failed is of use to an attacker, not to a client.
      throw unauthenticated("The access token is invalid or expired.");
    }
  };
}
