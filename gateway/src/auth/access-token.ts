import { type Principal, ROLES, unauthenticated, userPrincipal } from "@app/common";
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
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
  return async function verify(
    authorization: string | null,
  ): Promise<(Principal & { expiresAt: number }) | null> {
    if (authorization === null) return null;
    // The scheme is case-insensitive (RFC 9110); the token itself is a compact JWS.
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(authorization.trim());
    if (!match) throw unauthenticated("The Authorization header must be `Bearer <access token>`.");
    try {
      const { payload } = await jwtVerify(match[1]!, jwks, {
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
      if (await sessions?.isRevoked(claims.data.sid)) throw new Error("session ended");
      return {
        ...userPrincipal({ userId: claims.data.sub, tenantId: claims.data.tid, roles: claims.data.roles }),
        // Long-lived connections (WebSockets) are closed when it passes.
        expiresAt: payload.exp!,
      };
    } catch {
      // One message for every failure: which check failed is of use to an attacker, not to a client.
      throw unauthenticated("The access token is invalid or expired.");
    }
  };
}
