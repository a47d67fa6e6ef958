import type { Logger, Principal } from "@app/common";
import { looksLikeApiKey } from "@app/common/api-key";
import { decodeJwt, type JWTVerifyGetKey } from "jose";
import type { GatewayConfig } from "../env.ts";
import { createAccessTokenVerifier } from "./access-token.ts";
import { createApiKeyAuthenticator } from "./api-key.ts";
import { createExternalOidcVerifier } from "./external-oidc.ts";
import { createSessionRevocationCheck } from "./session-revocation.ts";

export type AuthenticatedPrincipal = Principal & { expiresAt?: number };

export interface CredentialVerifiers {
  /** Identity's own access tokens (auth/access-token.ts); takes the whole Authorization header. */
  accessToken(authorization: string): Promise<AuthenticatedPrincipal | null>;
  /** Partner API keys (auth/api-key.ts). */
  apiKey(key: string): Promise<AuthenticatedPrincipal>;
  /** The one configured external issuer (auth/external-oidc.ts), with its `iss`. */
  external?: { issuer: string; verify(token: string): Promise<AuthenticatedPrincipal> };
}

/**
 * One entry point for every credential the gateway accepts in `Authorization: Bearer <credential>`:
 * an API key (recognised by its `cdt_` prefix), a token of the external issuer (recognised by its
 * unverified `iss`, then verified against that issuer's keys only), or identity's access token. No
 * header means anonymous; anything else that does not verify is UNAUTHENTICATED, never anonymous.
 */
export function createAuthenticator(verifiers: CredentialVerifiers) {
  return async function authenticate(authorization: string | null): Promise<AuthenticatedPrincipal | null> {
    if (authorization === null) return null;
    const credential = /^Bearer (\S+)$/i.exec(authorization.trim())?.[1];
    if (credential && looksLikeApiKey(credential)) return verifiers.apiKey(credential);
    if (credential && verifiers.external && issuerOf(credential) === verifiers.external.issuer) {
      return verifiers.external.verify(credential);
    }
    return verifiers.accessToken(authorization);
  };
}

/** The `iss` a JWT claims, unverified: only to choose which issuer's keys verify it. */
function issuerOf(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

/**
 * Builds the gateway's authenticator from its settings: identity's access tokens, API keys resolved
 * through identity (`identityUrl` is its GraphQL URL; the internal endpoints sit beside it) and, when
 * configured, the external issuer. `keys` replaces identity's remote JWKS (tests of forged tokens).
 */
export function createCredentials(
  config: GatewayConfig,
  deps: { identityUrl: () => string; logger: Logger; keys?: JWTVerifyGetKey },
) {
  const internal = (path: string) => () => new URL(path, deps.identityUrl()).href;
  const apiKeys = createApiKeyAuthenticator({
    resolveUrl: internal("/internal/api-keys/resolve"),
    internalSecret: config.INTERNAL_CONTEXT_SECRET,
    redisUrl: config.REDIS_URL,
    ttlSeconds: config.AUTH_CACHE_TTL_SECONDS,
    logger: deps.logger,
  });
  const external = config.EXTERNAL_OIDC_ISSUER
    ? {
        issuer: config.EXTERNAL_OIDC_ISSUER,
        verify: createExternalOidcVerifier({
          issuer: config.EXTERNAL_OIDC_ISSUER,
          jwksUrl: config.EXTERNAL_OIDC_JWKS_URL!,
          audience: config.EXTERNAL_OIDC_AUDIENCE!,
          userClaim: config.EXTERNAL_OIDC_USER_CLAIM,
          tenantClaim: config.EXTERNAL_OIDC_TENANT_CLAIM,
          rolesClaim: config.EXTERNAL_OIDC_ROLES_CLAIM,
          membershipUrl: internal("/internal/memberships/resolve"),
          internalSecret: config.INTERNAL_CONTEXT_SECRET,
          cacheTtlSeconds: config.AUTH_CACHE_TTL_SECONDS,
          jwksCacheSeconds: config.JWKS_CACHE_SECONDS,
          logger: deps.logger,
        }),
      }
    : undefined;
  const sessions = createSessionRevocationCheck({
    redisUrl: config.REDIS_URL,
    cacheMs: config.SESSION_REVOCATION_CACHE_MS,
    logger: deps.logger,
  });
  const accessToken = createAccessTokenVerifier(
    {
      jwksUrl: config.JWKS_URL,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      jwksCacheSeconds: config.JWKS_CACHE_SECONDS,
    },
    deps.keys,
    sessions,
  );
  return {
    authenticate: createAuthenticator({ accessToken, apiKey: apiKeys.authenticate, external }),
    close: async () => {
      await apiKeys.close();
      await sessions.close();
    },
  };
}
