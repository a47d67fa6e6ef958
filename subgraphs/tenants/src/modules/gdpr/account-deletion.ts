import { appError, ErrorCode } from "@app/common";
import type { PrismaClient } from "@app/db";
import { appendAuditEntries } from "@app/db/audit";
import { deletionOrder, FOREIGN_KEYS_SQL, quoteIdent, TABLES_WITH_COLUMN_SQL } from "@app/db/data-map";

/**
 * deleteMyAccount crosses tenants on purpose: a user's memberships are in every organization they belong
 * to, and their account rows are global. A named place allowed the cross-tenant client
 * (test/raw-client-guard.test.ts).
 *
 * What happens to organizations:
 * - where the user is the only OWNER and others are members: refused (CONFLICT, with the organization
 *   ids), the user must first make someone else OWNER; nothing is deleted;
 * - where the user is the only member: scheduled for deletion with the account (the same grace
 *   period as deleteOrganization), as nobody else could ever reach it again;
 * - everywhere else: the membership goes; the organization's data (projects, comments the user wrote)
 *   stays with the organization, showing the name copied into it.
 * Every row with the user's `user_id` (memberships, e-mail lookup, sessions, credentials...) and the user
 * row itself are deleted in one transaction, found in the catalogue like the tenant purge finds tables.
 */
export function createAccountDeletion(db: PrismaClient) {
  return {
    async deleteAccount(userId: string, graceSeconds: number, requestId: string) {
      return db.$transaction(async (tx) => {
        const memberships = await tx.membership.findMany({ where: { userId } });
        const tenantIds = memberships.map((m) => m.tenantId);
        const others = tenantIds.length
          ? await tx.membership.groupBy({
              by: ["tenantId", "role"],
              where: { tenantId: { in: tenantIds }, userId: { not: userId } },
              _count: { _all: true },
            })
          : [];
        const otherMembers = (tenantId: string) =>
          others.filter((o) => o.tenantId === tenantId).reduce((n, o) => n + o._count._all, 0);
        const otherOwners = (tenantId: string) =>
          others.find((o) => o.tenantId === tenantId && o.role === "OWNER")?._count._all ?? 0;
        const blocking = memberships
          .filter((m) => m.role === "OWNER" && otherOwners(m.tenantId) === 0 && otherMembers(m.tenantId) > 0)
          .map((m) => m.tenantId);
        if (blocking.length) {
          throw appError(
            ErrorCode.CONFLICT,
            "You are the only OWNER of organizations that have other members: make someone else OWNER first.",
            { organizationIds: blocking },
          );
        }
        const alone = memberships.filter((m) => otherMembers(m.tenantId) === 0).map((m) => m.tenantId);
        if (alone.length) {
          await tx.organization.updateMany({
            where: { id: { in: alone }, deletionScheduledAt: null },
            data: { deletionScheduledAt: new Date(Date.now() + graceSeconds * 1000) },
          });
        }
        // Each organization's log says the member left by deleting their account.
        await appendAuditEntries(
          tx,
          tenantIds.map((tenantId) => ({
            tenantId,
            actor: { type: "USER" as const, id: userId },
            action: "deleteMyAccount",
            targetType: "User",
            targetId: userId,
            requestId,
          })),
        );
        const tables = (
          await tx.$queryRawUnsafe<Array<{ table: string }>>(TABLES_WITH_COLUMN_SQL, "user_id")
        ).map((r) => r.table);
        const keys = await tx.$queryRawUnsafe<Array<{ child: string; parent: string }>>(FOREIGN_KEYS_SQL);
        for (const table of deletionOrder([...tables, "users"], keys)) {
          const column = table === "users" ? "id" : "user_id";
          await tx.$executeRawUnsafe(
            `DELETE FROM ${quoteIdent(table)} WHERE ${quoteIdent(column)} = $1::uuid`,
            userId,
          );
        }
        return { deletedUserId: userId, scheduledOrganizationIds: alone };
      });
    },
  };
}
export type AccountDeletion = ReturnType<typeof createAccountDeletion>;
