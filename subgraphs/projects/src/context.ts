import type { PlanLimitsSource } from "@app/billing";
import {
  deferred,
  type InternalContext,
  type Logger,
  rebuildable,
  requirePrincipal,
  type TenantContext,
  tenantContext,
} from "@app/common";
import { createMemberLoader } from "@app/common/members";
import { type PrismaClient, type TenantClient, tenantClient } from "@app/db";
import { createActivityLoaders } from "./modules/activity/activity.loaders.ts";
import { createCommentLoaders } from "./modules/comments/comments.loaders.ts";
import { createProjectLoaders } from "./modules/projects/projects.loaders.ts";
import { createTaskLoaders } from "./modules/tasks/tasks.loaders.ts";

const createLoaders = (db: TenantClient) => ({
  ...createProjectLoaders(db),
  ...createTaskLoaders(db),
  ...createCommentLoaders(db),
  ...createActivityLoaders(db),
  /** The users rows name (assignee, reporter, author, actor), as the tenant sees them. */
  memberById: createMemberLoader(db),
});

export interface Context extends TenantContext {
  readonly loaders: ReturnType<typeof createLoaders>;
  /**
   * Each event of a subscription calls it before its fields resolve: the loaders start empty (the
   * subscription's context, and so its loaders, lives as long as the subscription, and an event must
   * show rows as they are now) and read through the realtime pool, which requests never wait on.
   */
  freshLoaders(): void;
  /** The organization's plan limits (cached; billing invalidates them on a subscription change). */
  readonly planLimits: PlanLimitsSource;
}

export function contextFactory(
  clients: { prisma: PrismaClient; realtime: PrismaClient },
  logger: Logger,
  planLimits: PlanLimitsSource,
) {
  return (internal: InternalContext): Context => {
    const ctx = tenantContext(internal, logger, clients.prisma);
    // Reads only: no audit scope.
    const realtimeDb = deferred(() => tenantClient(clients.realtime, requirePrincipal(ctx).tenantId));
    let db: TenantClient = ctx.db;
    const loaders = rebuildable(() => createLoaders(db));
    return {
      ...ctx,
      planLimits,
      loaders: loaders.value,
      freshLoaders() {
        db = realtimeDb;
        loaders.rebuild();
      },
    };
  };
}
