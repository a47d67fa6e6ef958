import type { Role } from "@app/common";
import type { TenantClient } from "@app/db";

/**
 * The role a user holds in an active organization, or null: how the gateway checks that a user named by
 * the external issuer's token really is a member of the organization the token names.
 */
export async function memberRole(
  tenantDb: (tenantId: string) => TenantClient,
  tenantId: string,
  userId: string,
): Promise<Role | null> {
  const membership = await tenantDb(tenantId).membership.findUnique({
    where: { tenantId_userId: { tenantId, userId } },
    include: { organization: { select: { status: true } } },
  });
  return membership?.organization.status === "ACTIVE" ? membership.role : null;
}
