import { badUserInput } from "@app/common";
import type { TaskStatus } from "@app/db";
import { generateKeyBetween } from "fractional-indexing";
import type { Tx } from "../shared/writes.ts";

export interface Slot {
  projectId: string;
  status: TaskStatus;
  /** The task being placed (left out of its neighbours). */
  selfId?: string;
  afterId?: string | null;
  beforeId?: string | null;
}

/**
 * The board position for a card: right after `afterId`, right before `beforeId`, or at the end of the
 * column. Keys are fractional indexes (npm `fractional-indexing`): a key strictly between two others
 * always exists, so a move writes one row and never renumbers the column.
 *
 * The key is taken between two cards that are adjacent in the column as stored, deleted cards included
 * (they keep their slot for a restore), so it collides with no stored key. Two moves into the same gap
 * at once can pick the same key: the unique index refuses the second, which is retried
 * (retryOnUniqueViolation) and then sees the first.
 */
export async function slotFor(tx: Tx, slot: Slot): Promise<string> {
  const { projectId, status, selfId } = slot;
  const neighbourIds = [slot.afterId, slot.beforeId].filter((id): id is string => !!id);
  const neighbours = neighbourIds.length
    ? await tx.task.findMany({
        where: { id: { in: neighbourIds } },
        select: { id: true, projectId: true, status: true, position: true, deletedAt: true },
      })
    : [];
  const neighbour = (field: "afterId" | "beforeId") => {
    const id = slot[field];
    if (!id) return null;
    if (id === selfId) throw badUserInput(`input.${field}`, "cannot be the task itself");
    const row = neighbours.find((n) => n.id === id);
    if (!row || row.deletedAt || row.projectId !== projectId || row.status !== status) {
      throw badUserInput(`input.${field}`, `is not a card of the ${status} column of this project`);
    }
    return row;
  };
  const after = neighbour("afterId");
  const before = neighbour("beforeId");
  const column = { projectId, status, ...(selfId ? { id: { not: selfId } } : {}) };

  if (after) {
    // Keys are base-62 ASCII, so string comparison is the column's byte order (COLLATE "C").
    if (before && before.position <= after.position) {
      throw badUserInput("input.beforeId", "must come after input.afterId in the column");
    }
    const next = await tx.task.findFirst({
      where: { ...column, position: { gt: after.position } },
      orderBy: { position: "asc" },
      select: { position: true },
    });
    return generateKeyBetween(after.position, next?.position ?? null);
  }
  if (before) {
    const previous = await tx.task.findFirst({
      where: { ...column, position: { lt: before.position } },
      orderBy: { position: "desc" },
      select: { position: true },
    });
    return generateKeyBetween(previous?.position ?? null, before.position);
  }
  const last = await tx.task.findFirst({
    where: column,
    orderBy: { position: "desc" },
    select: { position: true },
  });
  return generateKeyBetween(last?.position ?? null, null);
}
