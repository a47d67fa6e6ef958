import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseForm, type StripeStandIn, startStripeStandIn } from "./stand-in.ts";

describe("the Stripe stand-in, through the real SDK", () => {
  let standIn: StripeStandIn;
  let stripe: Stripe;
  beforeAll(async () => {
    standIn = await startStripeStandIn();
    const url = new URL(standIn.url);
    stripe = new Stripe("sk_test_stand_in", {
      host: url.hostname,
      port: url.port,
      protocol: "http",
      maxNetworkRetries: 0,
    });
  });
  afterAll(() => standIn?.close());

  it("parses Stripe's form encoding into objects and arrays", () => {
    expect(parseForm("items[0][price]=p&items[0][id]=si&metadata[a]=1&mode=subscription")).toEqual({
      items: [{ price: "p", id: "si" }],
      metadata: { a: "1" },
      mode: "subscription",
    });
  });

  it("answers a repeated idempotency key with the first response, and refuses it with other parameters", async () => {
    const first = await stripe.customers.create({ name: "Acme" }, { idempotencyKey: "key-1" });
    const again = await stripe.customers.create({ name: "Acme" }, { idempotencyKey: "key-1" });
    expect(again.id).toBe(first.id);
    expect(standIn.customers.size).toBe(1);
    expect(standIn.requests.at(-1)).toMatchObject({ idempotencyKey: "key-1", replayed: true });
    await expect(
      stripe.customers.create({ name: "Other" }, { idempotencyKey: "key-1" }),
    ).rejects.toMatchObject({
      type: "StripeIdempotencyError",
    });
    expect(standIn.customers.size).toBe(1);
  });

  it("runs a subscription's life: checkout, a prorated change, cancellation at the period's end", async () => {
    const customer = await stripe.customers.create({ name: "Life" });
    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      customer: customer.id,
      line_items: [{ price: "price_a", quantity: 1 }],
      success_url: "http://localhost/ok",
    });
    const { subscription } = standIn.completeCheckout(session.id);
    const retrieved = await stripe.subscriptions.retrieve(subscription.id as string);
    expect(retrieved).toMatchObject({ status: "active", customer: customer.id });
    const item = retrieved.items.data[0]!;
    const changed = await stripe.subscriptions.update(retrieved.id, {
      items: [{ id: item.id, price: "price_b" }],
      proration_behavior: "always_invoice",
    });
    expect(changed.items.data[0]!.price.id).toBe("price_b");
    expect(standIn.prorations.at(-1)).toEqual({
      subscription: retrieved.id,
      from: "price_a",
      to: "price_b",
      behavior: "always_invoice",
    });
    const canceling = await stripe.subscriptions.update(retrieved.id, { cancel_at_period_end: true });
    expect(canceling.cancel_at_period_end).toBe(true);
    const invoices = await stripe.invoices.list({ customer: customer.id });
    expect(invoices.data.map((i) => i.billing_reason)).toEqual(
      expect.arrayContaining(["subscription_create", "subscription_update"]),
    );
  });

  it("refuses a meter event identifier it has seen, as Stripe does", async () => {
    const event = {
      event_name: "ops",
      identifier: "usage-1",
      payload: { stripe_customer_id: "cus_1", value: "5" },
    };
    await stripe.billing.meterEvents.create(event);
    await expect(stripe.billing.meterEvents.create(event)).rejects.toMatchObject({
      code: "resource_already_exists",
    });
    expect(standIn.meterEvents).toHaveLength(1);
  });

  it("signs webhooks the SDK verifies, and refuses calls without a secret key", async () => {
    const event = standIn.event("invoice.paid", { id: "in_1", customer: "cus_1" });
    const { body, signature } = standIn.signed(event, "whsec_x");
    expect(stripe.webhooks.constructEvent(body, signature, "whsec_x").id).toBe(event.id);
    expect(() => stripe.webhooks.constructEvent(body, signature, "whsec_y")).toThrow();
    const anonymous = await fetch(`${standIn.url}/v1/customers`, { method: "POST" });
    expect(anonymous.status).toBe(401);
  });
});
