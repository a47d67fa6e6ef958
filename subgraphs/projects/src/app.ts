import { createPlanLimitsCache, loadPlanLimits, type PlanLimitsSource } from "@app/billing";
import { createLogger, redisReadiness } from "@app/common";
import { createPostgresEventBus, createRedisEventBus } from "@app/common/events";
import { DateTimeScalar, JSONScalar } from "@app/common/scalars";
import { createSubgraphApp } from "@app/common/subgraph";
import { type PrismaClient, tenantClient } from "@app/db";
import { contextFactory } from "./context.ts";
import type { ProjectsConfig } from "./env.ts";
import { activityResolvers } from "./modules/activity/activity.resolvers.ts";
import { commentResolvers } from "./modules/comments/comments.resolvers.ts";
import { projectResolvers } from "./modules/projects/projects.resolvers.ts";
import { createSubscriptionResolvers } from "./modules/subscriptions/subscriptions.resolvers.ts";
import { taskResolvers } from "./modules/tasks/tasks.resolvers.ts";

/** Builds the projects subgraph; `index.ts` listens, tests serve it on port 0. */
export function createProjectsApp(
  config: ProjectsConfig,
  deps: { prisma?: PrismaClient; crossTenant?: PrismaClient } = {},
) {
  // Subscriptions listen to the tenant's events: Redis across replicas, PostgreSQL on one machine.
  const logger = createLogger("projects-events", config.LOG_LEVEL);
  const bus = config.REDIS_URL
    ? createRedisEventBus(config.REDIS_URL, logger)
    : createPostgresEventBus(config.DATABASE_URL, logger);
  const redis = config.REDIS_URL ? redisReadiness(config.REDIS_URL) : null;
  let planLimits: PlanLimitsSource | undefined;
  return createSubgraphApp({
    name: "projects",
    config,
    prisma: deps.prisma,
    crossTenant: deps.crossTenant,
    realtimePoolSize: config.REALTIME_POOL_SIZE,
    resolvers: [
      { DateTime: DateTimeScalar, JSON: JSONScalar },
      projectResolvers,
      taskResolvers,
      commentResolvers,
      activityResolvers,
      createSubscriptionResolvers(bus),
    ],
    createContext: (prisma, contextLogger, _crossTenant, realtime) => {
      // Plan limits (project count) read from billing's tables, cached in Redis when there is one.
      planLimits = createPlanLimitsCache({
        redisUrl: config.REDIS_URL,
        load: (tenantId) => loadPlanLimits(tenantClient(prisma, tenantId), prisma.plan),
        logger: contextLogger,
      });
      return contextFactory({ prisma, realtime }, contextLogger, planLimits);
    },
    // Without Redis, realtime events stop; queries and mutations would still work, but this replica
    // is not the one to send subscribers to.
    readiness: redis ? { redis: redis.check } : {},
    onClose: async () => {
      await bus.close();
      await redis?.close();
      await planLimits?.close();
    },
  });
}
