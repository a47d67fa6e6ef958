import { redisUrl } from "@app/common/env";
import { z } from "zod";

/** Settings of the credentials the gateway accepts besides identity's access tokens (README: Settings). */
export const credentialsEnvShape = {
  /**
   * How long the gateway uses a fetched JWKS (identity's, and the external issuer's) before fetching it
   * again; `npm run keys:rotate`'s publish lead must be longer. A token with an unknown kid refetches sooner.
   */
  JWKS_CACHE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
  /** Shared API-key cache and revocation messages; without it each gateway caches alone. */
  REDIS_URL: redisUrl.optional(),
  /**
   * How long a resolved API key (or an external user's membership) is trusted before identity is asked
   * again: the longest a revoked key keeps working when no revocation message arrives.
   */
  AUTH_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(60).default(30),
  /**
   * How long this gateway trusts its answer to "has this session ended?" (log-out, member removal...)
   * before asking Redis again: the longest an ended session's access token keeps working here.
   */
  SESSION_REVOCATION_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  /** One external OpenID Connect issuer whose access tokens are accepted too (unset: none). */
  EXTERNAL_OIDC_ISSUER: z.url().optional(),
  EXTERNAL_OIDC_JWKS_URL: z.url().optional(),
  EXTERNAL_OIDC_AUDIENCE: z.string().min(1).optional(),
  /** Claim holding the platform user id (a UUID); dotted paths reach nested claims. */
  EXTERNAL_OIDC_USER_CLAIM: z.string().min(1).default("sub"),
  /** Claim holding the platform organization id (a UUID). */
  EXTERNAL_OIDC_TENANT_CLAIM: z.string().min(1).default("tid"),
  /** Claim with platform role names; it can only lower the member's role (unset: the membership's role). */
  EXTERNAL_OIDC_ROLES_CLAIM: z.string().min(1).optional(),
};

interface CredentialsEnv {
  JWT_ISSUER: string;
  EXTERNAL_OIDC_ISSUER?: string;
  EXTERNAL_OIDC_JWKS_URL?: string;
  EXTERNAL_OIDC_AUDIENCE?: string;
}

/** The external issuer is all or nothing, and must not pass for identity itself. */
export function checkCredentialsEnv(env: CredentialsEnv, ctx: z.RefinementCtx): void {
  if (!env.EXTERNAL_OIDC_ISSUER) return;
  for (const key of ["EXTERNAL_OIDC_JWKS_URL", "EXTERNAL_OIDC_AUDIENCE"] as const) {
    if (!env[key])
      ctx.addIssue({ code: "custom", path: [key], message: "is required with EXTERNAL_OIDC_ISSUER" });
  }
  if (env.EXTERNAL_OIDC_ISSUER === env.JWT_ISSUER) {
    ctx.addIssue({
      code: "custom",
      path: ["EXTERNAL_OIDC_ISSUER"],
      message: "must differ from JWT_ISSUER (identity's own tokens)",
    });
  }
}
