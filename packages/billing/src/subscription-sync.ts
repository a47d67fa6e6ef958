import {
  type BillingInterval,
  emitEvent,
  newId,
  type Plan,
  type Subscription,
  type SubscriptionStatus,
  type TenantTransaction,
} from "@app/db";
import type { Stripe } from "./stripe.ts";

const STATUS: Record<Stripe.Subscription.Status, SubscriptionStatus> = {
  active: "ACTIVE",
  trialing: "TRIALING",
  past_due: "PAST_DUE",
  // Stripe's retries are exhausted; the grace period (counted from the first failure) still decides.
  unpaid: "PAST_DUE",
  canceled: "CANCELED",
  incomplete_expired: "CANCELED",
  incomplete: "INCOMPLETE",
  paused: "INCOMPLETE",
};

/** The plan and interval a Stripe price id stands for, from the plan catalogue. */
export function planForPrice(
  plans: readonly Plan[],
  priceId: string,
): { plan: Plan; interval: BillingInterval } {
  for (const plan of plans) {
    if (plan.stripeMonthlyPriceId === priceId) return { plan, interval: "MONTH" };
    if (plan.stripeYearlyPriceId === priceId) return { plan, interval: "YEAR" };
  }
  throw new Error(`Stripe price ${priceId} belongs to no plan in the catalogue`);
}

/** The Stripe price of a plan and interval, or null when the plan is not sold through Stripe. */
export const priceOf = (plan: Plan, interval: BillingInterval) =>
  interval === "YEAR" ? plan.stripeYearlyPriceId : plan.stripeMonthlyPriceId;

const seconds = (value: number | null | undefined) => (value ? new Date(value * 1000) : null);

/**
 * Makes the tenant's row for a Stripe subscription match Stripe's current state (callers pass what
 * Stripe returned just now, never an event's old snapshot, so events applied in any order leave the
 * newest state). A payment failure starts the grace period once; paying ends it. A subscription that
 * becomes current ends any other current one (a local-mode row, an older subscription). Announces
 * `subscription.changed` in the same transaction. Call inside the tenant's transaction.
 */
export async function applyStripeSubscription(
  tx: TenantTransaction,
  tenantId: string,
  stripeSubscription: Stripe.Subscription,
  plans: readonly Plan[],
  gracePeriodMs: number,
  now = new Date(),
): Promise<Subscription> {
  const item = stripeSubscription.items.data[0];
  if (!item) throw new Error(`Stripe subscription ${stripeSubscription.id} has no items`);
  const { plan, interval } = planForPrice(plans, item.price.id);
  const status = STATUS[stripeSubscription.status] ?? "INCOMPLETE";
  const existing = await tx.subscription.findFirst({
    where: { stripeSubscriptionId: stripeSubscription.id },
  });
  const pastDueSince = status === "PAST_DUE" ? (existing?.pastDueSince ?? now) : null;
  const data = {
    planCode: plan.code,
    status,
    interval,
    currentPeriodStart: seconds(item.current_period_start) ?? now,
    currentPeriodEnd: seconds(item.current_period_end),
    cancelAtPeriodEnd: stripeSubscription.cancel_at_period_end,
    canceledAt: seconds(stripeSubscription.canceled_at),
    pastDueSince,
    graceEndsAt: pastDueSince ? new Date(pastDueSince.getTime() + gracePeriodMs) : null,
  };
  const row = existing
    ? await tx.subscription.update({ where: { tenantId_id: { tenantId, id: existing.id } }, data })
    : await tx.subscription.create({
        data: { tenantId, id: newId(), stripeSubscriptionId: stripeSubscription.id, ...data },
      });
  if (status !== "CANCELED" && status !== "INCOMPLETE") {
    await tx.subscription.updateMany({
      where: { id: { not: row.id }, status: { not: "CANCELED" } },
      data: { status: "CANCELED", canceledAt: now },
    });
  }
  const changed =
    !existing ||
    (Object.keys(data) as Array<keyof typeof data>).some(
      (key) => String(existing[key] ?? "") !== String(data[key] ?? ""),
    );
  if (changed) await announceSubscription(tx, tenantId, row);
  return row;
}

/** `subscription.changed` through the outbox: realtime clients and jobs hear of the new plan. */
export function announceSubscription(tx: TenantTransaction, tenantId: string, row: Subscription) {
  return emitEvent(tx, tenantId, {
    topic: "subscription.changed",
    payload: {
      subscriptionId: row.id,
      planCode: row.planCode,
      status: row.status,
      cancelAtPeriodEnd: row.cancelAtPeriodEnd,
      graceEndsAt: row.graceEndsAt?.toISOString() ?? null,
    },
  });
}
