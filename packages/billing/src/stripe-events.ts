import type { Logger } from "@app/common";
import { type PrismaClient, tenantClient } from "@app/db";
import type { Redis } from "ioredis";
import { z } from "zod";
import { dropPlanLimits } from "./limits-cache.ts";
import type { Stripe } from "./stripe.ts";
import { applyStripeSubscription } from "./subscription-sync.ts";

/** The events billing acts on; others are acknowledged and dropped. */
export const HANDLED_EVENTS = new Set([
  "checkout.session.completed",
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  "invoice.paid",
  "invoice.payment_failed",
]);

/** The outbox topic a stored webhook event is announced with; the relay routes it to the job. */
export const STRIPE_EVENT_TOPIC = "billing.stripe_event";

const idOf = (value: unknown): string | null =>
  typeof value === "string"
    ? value
    : value && typeof value === "object" && "id" in value
      ? String(value.id)
      : null;

/** The Stripe customer an event is about (every handled event's object names one). */
export function customerOf(event: Stripe.Event): string | null {
  return idOf((event.data.object as { customer?: unknown }).customer);
}

/** The subscription an event is about, whatever the object (session, subscription, invoice). */
export function subscriptionOf(event: { type: string; data: { object: unknown } }): string | null {
  const object = event.data.object as Record<string, unknown>;
  if (event.type.startsWith("customer.subscription.")) return idOf(object.id);
  if (event.type === "checkout.session.completed")
    return object.mode === "subscription" ? idOf(object.subscription) : null;
  if (event.type.startsWith("invoice.")) {
    const parent = object.parent as { subscription_details?: { subscription?: unknown } } | null | undefined;
    // Older API versions put it on the invoice itself.
    return idOf(parent?.subscription_details?.subscription) ?? idOf(object.subscription);
  }
  return null;
}

export const stripeEventJob = z.object({
  tenantId: z.uuid(),
  payload: z.object({ stripeEventId: z.string().min(1) }),
});

export interface StripeEventDeps {
  prisma: PrismaClient;
  stripe: Stripe | null;
  redis: Redis | null;
  gracePeriodMs: number;
  logger: Logger;
}

/**
 * The billing.stripe-event job: applies one stored webhook event, once. The subscription is read from
 * Stripe as it is now rather than taken from the event, so duplicates and events out of order all end
 * in Stripe's newest state; the event is marked processed in the same transaction as the change, so a
 * repeated job changes nothing.
 */
export async function processStripeEvent(
  deps: StripeEventDeps,
  data: unknown,
): Promise<"applied" | "skipped"> {
  const job = stripeEventJob.parse(data);
  const db = tenantClient(deps.prisma, job.tenantId);
  const stored = await db.billingEvent.findFirst({ where: { id: job.payload.stripeEventId } });
  if (!stored || stored.processedAt) return "skipped";
  const subscriptionId = subscriptionOf({
    type: stored.type,
    data: (stored.payload as { data: { object: unknown } }).data,
  });
  if (!deps.stripe) throw new Error("STRIPE_SECRET_KEY is not set: Stripe events cannot be processed");
  let current = subscriptionId ? await deps.stripe.subscriptions.retrieve(subscriptionId) : null;
  // Only the tenant's own customer's subscription may change its plan, whatever an event names.
  const customer = await db.billingCustomer.findFirst();
  if (current && idOf(current.customer) !== customer?.stripeCustomerId) {
    deps.logger.warn(
      { stripeEventId: stored.id, subscriptionId },
      "stripe event names another customer's subscription",
    );
    current = null;
  }
  const plans = current ? await deps.prisma.plan.findMany() : [];
  await db.$transaction(async (tx) => {
    // Marked first: a concurrent run of the same job waits on this row and then finds it processed.
    const marked = await tx.billingEvent.updateMany({
      where: { id: stored.id, processedAt: null },
      data: { processedAt: new Date() },
    });
    if (marked.count === 0 || !current) return;
    await applyStripeSubscription(tx, job.tenantId, current, plans, deps.gracePeriodMs);
  });
  await dropPlanLimits(deps.redis, job.tenantId, deps.logger);
  deps.logger.info({ stripeEventId: stored.id, type: stored.type, subscriptionId }, "stripe event applied");
  return "applied";
}
