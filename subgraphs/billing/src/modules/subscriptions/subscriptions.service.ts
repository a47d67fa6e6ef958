import {
  announceSubscription,
  applyStripeSubscription,
  CURRENT_SUBSCRIPTION,
  dropPlanLimits,
  effectivePlan,
  FREE_PLAN_CODE,
  limitsOf,
  overridesOf,
  type PlanLimits,
  priceOf,
} from "@app/billing";
import type { Stripe } from "@app/billing/stripe";
import { appError, badUserInput, ErrorCode, forbidden, requirePrincipal, requireRole } from "@app/common";
import { parseInput } from "@app/common/validation";
import {
  type BillingInterval,
  isUniqueViolation,
  newId,
  type Plan,
  type Subscription,
  type SubscriptionStatus,
} from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";

export interface SubscriptionView {
  plan: Plan;
  status: SubscriptionStatus;
  interval: BillingInterval;
  currentPeriodStart: Date;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
  graceEndsAt: Date | null;
  limits: PlanLimits;
  localMode: boolean;
}

/** The current subscription row, or null for an organization on the free plan without one. */
const currentRow = (ctx: Context) => ctx.db.subscription.findFirst(CURRENT_SUBSCRIPTION);

async function view(ctx: Context, row: Subscription | null): Promise<SubscriptionView> {
  const localMode = ctx.billing.stripe === null;
  const { planCode, validUntil } = effectivePlan(row);
  const [plan, effective, organization] = await Promise.all([
    ctx.plans.findUniqueOrThrow({ where: { code: row?.planCode ?? FREE_PLAN_CODE } }),
    ctx.plans.findUniqueOrThrow({ where: { code: planCode } }),
    ctx.db.organization.findFirstOrThrow({ select: { createdAt: true, settings: true } }),
  ]);
  const limits = limitsOf(effective, validUntil, overridesOf(organization.settings));
  if (row) return { ...row, plan, limits, localMode };
  // Never subscribed: on the free plan since the organization was created; that needs no row.
  return {
    plan,
    status: "ACTIVE",
    interval: "MONTH",
    currentPeriodStart: organization.createdAt,
    currentPeriodEnd: null,
    cancelAtPeriodEnd: false,
    graceEndsAt: null,
    limits,
    localMode,
  };
}

/** The organization's current subscription (`Organization.subscription`). */
export async function organizationSubscription(
  ctx: Context,
  organizationId: string,
): Promise<SubscriptionView> {
  if (requirePrincipal(ctx).tenantId !== organizationId) throw forbidden("That is not your organization.");
  return view(ctx, await currentRow(ctx));
}

const planInput = z.object({
  planCode: z.string().trim().toUpperCase().min(1, "must not be empty").max(50),
  interval: z.enum(["MONTH", "YEAR"]).default("MONTH"),
});

/** A plan sold through Stripe (or, in local mode, any plan but FREE). */
async function paidPlan(ctx: Context, planCode: string, interval: BillingInterval): Promise<Plan> {
  const plan = await ctx.plans.findUnique({ where: { code: planCode } });
  if (!plan) throw badUserInput("input.planCode", `there is no plan ${planCode}`);
  if (plan.code === FREE_PLAN_CODE)
    throw badUserInput("input.planCode", "FREE needs no subscription: cancelSubscription returns to it");
  if (ctx.billing.stripe && !priceOf(plan, interval))
    throw badUserInput("input.interval", `${plan.code} is not sold per ${interval.toLowerCase()}`);
  return plan;
}

/**
 * Local mode (no Stripe): the plan applies at once, without payment, for a month or a year from now.
 * The new row becomes current and any other current one ends.
 */
async function applyLocally(ctx: Context, tenantId: string, plan: Plan, interval: BillingInterval) {
  const now = new Date();
  const end = new Date(now);
  if (interval === "YEAR") end.setUTCFullYear(end.getUTCFullYear() + 1);
  else end.setUTCMonth(end.getUTCMonth() + 1);
  const row = await ctx.db.$transaction(async (tx) => {
    await tx.subscription.updateMany({
      where: { status: { not: "CANCELED" } },
      data: { status: "CANCELED", canceledAt: now },
    });
    const created = await tx.subscription.create({
      data: {
        tenantId,
        id: newId(),
        planCode: plan.code,
        status: "ACTIVE",
        interval,
        currentPeriodStart: now,
        currentPeriodEnd: end,
      },
    });
    await announceSubscription(tx, tenantId, created);
    return created;
  });
  await dropPlanLimits(ctx.billing.redis, tenantId, ctx.logger);
  return row;
}

