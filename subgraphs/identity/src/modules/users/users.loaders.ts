import { isUuid, type PrismaClient, type TenantClient } from "@app/db";
import DataLoader from "dataloader";
import type { MemberUser } from "./users.service.ts";

/**
 * Per request. Members first (tenant-scoped), then the users among them: two queries per batch,
 * because on Citus the global users table cannot be joined with the tenant-distributed memberships.
 * `users` is the one global delegate identity needs; reading users by id without the membership
 * filter is exactly what this loader must never do.
 */
export function createUserLoaders(db: TenantClient, users: PrismaClient["user"]) {
  return {
    memberById: new DataLoader<string, MemberUser | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      if (valid.length === 0) return ids.map(() => null);
      const memberships = await db.membership.findMany({ where: { userId: { in: valid } } });
      const roles = new Map(memberships.map((m) => [m.userId, m.role]));
      const rows = roles.size
        ? await users.findMany({
            where: { id: { in: [...roles.keys()] } },
            select: { id: true, email: true, name: true },
          })
        : [];
      const byId = new Map(rows.map((u) => [u.id, { ...u, role: roles.get(u.id)! }]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
export type UserLoaders = ReturnType<typeof createUserLoaders>;
