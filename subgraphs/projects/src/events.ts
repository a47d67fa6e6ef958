/**
 * The events the projects subgraph announces through the outbox (emitEvent, in the transaction of the
 * change), and the snapshots they carry. Subscriptions turn a snapshot back into the row the resolvers
 * take (`taskFromSnapshot`...), so delivering an event needs no database read.
 *
 * A snapshot is every scalar column of the row, dates as ISO-8601 strings (what JSON.stringify makes of
 * them); nothing else is transformed.
 */
import type { Activity, Comment, Prisma, Task } from "@app/db";
import { z } from "zod";

export const TOPICS = {
  taskChanged: "task.changed",
  commentAdded: "comment.added",
  activityRecorded: "activity.recorded",
} as const;

export type TaskChangeKind = "CREATED" | "UPDATED" | "MOVED" | "DELETED";

/** A row as JSON: Date columns become ISO strings. */
export type Snapshot<T> = {
  [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K];
};

/** `task.changed`: every create, update, move, delete and restore (a restore is an UPDATED). */
export interface TaskChangedPayload {
  kind: TaskChangeKind;
  projectId: string;
  task: Snapshot<Task>;
  actorId: string;
}

/** `comment.added`. */
export interface CommentAddedPayload {
  taskId: string;
  projectId: string;
  comment: Snapshot<Comment>;
  actorId: string;
}

/** `activity.recorded`: every timeline entry. */
export interface ActivityRecordedPayload {
  projectId: string;
  activity: Snapshot<Activity>;
}

export function snapshot<T extends object>(row: T): Snapshot<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row))
    out[key] = value instanceof Date ? value.toISOString() : value;
  return out as Snapshot<T>;
}

/** Makes an outbox payload of a typed one (the outbox takes JSON objects). */
export const asJson = (payload: object) => payload as Prisma.InputJsonObject;

const date = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
const id = z.uuid();

const taskRow = z.object({
  tenantId: id,
  id,
  projectId: id,
  title: z.string(),
  description: z.string(),
  status: z.enum(["TODO", "IN_PROGRESS", "IN_REVIEW", "DONE", "CANCELED"]),
  priority: z.enum(["LOW", "MEDIUM", "HIGH", "URGENT"]),
  assigneeId: id.nullable(),
  reporterId: id.nullable(),
  dueDate: date.nullable(),
  labels: z.array(z.string()),
  position: z.string(),
  version: z.number().int(),
  createdAt: date,
  updatedAt: date,
  deletedAt: date.nullable(),
});

const commentRow = z.object({
  tenantId: id,
  id,
  taskId: id,
  authorId: id,
  body: z.string(),
  createdAt: date,
  updatedAt: date,
  editedAt: date.nullable(),
  deletedAt: date.nullable(),
});

const activityRow = z.object({
  tenantId: id,
  id,
  projectId: id,
  taskId: id.nullable(),
  actorId: id,
  verb: z.enum([
    "PROJECT_CREATED",
    "PROJECT_UPDATED",
    "PROJECT_ARCHIVED",
    "PROJECT_UNARCHIVED",
    "PROJECT_DELETED",
    "PROJECT_RESTORED",
    "TASK_CREATED",
    "TASK_UPDATED",
    "TASK_MOVED",
    "TASK_DELETED",
    "TASK_RESTORED",
    "COMMENT_ADDED",
    "COMMENT_EDITED",
    "COMMENT_DELETED",
  ]),
  targetType: z.enum(["PROJECT", "TASK", "COMMENT"]),
  targetId: id,
  diff: z.json(),
  createdAt: date,
});

// The return types are the Prisma rows: a column added to a model and missing here fails to compile.

/** The Task row of a `task.changed` snapshot (throws on anything that is not one). */
export function taskFromSnapshot(json: unknown): Task {
  return taskRow.parse(json);
}

/** The Comment row of a `comment.added` snapshot. */
export function commentFromSnapshot(json: unknown): Comment {
  return commentRow.parse(json);
}

/** The Activity row of an `activity.recorded` snapshot. */
export function activityFromSnapshot(json: unknown): Activity {
  return activityRow.parse(json) as Activity;
}
