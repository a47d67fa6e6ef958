import { createLogger } from "@app/common";
import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraph } from "@app/common/subgraph";
import { createPrismaClient, type PrismaClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { TenantsConfig } from "./env.ts";
import { organizationResolvers } from "./modules/organizations/organizations.resolvers.ts";

/** Builds the tenants subgraph; `index.ts` listens, tests serve it on port 0. */
export function createTenantsApp(config: TenantsConfig, deps: { prisma?: PrismaClient } = {}) {
  const logger = createLogger("tenants", config.LOG_LEVEL);
  const prisma =
    deps.prisma ??
    createPrismaClient({ connectionString: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE });
  const yoga = createSubgraph({
    name: "tenants",
    resolvers: [{ DateTime: DateTimeScalar }, organizationResolvers],
    internalSecret: config.INTERNAL_CONTEXT_SECRET,
    logger,
    createContext: contextFactory(prisma, logger),
  });
  return { yoga, logger, close: () => prisma.$disconnect() };
}
