import { forbidden, notFound, requirePrincipal, requireRole } from "@app/common";
import { type PageArgs, pageWindow, toConnection } from "@app/common/pagination";
import { parseInput, text } from "@app/common/validation";
import { emitEvent, isUuid, newId } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";

const createProjectInput = z.object({
  name: text(1, 200),
});

export async function createProject(ctx: Context, input: unknown) {
  requireRole(ctx.principal, "MEMBER");
  const { name } = parseInput(createProjectInput, input);
  const { tenantId, userId } = requirePrincipal(ctx);
  const project = await ctx.db.$transaction(async (tx) => {
    const created = await tx.project.create({ data: { tenantId, id: newId(), name } });
    await emitEvent(tx, tenantId, {
      topic: "project.created",
      payload: { projectId: created.id, name: created.name, actorId: userId },
    });
    return created;
  });
  return { project };
}

export async function listProjects(ctx: Context, args: PageArgs) {
  requirePrincipal(ctx);
  const { take, afterId } = pageWindow(args);
  const rows = await ctx.db.project.findMany({
    where: afterId ? { id: { gt: afterId } } : {},
    orderBy: { id: "asc" },
    take: take + 1,
  });
  return toConnection(rows, take);
}

/** `Organization.projects`: only the caller's own organization has projects it may see. */
export function organizationProjects(ctx: Context, organizationId: string, args: PageArgs) {
  if (requirePrincipal(ctx).tenantId !== organizationId) throw forbidden("That is not your organization.");
  return listProjects(ctx, args);
}

export function getProject(ctx: Context, id: string) {
  requirePrincipal(ctx);
  return isUuid(id) ? ctx.loaders.projectById.load(id) : null;
}

/** The project, or NOT_FOUND (also for another tenant's project: existence is not revealed). */
export async function requireProject(ctx: Context, id: string) {
  const project = await getProject(ctx, id);
  if (!project) throw notFound("Project", id);
  return project;
}
