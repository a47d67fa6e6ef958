import { checkLimit, type PlanLimits } from "@app/billing";
import type { Prisma, TenantTransaction } from "@app/db";

/**
 * PLAN_LIMIT when members plus pending invitations now exceed the plan's seats (a pending invitation
 * holds a seat, so accepting it never fails on the limit). Called inside the transaction that created
 * the invitation, after its outbox event: the tenant's sequence row stays locked until commit, so two
 * invitations racing for the last seat are counted one after the other, and a refusal rolls back.
 */
export async function checkSeatLimit(
  tx: TenantTransaction,
  limits: PlanLimits,
  pending: Prisma.InvitationWhereInput,
): Promise<void> {
  if (limits.maxSeats === null) return;
  const [members, invitations] = await Promise.all([
    tx.membership.count(),
    tx.invitation.count({ where: pending }),
  ]);
  checkLimit("seats", limits, members + invitations - 1);
}
