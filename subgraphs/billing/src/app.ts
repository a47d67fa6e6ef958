import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraphApp } from "@app/common/subgraph";
import type { PrismaClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { BillingConfig } from "./env.ts";
import { planResolvers } from "./modules/plans/plans.resolvers.ts";
import { subscriptionResolvers } from "./modules/subscriptions/subscriptions.resolvers.ts";

/** Builds the billing subgraph; `index.ts` listens, tests serve it on port 0. */
export function createBillingApp(config: BillingConfig, deps: { prisma?: PrismaClient } = {}) {
  return createSubgraphApp({
    name: "billing",
    config,
    prisma: deps.prisma,
    resolvers: [{ DateTime: DateTimeScalar }, planResolvers, subscriptionResolvers],
    createContext: contextFactory,
  });
}
