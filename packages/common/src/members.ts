import { isUuid, type TenantClient } from "@app/db";
import DataLoader from "dataloader";
import type { Role } from "./roles.ts";

/** A user as one tenant sees them: only while they are a member, and with their role there. */
export interface MemberUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/**
 * The members among a batch of user ids, in ONE query on the tenant's memberships, which carry a copy
 * of each member's e-mail and name (Citus cannot join the global users table with tenant tables). A
 * user who is not a member of the caller's tenant is null.
 *
 * Identity resolves its `User` entities with it, and projects the `User` fields it provides beside its
 * rows (`Task.assignee`...): the same table and the same rule, so a user looks the same whichever
 * subgraph the query planner asks.
 */
export function createMemberLoader(db: TenantClient) {
  return new DataLoader<string, MemberUser | null>(async (ids) => {
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
  });
}
