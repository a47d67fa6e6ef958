import { badUserInput, notFound, type Principal, requirePrincipal, requireRole } from "@app/common";
import { toConnection } from "@app/common/pagination";
import { parseInput, text } from "@app/common/validation";
import { type ActivityVerb, isUuid, newId, type Task } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { asJson, snapshot, type TaskChangedPayload, type TaskChangeKind, TOPICS } from "../../events.ts";
import { recordActivity } from "../activity/activity.service.ts";
import { requireWritableProject } from "../projects/projects.service.ts";
import {
  archivedError,
  checkVersion,
  deletedError,
  diffOf,
  retryOnUniqueViolation,
  type Tx,
  updateVersioned,
} from "../shared/writes.ts";
import { slotFor } from "./tasks.board.ts";
import {
  parseTaskListArgs,
  TASK_PRIORITIES,
  TASK_STATUSES,
  type TaskListInput,
  taskCursor,
} from "./tasks.query.ts";

/**
 * The user a row names, with the e-mail and name this subgraph provides for identity's `User`; null
 * once they are no longer a member of the tenant (as identity answers). One query per request.
 */
export const memberOf = (ctx: Context, id: string | null) => (id ? ctx.loaders.memberById.load(id) : null);

const description = text(0, 20_000);
const labels = z
  .array(text(1, 50))
  .max(20, "must have at most 20 labels")
  .transform((list) => [...new Set(list)]);
const dueDate = z.iso
  .datetime({ offset: true, message: "must be an ISO-8601 date-time" })
  .transform((value) => new Date(value));
const version = z.number().int();

const createTaskInput = z.object({
  projectId: z.string(),
  title: text(1, 500),
  description: description.nullish(),
  status: z.enum(TASK_STATUSES).nullish(),
  priority: z.enum(TASK_PRIORITIES).nullish(),
  assigneeId: z.uuid("must be a user id").nullish(),
  dueDate: dueDate.nullish(),
  labels: labels.nullish(),
});

const updateTaskInput = z.object({
  id: z.string(),
  version,
  title: text(1, 500).nullish(),
  description: description.nullish(),
  status: z.enum(TASK_STATUSES).nullish(),
  priority: z.enum(TASK_PRIORITIES).nullish(),
  // null clears these two; absent (undefined) leaves them as they are.
  assigneeId: z.uuid("must be a user id").nullish(),
  dueDate: dueDate.nullish(),
  labels: labels.nullish(),
});

const moveTaskInput = z.object({
  id: z.string(),
  version,
  status: z.enum(TASK_STATUSES).nullish(),
  afterId: z.uuid("must be a task id").nullish(),
  beforeId: z.uuid("must be a task id").nullish(),
});

const stateInput = z.object({ id: z.string(), version });

/** The fields an update diff reports. */
const TASK_FIELDS = [
  "title",
  "description",
  "status",
  "priority",
  "assigneeId",
  "dueDate",
  "labels",
] as const satisfies ReadonlyArray<keyof Task>;

/**
 * Memberships belong to identity; reading them here keeps a task's assignee inside the tenant. Users
 * who assign themselves are not read: the gateway vouched for their membership, as for every write
 * they make (removal from the organization ends their sessions). An API key's user id is the key's own,
 * never a member's, so it is read and refused.
 */
async function requireMember(tx: Tx, principal: Principal, userId: string, field: string) {
  if (principal.credential === "user" && userId === principal.userId) return;
  const member = await tx.membership.findUnique({
    where: { tenantId_userId: { tenantId: principal.tenantId, userId } },
  });
  if (!member) throw badUserInput(field, "is not a member of this organization");
}

/**
 * A task change's timeline entry and its announcements, `task.changed` then `activity.recorded`, in
 * the change's transaction.
 */
