import { createLogger } from "@app/common";
import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraph } from "@app/common/subgraph";
import { createPrismaClient, type PrismaClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { BillingConfig } from "./env.ts";
import { planResolvers } from "./modules/plans/plans.resolvers.ts";
import { subscriptionResolvers } from "./modules/subscriptions/subscriptions.resolvers.ts";

/** Builds the billing subgraph; `index.ts` listens, tests serve it on port 0. */
export function createBillingApp(config: BillingConfig, deps: { prisma?: PrismaClient } = {}) {
  const logger = createLogger("billing", config.LOG_LEVEL);
  const prisma =
    deps.prisma ??
    createPrismaClient({ connectionString: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE });
  const yoga = createSubgraph({
    name: "billing",
    resolvers: [{ DateTime: DateTimeScalar }, planResolvers, subscriptionResolvers],
    internalSecret: config.INTERNAL_CONTEXT_SECRET,
    logger,
    createContext: contextFactory(prisma, logger),
  });
  return { yoga, logger, close: () => prisma.$disconnect() };
}
