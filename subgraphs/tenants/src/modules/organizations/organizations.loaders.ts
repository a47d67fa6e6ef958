import { isUuid, type Organization, type TenantClient } from "@app/db";
import DataLoader from "dataloader";

/** Per request. The tenant-scoped client only ever returns the caller's own organization. */
export function createOrganizationLoaders(db: TenantClient) {
  return {
    organizationById: new DataLoader<string, Organization | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      const rows = valid.length ? await db.organization.findMany({ where: { id: { in: valid } } }) : [];
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
export type OrganizationLoaders = ReturnType<typeof createOrganizationLoaders>;
