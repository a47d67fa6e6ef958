import { createLogger } from "@app/common";
import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraph } from "@app/common/subgraph";
import { createPrismaClient, type PrismaClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { ProjectsConfig } from "./env.ts";
import { projectResolvers } from "./modules/projects/projects.resolvers.ts";
import { taskResolvers } from "./modules/tasks/tasks.resolvers.ts";

/** Builds the projects subgraph; `index.ts` listens, tests serve it on port 0. */
export function createProjectsApp(config: ProjectsConfig, deps: { prisma?: PrismaClient } = {}) {
  const logger = createLogger("projects", config.LOG_LEVEL);
  const prisma =
    deps.prisma ??
    createPrismaClient({ connectionString: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE });
  const yoga = createSubgraph({
    name: "projects",
    resolvers: [{ DateTime: DateTimeScalar }, projectResolvers, taskResolvers],
    internalSecret: config.INTERNAL_CONTEXT_SECRET,
    logger,
    createContext: contextFactory(prisma, logger),
  });
  return { yoga, logger, close: () => prisma.$disconnect() };
}
