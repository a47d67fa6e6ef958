import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraphApp } from "@app/common/subgraph";
import type { PrismaClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { TenantsConfig } from "./env.ts";
import { createOperationResolvers } from "./modules/operations/operations.resolvers.ts";
import { organizationResolvers } from "./modules/organizations/organizations.resolvers.ts";

/** Builds the tenants subgraph; `index.ts` listens, tests serve it on port 0. */
export function createTenantsApp(
  config: TenantsConfig,
  deps: { prisma?: PrismaClient; crossTenant?: PrismaClient } = {},
) {
  return createSubgraphApp({
    name: "tenants",
    config,
    prisma: deps.prisma,
    crossTenant: deps.crossTenant,
    resolvers: [
      { DateTime: DateTimeScalar },
      organizationResolvers,
      createOperationResolvers(config.SUPERGRAPH_PATH),
    ],
    createContext: contextFactory,
  });
}