function recordTaskChange(
  tx: Tx,
  tenantId: string,
  actorId: string,
  change: { kind: TaskChangeKind; verb: ActivityVerb; task: Task; diff: object },
) {
  const { kind, verb, task, diff } = change;
  const changed: TaskChangedPayload = { kind, projectId: task.projectId, task: snapshot(task), actorId };
  return recordActivity(
    tx,
    tenantId,
    {
      projectId: task.projectId,
      taskId: task.id,
      actorId,
      verb,
      targetType: "TASK",
      targetId: task.id,
      diff: asJson(diff),
    },
    [{ topic: TOPICS.taskChanged, payload: asJson(changed) }],
  );
}

export async function createTask(ctx: Context, input: unknown) {
  const principal = requireRole(ctx.principal, "MEMBER");
  const { tenantId, userId } = principal;
  const data = parseInput(createTaskInput, input);
  // The checks run in the write's transaction: no transaction of their own.
  const task = await retryOnUniqueViolation(() =>
    ctx.db.$transaction(async (tx) => {
      await requireWritableProject(ctx, data.projectId, tx);
      if (data.assigneeId) await requireMember(tx, principal, data.assigneeId, "input.assigneeId");
      const status = data.status ?? "TODO";
      const created = await tx.task.create({
        data: {
          tenantId,
          id: newId(),
          projectId: data.projectId,
          title: data.title,
          description: data.description ?? "",
          status,
          priority: data.priority ?? "MEDIUM",
          assigneeId: data.assigneeId ?? null,
          reporterId: userId,
          dueDate: data.dueDate ?? null,
          labels: data.labels ?? [],
          position: await slotFor(tx, { projectId: data.projectId, status }),
        },
      });
      await recordTaskChange(tx, tenantId, userId, {
        kind: "CREATED",
        verb: "TASK_CREATED",
        task: created,
        diff: { title: { to: created.title }, status: { to: created.status } },
      });
      return created;
    }),
  );
  return { task };
}

/**
 * The task of a write, read in the write's transaction: at the version the client read, live, in a
 * live project that is not archived.
 */
async function writableTask(
  tx: Tx,
  id: string,
  version: number,
  options: { allowDeleted?: boolean } = {},
): Promise<Task> {
  const task = checkVersion("Task", id, await tx.task.findFirst({ where: { id } }), version);
  if (task.deletedAt && !options.allowDeleted) throw deletedError("Task", id);
  const project = await tx.project.findFirst({
    where: { id: task.projectId },
    select: { key: true, status: true, deletedAt: true },
  });
  if (!project || project.deletedAt) throw deletedError("Project", task.projectId);
  if (project.status === "ARCHIVED") throw archivedError(project.key);
  return task;
}

const taskId = (id: string) => {
  if (!isUuid(id)) throw notFound("Task", id);
  return id;
};

export async function updateTask(ctx: Context, input: unknown) {
  const principal = requireRole(ctx.principal, "MEMBER");
  const { tenantId, userId } = principal;
  const data = parseInput(updateTaskInput, input);
  const id = taskId(data.id);
  const task = await retryOnUniqueViolation(() =>
    ctx.db.$transaction(async (tx) => {
      if (data.assigneeId) await requireMember(tx, principal, data.assigneeId, "input.assigneeId");
      const before = await writableTask(tx, id, data.version);
      const changes: Partial<Task> = {};
      if (data.title != null) changes.title = data.title;
      if (data.description != null) changes.description = data.description;
      if (data.priority != null) changes.priority = data.priority;
      if (data.labels != null) changes.labels = data.labels;
      if (data.assigneeId !== undefined) changes.assigneeId = data.assigneeId;
      if (data.dueDate !== undefined) changes.dueDate = data.dueDate;
      if (data.status != null && data.status !== before.status) {
        changes.status = data.status;
        changes.position = await slotFor(tx, {
          projectId: before.projectId,
          status: data.status,
          selfId: id,
        });
      }
      if (Object.keys(diffOf(before, { ...before, ...changes }, TASK_FIELDS)).length === 0) return before;
      const after = await updateVersioned(tx.task, "Task", id, data.version, changes);
      await recordTaskChange(tx, tenantId, userId, {
        kind: "UPDATED",
        verb: "TASK_UPDATED",
        task: after,
        diff: diffOf(before, after, TASK_FIELDS),
      });
      return after;
    }),
  );
  return { task };
}