/** Stripe's answer applied to our rows right away (the webhook that follows then changes nothing). */
async function applyFromStripe(ctx: Context, tenantId: string, subscription: Stripe.Subscription) {
  const plans = await ctx.plans.findMany();
  const row = await ctx.db.$transaction((tx) =>
    applyStripeSubscription(tx, tenantId, subscription, plans, ctx.billing.gracePeriodMs),
  );
  await dropPlanLimits(ctx.billing.redis, tenantId, ctx.logger);
  return row;
}

/**
 * The organization's Stripe customer, created on first use. The idempotency key is the tenant's, so
 * two first checkouts at once get one customer; the lookup row lets webhooks find the tenant.
 */
async function stripeCustomer(ctx: Context, stripe: Stripe, tenantId: string): Promise<string> {
  const known = await ctx.db.billingCustomer.findFirst();
  if (known) return known.stripeCustomerId;
  const organization = await ctx.db.organization.findFirstOrThrow({ select: { name: true, slug: true } });
  const customer = await stripe.customers.create(
    { name: organization.name, metadata: { tenant_id: tenantId, slug: organization.slug } },
    { idempotencyKey: `customer-create:${tenantId}` },
  );
  try {
    await ctx.db.$transaction(async (tx) => {
      await tx.billingCustomer.create({ data: { tenantId, stripeCustomerId: customer.id } });
      await tx.stripeCustomer.create({ data: { tenantId, stripeCustomerId: customer.id } });
    });
  } catch (error) {
    // A concurrent first checkout stored the same customer (same idempotency key) first.
    if (!isUniqueViolation(error)) throw error;
  }
  return customer.id;
}

/** The current subscription when it is a Stripe one that can still change. */
async function stripeSubscriptionRow(ctx: Context): Promise<Subscription & { stripeSubscriptionId: string }> {
  const row = await currentRow(ctx);
  if (!row?.stripeSubscriptionId)
    throw appError(
      ErrorCode.BAD_USER_INPUT,
      "The organization has no paid subscription: startCheckout starts one.",
      {
        field: "subscription",
      },
    );
  return row as Subscription & { stripeSubscriptionId: string };
}

/** Idempotency keys: one per tenant, action and client request, so a retried request is not repeated. */
const key = (ctx: Context, ...parts: string[]) => [...parts, ctx.requestId].join(":");

export async function startCheckout(ctx: Context, input: unknown) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const { planCode, interval } = parseInput(planInput, input);
  const plan = await paidPlan(ctx, planCode, interval);
  const stripe = ctx.billing.stripe;
  if (!stripe) {
    const row = await applyLocally(ctx, tenantId, plan, interval);
    return { checkoutUrl: null, subscription: await view(ctx, row) };
  }
  const current = await currentRow(ctx);
  if (current?.stripeSubscriptionId && current.status !== "INCOMPLETE")
    throw appError(
      ErrorCode.CONFLICT,
      "The organization already has a paid subscription: changePlan moves it to another plan.",
    );
  const customer = await stripeCustomer(ctx, stripe, tenantId);
  const session = await stripe.checkout.sessions.create(
    {
      mode: "subscription",
      customer,
      client_reference_id: tenantId,
      line_items: [{ price: priceOf(plan, interval)!, quantity: 1 }],
      subscription_data: { metadata: { tenant_id: tenantId, plan_code: plan.code } },
      metadata: { tenant_id: tenantId, plan_code: plan.code },
      success_url: `${ctx.billing.appUrl}/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${ctx.billing.appUrl}/billing?checkout=canceled`,
    },
    { idempotencyKey: key(ctx, "checkout", tenantId, plan.code, interval) },
  );
  return { checkoutUrl: session.url, subscription: await view(ctx, current) };
}

export async function changePlan(ctx: Context, input: unknown) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const { planCode, interval } = parseInput(planInput, input);
  const plan = await paidPlan(ctx, planCode, interval);
  const stripe = ctx.billing.stripe;
  if (!stripe) return { subscription: await view(ctx, await applyLocally(ctx, tenantId, plan, interval)) };
  const row = await stripeSubscriptionRow(ctx);
  const current = await stripe.subscriptions.retrieve(row.stripeSubscriptionId);
  const item = current.items.data[0];
  if (!item) throw new Error(`Stripe subscription ${current.id} has no items`);
  const price = priceOf(plan, interval)!;
  if (item.price.id === price) return { subscription: await view(ctx, row) };
  const from = await ctx.plans.findUniqueOrThrow({ where: { code: row.planCode } });
  const yearly = (p: Plan, i: BillingInterval) =>
    i === "YEAR" ? p.yearlyPriceCents : p.monthlyPriceCents * 12;
  // Upgrades are invoiced now (the customer pays the prorated difference at once); downgrades leave a
  // credit for the next invoice.
  const upgrade = yearly(plan, interval) > yearly(from, row.interval);
  const updated = await stripe.subscriptions.update(
    current.id,
    {
      items: [{ id: item.id, price }],
      proration_behavior: upgrade ? "always_invoice" : "create_prorations",
      metadata: { tenant_id: tenantId, plan_code: plan.code },
    },
    { idempotencyKey: key(ctx, "change-plan", current.id, price) },
  );
  return { subscription: await view(ctx, await applyFromStripe(ctx, tenantId, updated)) };
}

