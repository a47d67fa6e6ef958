import { createLogger } from "@app/common";
import { createSubgraph } from "@app/common/subgraph";
import { createPrismaClient, type PrismaClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { IdentityConfig } from "./env.ts";
import { accountResolvers } from "./modules/accounts/accounts.resolvers.ts";
import { loadSigningKeys } from "./modules/keys/keys.service.ts";
import { userResolvers } from "./modules/users/users.resolvers.ts";

/** Builds the identity subgraph; it also serves the JWKS the gateway verifies access tokens with. */
export async function createIdentityApp(config: IdentityConfig, deps: { prisma?: PrismaClient } = {}) {
  const logger = createLogger("identity", config.LOG_LEVEL);
  const prisma =
    deps.prisma ??
    createPrismaClient({ connectionString: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE });
  const keys = await loadSigningKeys(config.JWT_KEYS_DIR);
  const tokens = {
    keys,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  };
  const yoga = createSubgraph({
    name: "identity",
    resolvers: [accountResolvers, userResolvers],
    internalSecret: config.INTERNAL_CONTEXT_SECRET,
    logger,
    createContext: contextFactory(prisma, logger, tokens),
    routes: {
      "/.well-known/jwks.json": () =>
        Response.json(keys.jwks, { headers: { "cache-control": "public, max-age=300" } }),
    },
  });
  return { yoga, logger, close: () => prisma.$disconnect() };
}
