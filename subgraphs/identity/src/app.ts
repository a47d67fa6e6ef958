import { createSubgraphApp } from "@app/common/subgraph";
import { type PrismaClient, type TenantClient, tenantClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { IdentityConfig } from "./env.ts";
import { internalRoutes } from "./internal-routes.ts";
import { accountResolvers } from "./modules/accounts/accounts.resolvers.ts";
import { loadSigningKeys } from "./modules/keys/keys.service.ts";
import { userResolvers } from "./modules/users/users.resolvers.ts";

/** Builds the identity subgraph; it also serves the JWKS the gateway verifies access tokens with. */
export async function createIdentityApp(config: IdentityConfig, deps: { prisma?: PrismaClient } = {}) {
  const keys = await loadSigningKeys(config.JWT_KEYS_DIR, {
    reloadSeconds: config.JWT_KEYS_RELOAD_SECONDS,
    onReloadError: (error) => app.logger.error({ err: error }, "could not re-read the signing keys"),
  });
  const tokens = {
    keys,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  };
  const app = createSubgraphApp({
    name: "identity",
    config,
    prisma: deps.prisma,
    resolvers: [accountResolvers, userResolvers],
    createContext: (prisma, logger) => contextFactory(prisma, logger, tokens),
    routes: {
      "/.well-known/jwks.json": () =>
        Response.json(keys.jwks, { headers: { "cache-control": "public, max-age=300" } }),
      ...internalRoutes(
        (tenantId): TenantClient => tenantClient(app.prisma, tenantId),
        config.INTERNAL_CONTEXT_SECRET,
      ),
    },
  });
  return app;
}
