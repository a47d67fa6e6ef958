import { isUuid, type TenantClient } from "@app/db";
import DataLoader from "dataloader";
import type { MemberUser } from "./users.service.ts";

/**
 * Per request: the members among a batch of user ids, in ONE query on the tenant's memberships, which
 * carry a copy of each member's e-mail and name (Citus cannot join the global users table with tenant
 * tables). A user who is not a member of the caller's tenant is null.
 */
export function createUserLoaders(db: TenantClient) {
  return {
    memberById: new DataLoader<string, MemberUser | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      const rows = valid.length
        ? await db.membership.findMany({
            where: { userId: { in: valid } },
            select: { userId: true, email: true, name: true, role: true },
          })
        : [];
      const byId = new Map(
        rows.map((m) => [m.userId, { id: m.userId, email: m.email, name: m.name, role: m.role }]),
      );
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
export type UserLoaders = ReturnType<typeof createUserLoaders>;
