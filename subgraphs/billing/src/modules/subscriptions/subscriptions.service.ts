import { forbidden, requirePrincipal } from "@app/common";
import type { Plan, SubscriptionStatus } from "@app/db";
import type { Context } from "../../context.ts";
import { FREE_PLAN_CODE } from "../plans/plans.service.ts";

export interface SubscriptionView {
  plan: Plan;
  status: SubscriptionStatus;
  currentPeriodStart: Date;
  currentPeriodEnd: Date | null;
}

/**
 * The organization's current subscription. An organization that never subscribed is on the free plan
 * since it was created: that needs no row, so sign-up does not have to write into billing's tables.
 */
export async function organizationSubscription(
  ctx: Context,
  organizationId: string,
): Promise<SubscriptionView> {
  if (requirePrincipal(ctx).tenantId !== organizationId) throw forbidden("That is not your organization.");
  const current = await ctx.db.subscription.findFirst({
    where: { status: { not: "CANCELED" } },
    orderBy: { createdAt: "desc" },
    include: { plan: true },
  });
  if (current) return current;
  const [plan, organization] = await Promise.all([
    ctx.plans.findUniqueOrThrow({ where: { code: FREE_PLAN_CODE } }),
    ctx.db.organization.findUniqueOrThrow({ where: { id: organizationId }, select: { createdAt: true } }),
  ]);
  return { plan, status: "ACTIVE", currentPeriodStart: organization.createdAt, currentPeriodEnd: null };
}
