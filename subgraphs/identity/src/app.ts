import { createPlanLimitsCache, loadPlanLimits } from "@app/billing";
import { createLogger } from "@app/common";
import { instrumentRedis } from "@app/common/metrics";
import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraphApp } from "@app/common/subgraph";
import { type PrismaClient, type TenantClient, tenantClient } from "@app/db";
import { Redis } from "ioredis";
import { contextFactory, type IdentityServices } from "./context.ts";
import type { IdentityConfig } from "./env.ts";
import { internalRoutes } from "./internal-routes.ts";
import { accountResolvers } from "./modules/accounts/accounts.resolvers.ts";
import { memoryLoginLimiter, redisLoginLimiter } from "./modules/accounts/login-limiter.ts";
import { apiKeyResolvers } from "./modules/api-keys/api-keys.resolvers.ts";
import { apiKeyRevocations } from "./modules/api-keys/revocations.ts";
import { invitationResolvers } from "./modules/invitations/invitations.resolvers.ts";
import { loadSigningKeys } from "./modules/keys/keys.service.ts";
import { membershipResolvers } from "./modules/memberships/memberships.resolvers.ts";
import { mfaResolvers } from "./modules/mfa/mfa.resolvers.ts";
import { createSecretBox, mfaKey } from "./modules/mfa/secret-box.ts";
import { discoveryDocument } from "./modules/oidc/discovery.ts";
import { noRevocations, redisRevocations } from "./modules/sessions/revocations.ts";
import { userResolvers } from "./modules/users/users.resolvers.ts";

/** Builds the identity subgraph; it also serves the JWKS the gateway verifies access tokens with. */
export async function createIdentityApp(
  config: IdentityConfig,
  deps: { prisma?: PrismaClient; crossTenant?: PrismaClient } = {},
) {
  const keys = await loadSigningKeys(config.JWT_KEYS_DIR, {
    reloadSeconds: config.JWT_KEYS_RELOAD_SECONDS,
    onReloadError: (error) => app.logger.error({ err: error }, "could not re-read the signing keys"),
  });
  const tokens = {
    keys,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
  };
  const redis = config.REDIS_URL ? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 }) : null;
  const limits = {
    perAccount: config.LOGIN_MAX_FAILURES_PER_ACCOUNT,
    perAddress: config.LOGIN_MAX_FAILURES_PER_ADDRESS,
    windowSeconds: config.LOGIN_FAILURE_WINDOW_SECONDS,
  };
  // Reset e-mails: a few per address an hour is plenty for a person and useless for flooding an inbox.
  const resetLimits = {
    perAccount: config.PASSWORD_RESET_MAX_PER_ACCOUNT,
    perAddress: config.PASSWORD_RESET_MAX_PER_ADDRESS,
    windowSeconds: 3_600,
    name: "password-reset",
    what: "password reset requests",
  };
  const services: IdentityServices = {
    tokens,
    settings: {
      emailVerificationTtlSeconds: config.EMAIL_VERIFICATION_TTL_SECONDS,
      passwordResetTtlSeconds: config.PASSWORD_RESET_TTL_SECONDS,
      invitationTtlSeconds: config.INVITATION_TTL_SECONDS,
    },
    limiter: redis ? redisLoginLimiter(redis, limits) : memoryLoginLimiter(limits),
    resetLimiter: redis ? redisLoginLimiter(redis, resetLimits) : memoryLoginLimiter(resetLimits),
    revocations: redis ? redisRevocations(redis, config.ACCESS_TOKEN_TTL_SECONDS) : noRevocations,
    // Seats: read from billing's tables when an invitation is created (app is built below).
    planLimits: createPlanLimitsCache({
      redisUrl: config.REDIS_URL,
      load: (tenantId) => loadPlanLimits(tenantClient(app.prisma, tenantId), app.prisma.plan),
      logger: createLogger("identity-plan-limits", config.LOG_LEVEL),
    }),
  };
  const discovery = discoveryDocument(config.JWT_ISSUER);
  const app = createSubgraphApp({
    name: "identity",
    config,
    prisma: deps.prisma,
    crossTenant: deps.crossTenant,
    resolvers: [
      { DateTime: DateTimeScalar },
      accountResolvers,
      userResolvers,
      membershipResolvers,
      invitationResolvers,
      apiKeyResolvers(apiKeyRevocations(redis)),
      mfaResolvers(createSecretBox(mfaKey(config.MFA_ENCRYPTION_KEY, config.INTERNAL_CONTEXT_SECRET))),
    ],
    createContext: (prisma, logger, crossTenant) => contextFactory(prisma, logger, services, crossTenant),
    routes: {
      "/.well-known/jwks.json": () =>
        Response.json(keys.jwks, { headers: { "cache-control": "public, max-age=300" } }),
      "/.well-known/openid-configuration": () =>
        Response.json(discovery, { headers: { "cache-control": "public, max-age=300" } }),
      ...internalRoutes(
        (tenantId): TenantClient => tenantClient(app.prisma, tenantId),
        config.INTERNAL_CONTEXT_SECRET,
      ),
    },
    ...(redis
      ? {
          readiness: { redis: async () => void (await redis.ping()) },
          onClose: async () => {
            redis.disconnect();
            await services.planLimits.close();
          },
        }
      : {}),
  });
  // Log-in limits, sessions and plan limits: their Redis latency on /metrics.
  if (redis) instrumentRedis(redis, app.metrics);
  return app;
}
