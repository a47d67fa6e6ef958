import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraphApp } from "@app/common/subgraph";
import type { PrismaClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { ProjectsConfig } from "./env.ts";
import { projectResolvers } from "./modules/projects/projects.resolvers.ts";
import { taskResolvers } from "./modules/tasks/tasks.resolvers.ts";

/** Builds the projects subgraph; `index.ts` listens, tests serve it on port 0. */
export function createProjectsApp(config: ProjectsConfig, deps: { prisma?: PrismaClient } = {}) {
  return createSubgraphApp({
    name: "projects",
    config,
    prisma: deps.prisma,
    resolvers: [{ DateTime: DateTimeScalar }, projectResolvers, taskResolvers],
    createContext: contextFactory,
  });
}
