import { requirePrincipal } from "@app/common";
import { type PageArgs, pageWindow, toConnection } from "@app/common/pagination";
import {
  type Activity,
  type ActivityTargetType,
  type ActivityVerb,
  emitEvents,
  newId,
  type OutboxEventInput,
  type Prisma,
} from "@app/db";
import type { Context } from "../../context.ts";
import { type ActivityRecordedPayload, asJson, snapshot, TOPICS } from "../../events.ts";
import type { Tx } from "../shared/writes.ts";

export interface ActivityEntry {
  projectId: string;
  taskId?: string | null;
  actorId: string;
  verb: ActivityVerb;
  targetType: ActivityTargetType;
  targetId: string;
  diff?: Prisma.InputJsonObject;
}

/**
 * Writes one timeline entry and announces it (`activity.recorded`), inside the caller's transaction:
 * the entry exists exactly when the change it records does. `announced`, the change's own events, go
 * out just before it, written with it (two outbox statements for all instead of two each).
 */
export async function recordActivity(
  tx: Tx,
  tenantId: string,
  entry: ActivityEntry,
  announced: readonly OutboxEventInput[] = [],
): Promise<Activity> {
  const activity = await tx.activity.create({
    data: { ...entry, taskId: entry.taskId ?? null, diff: entry.diff ?? {}, tenantId, id: newId() },
  });
  const payload: ActivityRecordedPayload = { projectId: entry.projectId, activity: snapshot(activity) };
  await emitEvents(tx, tenantId, [
    ...announced,
    { topic: TOPICS.activityRecorded, payload: asJson(payload) },
  ]);
  return activity;
}

/** `Project.activity`: newest first, through the per-request loader (one query for many projects). */
export async function projectActivity(ctx: Context, projectId: string, args: PageArgs) {
  requirePrincipal(ctx);
  const { take, afterId } = pageWindow(args);
  const rows = await ctx.loaders.activityPages.load({
    parentId: projectId,
    args: { take: take + 1, afterId: afterId ?? null },
  });
  return toConnection(rows, take);
}

/** What an entry is about, by its target type (deleted targets included: the timeline keeps them). */
export function activityTarget(ctx: Context, activity: Activity) {
  switch (activity.targetType) {
    case "PROJECT":
      return ctx.loaders.projectById.load(activity.targetId);
    case "TASK":
      return ctx.loaders.taskById.load(activity.targetId);
    case "COMMENT":
      return ctx.loaders.commentById.load(activity.targetId);
  }
}
