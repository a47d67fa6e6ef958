import { deferred, type InternalContext, type Logger, type TenantContext, tenantContext } from "@app/common";
import type { PrismaClient } from "@app/db";
import { type ActivityLoaders, createActivityLoaders } from "./modules/activity/activity.loaders.ts";
import { type CommentLoaders, createCommentLoaders } from "./modules/comments/comments.loaders.ts";
import { createProjectLoaders, type ProjectLoaders } from "./modules/projects/projects.loaders.ts";
import { createTaskLoaders, type TaskLoaders } from "./modules/tasks/tasks.loaders.ts";

export interface Context extends TenantContext {
  readonly loaders: ProjectLoaders & TaskLoaders & CommentLoaders & ActivityLoaders;
}

export function contextFactory(prisma: PrismaClient, logger: Logger) {
  return (internal: InternalContext): Context => {
    const ctx = tenantContext(internal, logger, prisma);
    return {
      ...ctx,
      loaders: deferred(() => ({
        ...createProjectLoaders(ctx.db),
        ...createTaskLoaders(ctx.db),
        ...createCommentLoaders(ctx.db),
        ...createActivityLoaders(ctx.db),
      })),
    };
  };
}
