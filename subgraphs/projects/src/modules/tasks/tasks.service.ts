import { badUserInput, requirePrincipal, requireRole } from "@app/common";
import { type PageArgs, pageWindow, toConnection } from "@app/common/pagination";
import { parseInput, text } from "@app/common/validation";
import { emitEvent, isUuid, newId } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { requireProject } from "../projects/projects.service.ts";

const createTaskInput = z.object({
  projectId: z.string(),
  title: text(1, 500),
  assigneeId: z.uuid("must be a user id").nullish(),
});

export async function createTask(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireRole(ctx.principal, "MEMBER");
  const { projectId, title, assigneeId } = parseInput(createTaskInput, input);
  await requireProject(ctx, projectId);
  if (assigneeId) {
    // Memberships belong to identity; reading them here keeps a task's assignee inside the tenant.
    const member = await ctx.db.membership.findUnique({
      where: { tenantId_userId: { tenantId, userId: assigneeId } },
    });
    if (!member) throw badUserInput("input.assigneeId", "is not a member of this organization");
  }
  const task = await ctx.db.$transaction(async (tx) => {
    const created = await tx.task.create({
      data: { tenantId, id: newId(), projectId, title, assigneeId: assigneeId ?? null },
    });
    await emitEvent(tx, tenantId, {
      topic: "task.changed",
      payload: { kind: "CREATED", projectId, task: JSON.parse(JSON.stringify(created)), actorId: userId },
    });
    return created;
  });
  return { task };
}

export async function listTasks(ctx: Context, projectId: string, args: PageArgs) {
  requirePrincipal(ctx);
  const { take, afterId } = pageWindow(args);
  if (!isUuid(projectId)) return toConnection([], take);
  const rows = await ctx.db.task.findMany({
    where: { projectId, ...(afterId ? { id: { gt: afterId } } : {}) },
    orderBy: { id: "asc" },
    take: take + 1,
  });
  return toConnection(rows, take);
}

export function getTask(ctx: Context, id: string) {
  requirePrincipal(ctx);
  return isUuid(id) ? ctx.loaders.taskById.load(id) : null;
}
