import { randomUUID } from "node:crypto";
import {
  INTERNAL_CONTEXT_HEADER,
  type Logger,
  type Principal,
  ROLES,
  type Role,
  signInternalContext,
  unauthenticated,
  userPrincipal,
} from "@app/common";
import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";
import { z } from "zod";

/** What an external issuer may sign with: asymmetric algorithms only (no `none`, no HMAC). */
const EXTERNAL_ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"];
const RANK: Record<Role, number> = { OWNER: 4, ADMIN: 3, MEMBER: 2, VIEWER: 1 };

export interface ExternalOidcSettings {
  issuer: string;
  jwksUrl: string;
  audience: string;
  /** Claim holding the platform user id (a UUID). */
  userClaim: string;
  /** Claim holding the platform organization id (a UUID). */
  tenantClaim: string;
  /** Claim with platform role names (array or space-separated); when set, it can only lower the role. */
  rolesClaim?: string;
  /** Identity's membership-resolution endpoint (`/internal/memberships/resolve`). */
  membershipUrl: () => string;
  internalSecret: string;
  /** How long a membership answer is trusted (AUTH_CACHE_TTL_SECONDS). */
  cacheTtlSeconds: number;
  /** How long the issuer's JWKS is used before it is fetched again (JWKS_CACHE_SECONDS). */
  jwksCacheSeconds: number;
  logger: Logger;
}

const uuid = z.uuid();

/** Reads a dotted claim path (`https://example.com/claims.org`, `org.id`): exact name first. */
function claim(payload: JWTPayload, path: string): unknown {
  if (path in payload) return payload[path];
  return path
    .split(".")
    .reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as never)[k] : undefined), payload);
}

function rolesIn(value: unknown): Role[] {
  const names = Array.isArray(value) ? value : typeof value === "string" ? value.split(/\s+/) : [];
  return names.filter((n): n is Role => (ROLES as readonly unknown[]).includes(n));
}

/**
 * Tokens of one external OpenID Connect issuer (Ory Hydra, Auth0, Keycloak...). The token is verified
 * against the issuer's JWKS, issuer and audience; its claims map it to a platform user and organization.
 * What the mapping trusts: the issuer vouches for WHO the caller is (user and organization ids), the
 * platform decides WHAT they may do. The user must be a member of that organization (asked of identity,
 * cached `cacheTtlSeconds`), and acts with their membership's role; a roles claim can only lower it.
 */
export function createExternalOidcVerifier(settings: ExternalOidcSettings, keys?: JWTVerifyGetKey) {
  const cacheMaxAge = settings.jwksCacheSeconds * 1000;
  const jwks =
    keys ??
    createRemoteJWKSet(new URL(settings.jwksUrl), {
      cacheMaxAge,
      cooldownDuration: Math.min(30_000, cacheMaxAge),
    });
  const memberships = new LRUCache<string, { role: Role | null }>({
    max: 10_000,
    ttl: settings.cacheTtlSeconds * 1000,
  });

  async function membershipRole(tenantId: string, userId: string): Promise<Role | null> {
    const cacheKey = `${tenantId}:${userId}`;
    const cached = memberships.get(cacheKey);
    if (cached) return cached.role;
    const context = await signInternalContext(settings.internalSecret, {
      requestId: randomUUID(),
      principal: null,
    });
    const response = await fetch(settings.membershipUrl(), {
      method: "POST",
      headers: { "content-type": "application/json", [INTERNAL_CONTEXT_HEADER]: context },
      body: JSON.stringify({ tenantId, userId }),
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) throw new Error(`identity answered ${response.status} to a membership resolution`);
    const { role } = z.object({ role: z.enum(ROLES).nullable() }).parse(await response.json());
    memberships.set(cacheKey, { role });
    return role;
  }

  return async function verify(token: string): Promise<Principal & { expiresAt: number }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        algorithms: EXTERNAL_ALGORITHMS,
        issuer: settings.issuer,
        audience: settings.audience,
        requiredClaims: ["exp", "iat"],
        clockTolerance: 5,
      }));
    } catch {
      throw unauthenticated("The access token is invalid or expired.");
    }
    const userId = uuid.safeParse(claim(payload, settings.userClaim));
    const tenantId = uuid.safeParse(claim(payload, settings.tenantClaim));
    if (!userId.success || !tenantId.success) {
      throw unauthenticated("The token does not name a platform user and organization.");
    }
    const role = await membershipRole(tenantId.data, userId.data).catch((error) => {
      settings.logger.error({ err: error }, "membership resolution failed");
      throw unauthenticated("The token could not be checked; try again.");
    });
    if (!role) throw unauthenticated("The token's user is not a member of its organization.");
    let roles: Role[] = [role];
    if (settings.rolesClaim) {
      const claimed = rolesIn(claim(payload, settings.rolesClaim));
      const allowed = claimed.filter((r) => RANK[r] <= RANK[role]);
      const highest = allowed.sort((a, b) => RANK[b] - RANK[a])[0];
      if (!highest) throw unauthenticated("The token's roles claim grants no role in this organization.");
      roles = [highest];
    }
    return {
      ...userPrincipal({ userId: userId.data, tenantId: tenantId.data, roles }),
      expiresAt: payload.exp!,
    };
  };
}
