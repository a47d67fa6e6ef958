import { requireRole } from "@app/common";
import { pageWindow, toConnection } from "@app/common/pagination";
import { parseInput } from "@app/common/validation";
import { z } from "zod";
import type { Context } from "../../context.ts";

const filterInput = z
  .object({
    action: z.string().max(100).nullish(),
    actorId: z.uuid({ message: "must be an id" }).nullish(),
    targetId: z.string().max(200).nullish(),
    since: z.iso.datetime({ offset: true }).nullish(),
    until: z.iso.datetime({ offset: true }).nullish(),
  })
  .nullish();

export interface AuditLogArgs {
  filter?: unknown;
  first?: number | null;
  after?: string | null;
}

/**
 * The caller's organization's audit log, newest first (ids are UUIDv7, so id order is time order), for
 * ADMIN and OWNER. Read through the tenant-scoped client: another organization's entries are out of
 * reach whatever the filter says.
 */
export async function auditLog(ctx: Context, args: AuditLogArgs) {
  requireRole(ctx.principal, "ADMIN");
  const { take, afterId } = pageWindow(args);
  const filter = parseInput(z.object({ filter: filterInput }), { filter: args.filter }).filter ?? {};
  const rows = await ctx.db.auditEntry.findMany({
    where: {
      ...(filter.action ? { action: filter.action } : {}),
      ...(filter.actorId ? { actorId: filter.actorId } : {}),
      ...(filter.targetId ? { targetId: filter.targetId } : {}),
      ...(filter.since || filter.until
        ? {
            createdAt: {
              ...(filter.since ? { gte: new Date(filter.since) } : {}),
              ...(filter.until ? { lt: new Date(filter.until) } : {}),
            },
          }
        : {}),
      ...(afterId ? { id: { lt: afterId } } : {}),
    },
    orderBy: { id: "desc" },
    take: take + 1,
  });
  return toConnection(rows, take);
}
