import { customerOf, HANDLED_EVENTS, STRIPE_EVENT_TOPIC } from "@app/billing";
import type { Stripe } from "@app/billing/stripe";
import type { Logger } from "@app/common";
import { emitEvent, isUniqueViolation, type PrismaClient, tenantClient } from "@app/db";

/** Stripe's events are a few kilobytes; anything far larger is not from Stripe. */
const MAX_BODY_BYTES = 1_048_576;

export interface WebhookDeps {
  stripe: Stripe | null;
  webhookSecret: string | undefined;
  /** Tenant-scoped writes go through tenantClient over it. */
  prisma: PrismaClient;
  /**
   * Cross-tenant on purpose: a webhook names a Stripe customer, not a tenant, so the customer -> tenant
   * lookup (stripe_customers) reads across tenants. It is the only read this client does here.
   */
  crossTenant: () => PrismaClient;
  logger: Logger;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/**
 * POST /webhooks/stripe. The signature is checked on the raw body (stripe.webhooks.constructEvent, which
 * also refuses stale timestamps); a bad one gets 400 and nothing is stored. A good one is stored under
 * Stripe's event id with its outbox announcement in one transaction: the relay hands it to the worker's
 * billing.stripe-event job. A redelivered event hits the key and is acknowledged without a second job.
 */
export function stripeWebhookRoute(deps: WebhookDeps) {
  return async (request: Request): Promise<Response> => {
    if (request.method !== "POST") return json(405, { error: "POST only" });
    if (!deps.stripe || !deps.webhookSecret)
      return json(404, {
        error: "Stripe webhooks are not configured (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET)",
      });
    if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES)
      return json(413, { error: "too large" });
    const body = await request.text();
    if (Buffer.byteLength(body) > MAX_BODY_BYTES) return json(413, { error: "too large" });
    let event: Stripe.Event;
    try {
      event = deps.stripe.webhooks.constructEvent(
        body,
        request.headers.get("stripe-signature") ?? "",
        deps.webhookSecret,
      );
    } catch (error) {
      deps.logger.warn({ err: error }, "stripe webhook refused: bad signature");
      return json(400, { error: "invalid signature" });
    }
    if (!HANDLED_EVENTS.has(event.type))
      return json(200, { received: true, ignored: "event type not handled" });
    const customer = customerOf(event);
    const known = customer
      ? await deps.crossTenant().stripeCustomer.findUnique({ where: { stripeCustomerId: customer } })
      : null;
    if (!known) {
      deps.logger.warn(
        { stripeEventId: event.id, customer },
        "stripe webhook for an unknown customer ignored",
      );
      return json(200, { received: true, ignored: "unknown customer" });
    }
    const { tenantId } = known;
    try {
      await tenantClient(deps.prisma, tenantId).$transaction(async (tx) => {
        await tx.billingEvent.create({
          data: {
            tenantId,
            id: event.id,
            type: event.type,
            stripeCreatedAt: new Date(event.created * 1000),
            payload: JSON.parse(body),
          },
        });
        await emitEvent(tx, tenantId, {
          topic: STRIPE_EVENT_TOPIC,
          payload: { stripeEventId: event.id, type: event.type },
        });
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      return json(200, { received: true, duplicate: true });
    }
    deps.logger.info({ stripeEventId: event.id, type: event.type, tenantId }, "stripe event stored");
    return json(200, { received: true });
  };
}
