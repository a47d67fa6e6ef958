import { isUuid, type Project, type TenantClient } from "@app/db";
import DataLoader from "dataloader";

/** Per request; one query per batch of ids, scoped to the caller's tenant. */
export function createProjectLoaders(db: TenantClient) {
  return {
    projectById: new DataLoader<string, Project | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      const rows = valid.length ? await db.project.findMany({ where: { id: { in: valid } } }) : [];
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
export type ProjectLoaders = ReturnType<typeof createProjectLoaders>;