const cancelInput = z.object({ atPeriodEnd: z.boolean().default(true) }).default({ atPeriodEnd: true });

export async function cancelSubscription(ctx: Context, input: unknown) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const { atPeriodEnd } = parseInput(cancelInput, input ?? undefined);
  const stripe = ctx.billing.stripe;
  if (!stripe) {
    const row = await currentRow(ctx);
    if (!row) throw badUserInput("subscription", "the organization is on the free plan already");
    await ctx.db.$transaction(async (tx) => {
      const updated = await tx.subscription.update({
        where: { tenantId_id: { tenantId, id: row.id } },
        data: { status: "CANCELED", canceledAt: new Date() },
      });
      await announceSubscription(tx, tenantId, updated);
      return updated;
    });
    await dropPlanLimits(ctx.billing.redis, tenantId, ctx.logger);
    return { subscription: await view(ctx, await currentRow(ctx)) };
  }
  const row = await stripeSubscriptionRow(ctx);
  const updated = atPeriodEnd
    ? await stripe.subscriptions.update(
        row.stripeSubscriptionId,
        { cancel_at_period_end: true },
        { idempotencyKey: key(ctx, "cancel-at-period-end", row.stripeSubscriptionId) },
      )
    : await stripe.subscriptions.cancel(
        row.stripeSubscriptionId,
        { prorate: true },
        { idempotencyKey: key(ctx, "cancel-now", row.stripeSubscriptionId) },
      );
  const applied = await applyFromStripe(ctx, tenantId, updated);
  return { subscription: await view(ctx, applied.status === "CANCELED" ? await currentRow(ctx) : applied) };
}

export async function resumeSubscription(ctx: Context) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const stripe = ctx.billing.stripe;
  const row = stripe ? await stripeSubscriptionRow(ctx) : await currentRow(ctx);
  if (!stripe || !row?.cancelAtPeriodEnd)
    throw badUserInput("subscription", "there is no cancellation at the period's end to undo");
  const updated = await stripe.subscriptions.update(
    row.stripeSubscriptionId!,
    { cancel_at_period_end: false },
    { idempotencyKey: key(ctx, "resume", row.stripeSubscriptionId!) },
  );
  return { subscription: await view(ctx, await applyFromStripe(ctx, tenantId, updated)) };
}

const portalInput = z
  .object({ returnUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).nullish() })
  .nullish();

export async function createBillingPortalSession(ctx: Context, input: unknown) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const { returnUrl } = parseInput(portalInput, input) ?? {};
  // Only back to our own frontend: the portal must not become an open redirect.
  if (returnUrl && new URL(returnUrl).origin !== new URL(ctx.billing.appUrl).origin)
    throw badUserInput("input.returnUrl", `must be on ${new URL(ctx.billing.appUrl).origin}`);
  const stripe = ctx.billing.stripe;
  if (!stripe) return { url: null };
  const customer = await stripeCustomer(ctx, stripe, tenantId);
  const session = await stripe.billingPortal.sessions.create(
    { customer, return_url: returnUrl ?? `${ctx.billing.appUrl}/billing` },
    { idempotencyKey: key(ctx, "portal", tenantId) },
  );
  return { url: session.url };
}

export async function invoices(ctx: Context, organizationId: string, first: number | null | undefined) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  if (tenantId !== organizationId) throw forbidden("That is not your organization.");
  const limit = first ?? 10;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw badUserInput("first", "must be between 1 and 100");
  const customer = await ctx.db.billingCustomer.findFirst();
  if (!ctx.billing.stripe || !customer) return [];
  const list = await ctx.billing.stripe.invoices.list({ customer: customer.stripeCustomerId, limit });
  const date = (value: number | null | undefined) => (value ? new Date(value * 1000) : null);
  return list.data.map((invoice) => ({
    id: invoice.id ?? "",
    status: invoice.status ?? "draft",
    currency: invoice.currency,
    amountDue: invoice.amount_due,
    amountPaid: invoice.amount_paid,
    createdAt: new Date(invoice.created * 1000),
    periodStart: date(invoice.period_start),
    periodEnd: date(invoice.period_end),
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
  }));
}
