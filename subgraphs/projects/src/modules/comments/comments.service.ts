import { forbidden, notFound, requirePrincipal, requireRole } from "@app/common";
import { type PageArgs, pageWindow, toConnection } from "@app/common/pagination";
import { parseInput, text } from "@app/common/validation";
import { type ActivityVerb, type Comment, emitEvent, isUuid, newId } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { asJson, type CommentAddedPayload, snapshot, TOPICS } from "../../events.ts";
import { recordActivity } from "../activity/activity.service.ts";
import { requireWritableProject } from "../projects/projects.service.ts";
import { deletedError, diffOf, type Tx } from "../shared/writes.ts";
import { requireTask } from "../tasks/tasks.service.ts";

const body = text(1, 20_000);
const addCommentInput = z.object({ taskId: z.string(), body });
const editCommentInput = z.object({ id: z.string(), body });
const deleteCommentInput = z.object({ id: z.string() });

/** The live task a comment belongs to, in a live, unarchived project. */
async function requireCommentableTask(ctx: Context, taskId: string) {
  const task = await requireTask(ctx, taskId);
  if (task.deletedAt) throw deletedError("Task", taskId);
  await requireWritableProject(ctx, task.projectId);
  return task;
}

function recordCommentActivity(
  tx: Tx,
  tenantId: string,
  actorId: string,
  verb: ActivityVerb,
  projectId: string,
  comment: Comment,
  diff: object,
) {
  return recordActivity(tx, tenantId, {
    projectId,
    taskId: comment.taskId,
    actorId,
    verb,
    targetType: "COMMENT",
    targetId: comment.id,
    diff: asJson(diff),
  });
}

export async function addComment(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireRole(ctx.principal, "MEMBER");
  const data = parseInput(addCommentInput, input);
  const task = await requireCommentableTask(ctx, data.taskId);
  const comment = await ctx.db.$transaction(async (tx) => {
    const created = await tx.comment.create({
      data: { tenantId, id: newId(), taskId: task.id, authorId: userId, body: data.body },
    });
    const payload: CommentAddedPayload = {
      taskId: task.id,
      projectId: task.projectId,
      comment: snapshot(created),
      actorId: userId,
    };
    await emitEvent(tx, tenantId, { topic: TOPICS.commentAdded, payload: asJson(payload) });
    await recordCommentActivity(tx, tenantId, userId, "COMMENT_ADDED", task.projectId, created, {});
    return created;
  });
  return { comment };
}

/** The caller's own live comment on a writable task, read in the write's transaction. */
async function ownComment(ctx: Context, tx: Tx, id: string, action: string) {
  const comment = isUuid(id) ? await tx.comment.findFirst({ where: { id } }) : null;
  if (!comment) throw notFound("Comment", id);
  if (comment.authorId !== requirePrincipal(ctx).userId) {
    throw forbidden(`Only the author of a comment may ${action} it.`);
  }
  const task = await requireCommentableTask(ctx, comment.taskId);
  return { comment, task };
}

export async function editComment(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireRole(ctx.principal, "MEMBER");
  const data = parseInput(editCommentInput, input);
  const comment = await ctx.db.$transaction(async (tx) => {
    const { comment: before, task } = await ownComment(ctx, tx, data.id, "edit");
    if (before.deletedAt) throw deletedError("Comment", data.id);
    if (before.body === data.body) return before;
    const [after] = await tx.comment.updateManyAndReturn({
      where: { id: before.id },
      data: { body: data.body, editedAt: new Date() },
    });
    await recordCommentActivity(tx, tenantId, userId, "COMMENT_EDITED", task.projectId, after!, {
      body: { changed: true },
    });
    return after!;
  });
  return { comment };
}

export async function deleteComment(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireRole(ctx.principal, "MEMBER");
  const data = parseInput(deleteCommentInput, input);
  const comment = await ctx.db.$transaction(async (tx) => {
    const { comment: before, task } = await ownComment(ctx, tx, data.id, "delete");
    if (before.deletedAt) return before;
    const [after] = await tx.comment.updateManyAndReturn({
      where: { id: before.id },
      data: { deletedAt: new Date() },
    });
    await recordCommentActivity(
      tx,
      tenantId,
      userId,
      "COMMENT_DELETED",
      task.projectId,
      after!,
      diffOf(before, after!, ["deletedAt"]),
    );
    return after!;
  });
  return { comment };
}

export function getComment(ctx: Context, id: string) {
  requirePrincipal(ctx);
  return isUuid(id) ? ctx.loaders.commentById.load(id) : null;
}

/** `Task.comments`: live comments, oldest first; one query for every task of the request. */
export async function listTaskComments(ctx: Context, taskId: string, args: PageArgs) {
  requirePrincipal(ctx);
  const { take, afterId } = pageWindow(args);
  const rows = await ctx.loaders.commentPages.load({
    parentId: taskId,
    args: { take: take + 1, afterId: afterId ?? null },
  });
  return toConnection(rows, take);
}
