import { isUuid, type Task, type TenantClient } from "@app/db";
import DataLoader from "dataloader";

/** Per request; one query per batch of ids, scoped to the caller's tenant. */
export function createTaskLoaders(db: TenantClient) {
  return {
    taskById: new DataLoader<string, Task | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      const rows = valid.length ? await db.task.findMany({ where: { id: { in: valid } } }) : [];
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
export type TaskLoaders = ReturnType<typeof createTaskLoaders>;
