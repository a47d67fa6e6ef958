import type { PlanLimitsSource } from "@app/billing";
import { deferred, type InternalContext, type Logger, type TenantContext, tenantContext } from "@app/common";
import type { PrismaClient } from "@app/db";
import { type ActivityLoaders, createActivityLoaders } from "./modules/activity/activity.loaders.ts";
import { type CommentLoaders, createCommentLoaders } from "./modules/comments/comments.loaders.ts";
import { createProjectLoaders, type ProjectLoaders } from "./modules/projects/projects.loaders.ts";
import { createTaskLoaders, type TaskLoaders } from "./modules/tasks/tasks.loaders.ts";

export interface Context extends TenantContext {
  readonly loaders: ProjectLoaders & TaskLoaders & CommentLoaders & ActivityLoaders;
  /** The organization's plan limits (cached; billing invalidates them on a subscription change). */
  readonly planLimits: PlanLimitsSource;
}

export function contextFactory(prisma: PrismaClient, logger: Logger, planLimits: PlanLimitsSource) {
  return (internal: InternalContext): Context => {
    const ctx = tenantContext(internal, logger, prisma);
    return {
      ...ctx,
      planLimits,
      loaders: deferred(() => ({
        ...createProjectLoaders(ctx.db),
        ...createTaskLoaders(ctx.db),
        ...createCommentLoaders(ctx.db),
        ...createActivityLoaders(ctx.db),
      })),
    };
  };
}