export async function moveTask(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireRole(ctx.principal, "MEMBER");
  const data = parseInput(moveTaskInput, input);
  const id = taskId(data.id);
  const task = await retryOnUniqueViolation(() =>
    ctx.db.$transaction(async (tx) => {
      const before = await writableTask(tx, id, data.version);
      const status = data.status ?? before.status;
      const position = await slotFor(tx, {
        projectId: before.projectId,
        status,
        selfId: id,
        afterId: data.afterId,
        beforeId: data.beforeId,
      });
      const after = await updateVersioned(tx.task, "Task", id, data.version, { status, position });
      await recordTaskChange(tx, tenantId, userId, {
        kind: "MOVED",
        verb: "TASK_MOVED",
        task: after,
        diff: diffOf(before, after, ["status", "position"]),
      });
      return after;
    }),
  );
  return { task };
}

/** Delete (to the trash) or restore; a task already there is returned as is. */
export async function setTaskDeleted(ctx: Context, deleted: boolean, input: unknown) {
  const { tenantId, userId } = requireRole(ctx.principal, "MEMBER");
  const data = parseInput(stateInput, input);
  const id = taskId(data.id);
  const task = await ctx.db.$transaction(async (tx) => {
    const before = await writableTask(tx, id, data.version, { allowDeleted: true });
    if (!!before.deletedAt === deleted) return before;
    const after = await updateVersioned(tx.task, "Task", id, data.version, {
      deletedAt: deleted ? new Date() : null,
    });
    // A restore is an UPDATED for subscribers: the card is back, with its old place.
    await recordTaskChange(tx, tenantId, userId, {
      kind: deleted ? "DELETED" : "UPDATED",
      verb: deleted ? "TASK_DELETED" : "TASK_RESTORED",
      task: after,
      diff: diffOf(before, after, ["deletedAt"]),
    });
    return after;
  });
  return { task };
}

export function getTask(ctx: Context, id: string) {
  requirePrincipal(ctx);
  return isUuid(id) ? ctx.loaders.taskById.load(id) : null;
}

/** The task (deleted ones too), or NOT_FOUND. */
export async function requireTask(ctx: Context, id: string) {
  const task = await getTask(ctx, id);
  if (!task) throw notFound("Task", id);
  return task;
}

/** A project's tasks (`tasks(projectId)`, `Project.tasks`): one query for every project of the request. */
export async function listProjectTasks(ctx: Context, projectId: string, input: TaskListInput) {
  requirePrincipal(ctx);
  const args = parseTaskListArgs(input);
  const rows = isUuid(projectId)
    ? await ctx.loaders.projectTaskPages.load({ parentId: projectId, args })
    : [];
  return toConnection(rows, args.take - 1, taskCursor(args));
}

/** Tasks assigned to a user, in the caller's tenant (`User.assignedTasks`, `myTasks`). */
export async function listAssignedTasks(ctx: Context, userId: string, input: TaskListInput) {
  requirePrincipal(ctx);
  const args = parseTaskListArgs(input);
  const rows = isUuid(userId) ? await ctx.loaders.assigneeTaskPages.load({ parentId: userId, args }) : [];
  return toConnection(rows, args.take - 1, taskCursor(args));
}

export function listMyTasks(ctx: Context, input: TaskListInput) {
  return listAssignedTasks(ctx, requirePrincipal(ctx).userId, input);
}

/** Live tasks per status; every status, zeros included (an unknown project counts zero everywhere). */
export function projectTaskCounts(ctx: Context, projectId: string) {
  requirePrincipal(ctx);
  return ctx.loaders.taskCountsByProject.load(projectId);
}
