import type { EventBus } from "@app/common/events";
import { requireProject } from "../projects/projects.service.ts";
import { watchTenantEvents } from "./watch.ts";

/** Event payloads (written by the services with emitEvent; snapshots are rows with ISO dates). */
interface TaskChanged {
  kind: "CREATED" | "UPDATED" | "MOVED" | "DELETED";
  projectId: string;
  task: Record<string, unknown>;
}

/** A row snapshot back into the shape resolvers get from Prisma: `...At` and `dueDate` become Dates. */
export function reviveRow<T>(snapshot: Record<string, unknown>): T {
  const row: Record<string, unknown> = { ...snapshot };
  for (const [key, value] of Object.entries(row)) {
    if (typeof value === "string" && (key.endsWith("At") || key === "dueDate")) row[key] = new Date(value);
  }
  return row as T;
}

/**
 * Subscriptions of the projects subgraph. Each checks at subscribe time that the caller may see the
 * project (NOT_FOUND otherwise, as for a query), then streams the tenant's matching events; the event
 * carries the changed row, so no subscriber reads the database per event.
 */
export function createSubscriptionResolvers(bus: EventBus) {
  return {
    Subscription: {
      taskChanged: {
        async subscribe(
          _parent: unknown,
          args: { projectId: string },
          ctx: Parameters<typeof requireProject>[0],
        ) {
          await requireProject(ctx, args.projectId);
          return watchTenantEvents<TaskChanged>(
            ctx,
            bus,
            "task.changed",
            (p) => p.projectId === args.projectId,
          );
        },
        resolve: (event: TaskChanged) => ({ kind: event.kind, task: reviveRow(event.task) }),
      },
    },
  };
}
