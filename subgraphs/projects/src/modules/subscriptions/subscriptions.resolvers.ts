import type { EventBus } from "@app/common/events";
import type { Context } from "../../context.ts";
import {
  type ActivityRecordedPayload,
  activityFromSnapshot,
  type CommentAddedPayload,
  commentFromSnapshot,
  type TaskChangedPayload,
  TOPICS,
  taskFromSnapshot,
} from "../../events.ts";
import { requireProject } from "../projects/projects.service.ts";
import { requireTask } from "../tasks/tasks.service.ts";
import { watchTenantEvents } from "./watch.ts";

/** An event's value, its fields to be resolved with empty loaders (a subscription's context outlives events). */
function fresh<T>(ctx: Context, value: T): T {
  ctx.freshLoaders();
  return value;
}

/**
 * Subscriptions of the projects subgraph. Each checks at subscribe time that the caller may see what it
 * asks for (NOT_FOUND otherwise, as a query would say), then streams the tenant's matching events. The
 * event carries the changed row; what the subscriber selects beyond it (the assignee's e-mail, the
 * project) is read per event, with loaders emptied first (`fresh`), so it is current.
 */
export function createSubscriptionResolvers(bus: EventBus) {
  return {
    Subscription: {
      taskChanged: {
        async subscribe(_parent: unknown, args: { projectId: string }, ctx: Context) {
          await requireProject(ctx, args.projectId);
          return watchTenantEvents<TaskChangedPayload>(
            ctx,
            bus,
            TOPICS.taskChanged,
            (p) => p.projectId === args.projectId,
          );
        },
        resolve: (event: TaskChangedPayload, _args: unknown, ctx: Context) =>
          fresh(ctx, { kind: event.kind, task: taskFromSnapshot(event.task) }),
      },
      commentAdded: {
        async subscribe(_parent: unknown, args: { taskId: string }, ctx: Context) {
          await requireTask(ctx, args.taskId);
          return watchTenantEvents<CommentAddedPayload>(
            ctx,
            bus,
            TOPICS.commentAdded,
            (p) => p.taskId === args.taskId,
          );
        },
        resolve: (event: CommentAddedPayload, _args: unknown, ctx: Context) =>
          fresh(ctx, commentFromSnapshot(event.comment)),
      },
      projectActivity: {
        async subscribe(_parent: unknown, args: { projectId: string }, ctx: Context) {
          await requireProject(ctx, args.projectId);
          return watchTenantEvents<ActivityRecordedPayload>(
            ctx,
            bus,
            TOPICS.activityRecorded,
            (p) => p.projectId === args.projectId,
          );
        },
        resolve: (event: ActivityRecordedPayload, _args: unknown, ctx: Context) =>
          fresh(ctx, activityFromSnapshot(event.activity)),
      },
    },
  };
}
