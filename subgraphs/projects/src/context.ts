import type { PlanLimitsSource } from "@app/billing";
import {
  type InternalContext,
  type Logger,
  rebuildable,
  type TenantContext,
  tenantContext,
} from "@app/common";
import { createMemberLoader } from "@app/common/members";
import type { PrismaClient, TenantClient } from "@app/db";
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
   * Empties the loaders: each event of a subscription calls it, since the subscription's context (and
   * so its loaders) lives as long as the subscription, and an event must show rows as they are now.
   */
  freshLoaders(): void;
  /** The organization's plan limits (cached; billing invalidates them on a subscription change). */
  readonly planLimits: PlanLimitsSource;
}

export function contextFactory(prisma: PrismaClient, logger: Logger, planLimits: PlanLimitsSource) {
  return (internal: InternalContext): Context => {
    const ctx = tenantContext(internal, logger, prisma);
    const loaders = rebuildable(() => createLoaders(ctx.db));
    return { ...ctx, planLimits, loaders: loaders.value, freshLoaders: loaders.rebuild };
  };
}
