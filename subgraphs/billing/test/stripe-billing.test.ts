import { Stripe } from "@app/billing/stripe";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../../test/eventually.ts";
import { gql, signUpTenant } from "../../../test/platform.ts";
import { addMember } from "../../projects/test/helpers.ts";
import {
  type BillingPlatform,
  CANCEL,
  CHANGE_PLAN,
  CREATE_PROJECT,
  deliver,
  PRICES,
  RESUME,
  START_CHECKOUT,
  startBillingPlatform,
  subscribedTenant,
  subscriptionOf,
} from "./helpers.ts";

const GRACE_SECONDS = 3;

// Whole flows through every service and the worker: generous on a busy machine.
describe.skipIf(!inject("redisUrl"))(
  "billing with Stripe (through the gateway, the worker and the stand-in)",
  { timeout: 60_000 },
  () => {
    let env: BillingPlatform;
    beforeAll(async () => {
      env = await startBillingPlatform(11, { BILLING_GRACE_PERIOD_SECONDS: String(GRACE_SECONDS) });
    });
    afterAll(() => env?.close());

    const count = (tenantId: string) =>
      Promise.all([
        env.platform.prisma.billingEvent.count({ where: { tenantId } }),
        env.platform.prisma.outboxEvent.count({ where: { tenantId, topic: "billing.stripe_event" } }),
        env.platform.prisma.subscription.count({ where: { tenantId } }),
      ]);

    it("checkout, then checkout.session.completed: the organization is on Pro with Pro's limits", async () => {
      const tenant = await signUpTenant(env.platform.gatewayUrl, "checkout");
      const before = await subscriptionOf(env, tenant.token);
      expect(before).toMatchObject({ plan: { code: "FREE" }, status: "ACTIVE", localMode: false });
      expect(before.limits).toMatchObject({ planCode: "FREE", maxProjects: 3, maxSeats: 5 });

      const started = await gql(env.platform.gatewayUrl, START_CHECKOUT, {
        token: tenant.token,
        variables: { input: { planCode: "PRO", interval: "MONTH" } },
      });
      expect(started.errors).toBeUndefined();
      const url = started.data!.startCheckout.checkoutUrl as string;
      expect(url.startsWith(`${env.standIn.url}/checkout/cs_`)).toBe(true);
      // Nothing changes before the customer has paid.
      expect(started.data!.startCheckout.subscription.plan.code).toBe("FREE");

      const session = env.standIn.checkoutSessions.get(url.split("/").pop()!)!;
      expect(session).toMatchObject({ client_reference_id: tenant.tenantId, mode: "subscription" });
      const customer = env.standIn.customers.get(session.customer as string)!;
      expect(customer.metadata).toMatchObject({ tenant_id: tenant.tenantId });

      const { session: paid } = env.standIn.completeCheckout(session.id as string);
      expect((await deliver(env, env.standIn.event("checkout.session.completed", paid))).status).toBe(200);
      const after = await eventually(
        () => subscriptionOf(env, tenant.token),
        (s) => s.plan.code === "PRO",
      );
      expect(after).toMatchObject({
        status: "ACTIVE",
        interval: "MONTH",
        cancelAtPeriodEnd: false,
        graceEndsAt: null,
      });
      expect(after.limits).toMatchObject({
        planCode: "PRO",
        maxProjects: 100,
        maxSeats: 50,
        maxOperationsPerMonth: 1_000_000,
      });
      expect(new Date(after.currentPeriodEnd).getTime()).toBeGreaterThan(Date.now());
    });

    it("upgrades (invoiced at once) and downgrades (credited) with proration", async () => {
      const tenant = await subscribedTenant(env, "upgrade");
      const up = await gql(env.platform.gatewayUrl, CHANGE_PLAN, {
        token: tenant.token,
        variables: { input: { planCode: "ENTERPRISE", interval: "MONTH" } },
      });
      expect(up.errors).toBeUndefined();
      expect(up.data!.changePlan.subscription).toMatchObject({
        plan: { code: "ENTERPRISE" },
        limits: { maxProjects: null },
      });
      expect(env.standIn.prorations.at(-1)).toEqual({
        subscription: tenant.subscriptionId,
        from: PRICES.PRO_MONTH,
        to: PRICES.ENTERPRISE_MONTH,
        behavior: "always_invoice",
      });

      const down = await gql(env.platform.gatewayUrl, CHANGE_PLAN, {
        token: tenant.token,
        variables: { input: { planCode: "PRO", interval: "YEAR" } },
      });
      expect(down.data!.changePlan.subscription).toMatchObject({ plan: { code: "PRO" }, interval: "YEAR" });
      expect(env.standIn.prorations.at(-1)).toMatchObject({
        to: PRICES.PRO_YEAR,
        behavior: "create_prorations",
      });
      // Stripe's own events about the change, delivered afterwards, leave the same state.
      const current = env.standIn.subscriptions.get(tenant.subscriptionId)!;
      await deliver(env, env.standIn.event("customer.subscription.updated", current));
      await eventually(
        () =>
          env.platform.prisma.billingEvent.count({
            where: { tenantId: tenant.tenantId, processedAt: { not: null } },
          }),
        (n) => n === 2,
      );
      expect(await subscriptionOf(env, tenant.token)).toMatchObject({
        plan: { code: "PRO" },
        interval: "YEAR",
      });
      expect(await count(tenant.tenantId)).toEqual([2, 2, 1]);
    });

    it("cancels at the period's end, resumes, and drops to FREE when the period ends", async () => {
      const tenant = await subscribedTenant(env, "cancel");
      const canceled = await gql(env.platform.gatewayUrl, CANCEL, {
        token: tenant.token,
        variables: { input: { atPeriodEnd: true } },
      });
      expect(canceled.data!.cancelSubscription.subscription).toEqual({
        status: "ACTIVE",
        cancelAtPeriodEnd: true,
        plan: { code: "PRO" },
      });
      expect(env.standIn.subscriptions.get(tenant.subscriptionId)!.cancel_at_period_end).toBe(true);

      const resumed = await gql(env.platform.gatewayUrl, RESUME, { token: tenant.token });
      expect(resumed.data!.resumeSubscription.subscription.cancelAtPeriodEnd).toBe(false);

      await gql(env.platform.gatewayUrl, CANCEL, { token: tenant.token });
      const ended = env.standIn.endPeriod(tenant.subscriptionId);
      expect((await deliver(env, env.standIn.event("customer.subscription.deleted", ended))).status).toBe(
        200,
      );
      const after = await eventually(
        () => subscriptionOf(env, tenant.token),
        (s) => s.plan.code === "FREE",
      );
      expect(after.limits.planCode).toBe("FREE");
    });

    it("a failed payment: past due, the plan's limits through the grace period, then the free plan's", async () => {
      const tenant = await subscribedTenant(env, "dunning");
      const { invoice } = env.standIn.failPayment(tenant.subscriptionId);
      const failedAt = Date.now();
      await deliver(env, env.standIn.event("invoice.payment_failed", invoice));
      const pastDue = await eventually(
        () => subscriptionOf(env, tenant.token),
        (s) => s.status === "PAST_DUE",
      );
      const graceEnds = new Date(pastDue.graceEndsAt).getTime();
      expect(graceEnds - failedAt).toBeGreaterThan((GRACE_SECONDS - 1) * 1000);
      expect(graceEnds - failedAt).toBeLessThan((GRACE_SECONDS + 5) * 1000);
      if (Date.now() < graceEnds) expect(pastDue.limits.planCode).toBe("PRO");

      const afterGrace = await eventually(
        () => subscriptionOf(env, tenant.token),
        (s) => s.limits.planCode === "FREE",
      );
      expect(Date.now()).toBeGreaterThanOrEqual(graceEnds);
      expect(afterGrace).toMatchObject({
        status: "PAST_DUE",
        plan: { code: "PRO" },
        limits: { maxProjects: 3 },
      });

      // Paying later restores the plan's limits and ends the grace period.
      const { invoice: paid } = env.standIn.payInvoice(invoice.id as string);
      await deliver(env, env.standIn.event("invoice.paid", paid));
      const restored = await eventually(
        () => subscriptionOf(env, tenant.token),
        (s) => s.status === "ACTIVE",
      );
      expect(restored).toMatchObject({ graceEndsAt: null, limits: { planCode: "PRO" } });
    });

    it("the same webhook three times, and two updates newest first, leave exactly the right state", async () => {
      const tenant = await subscribedTenant(env, "replay");
      const session = env.standIn.checkoutSessions.get(tenant.sessionId)!;
      const completed = env.standIn.event("checkout.session.completed", session);
      for (let i = 0; i < 3; i++) expect((await deliver(env, completed)).status).toBe(200);
      // The one from subscribedTenant and this one, each stored and announced once; one subscription row.
      expect(await count(tenant.tenantId)).toEqual([2, 2, 1]);

      // The customer moves to Enterprise in Stripe's portal; Stripe sends the two updates newest first.
      const stripe = new Stripe("sk_test_portal", {
        host: new URL(env.standIn.url).hostname,
        port: new URL(env.standIn.url).port,
        protocol: "http",
      });
      const older = env.standIn.event(
        "customer.subscription.updated",
        env.standIn.subscriptions.get(tenant.subscriptionId)!,
        1_000,
      );
      const item = env.standIn.subscriptions.get(tenant.subscriptionId)!.items as {
        data: Array<{ id: string }>;
      };
      await stripe.subscriptions.update(
        tenant.subscriptionId,
        { items: [{ id: item.data[0]!.id, price: PRICES.ENTERPRISE_MONTH }] },
        { idempotencyKey: `portal-${tenant.subscriptionId}` },
      );
      const newer = env.standIn.event(
        "customer.subscription.updated",
        env.standIn.subscriptions.get(tenant.subscriptionId)!,
        2_000,
      );
      await deliver(env, newer);
      await deliver(env, older);
      await deliver(env, newer);
      await eventually(
        () =>
          env.platform.prisma.billingEvent.count({
            where: { tenantId: tenant.tenantId, processedAt: { not: null } },
          }),
        (n) => n === 4,
      );
      const rows = await env.platform.prisma.subscription.findMany({ where: { tenantId: tenant.tenantId } });
      expect(rows.map((r) => [r.planCode, r.status])).toEqual([["ENTERPRISE", "ACTIVE"]]);
      expect((await subscriptionOf(env, tenant.token)).plan.code).toBe("ENTERPRISE");
    });

    it("refuses forged, tampered and unsigned webhooks with 400 and changes nothing", async () => {
      const tenant = await subscribedTenant(env, "forged");
      const before = await count(tenant.tenantId);
      const canceled = { ...env.standIn.subscriptions.get(tenant.subscriptionId)!, status: "canceled" };
      const event = env.standIn.event("customer.subscription.deleted", canceled);
      expect((await deliver(env, event, "whsec_someone_else")).status).toBe(400);

      const { signature } = env.standIn.signed(
        env.standIn.event("invoice.paid", { customer: tenant.customerId }),
        "whsec_billing_tests_0123456789",
      );
      const tampered = await fetch(new URL("/webhooks/stripe", env.platform.subgraphUrls.billing), {
        method: "POST",
        headers: { "content-type": "application/json", "stripe-signature": signature },
        body: JSON.stringify(event),
      });
      expect(tampered.status).toBe(400);
      const unsigned = await fetch(new URL("/webhooks/stripe", env.platform.subgraphUrls.billing), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(event),
      });
      expect(unsigned.status).toBe(400);

      await new Promise((r) => setTimeout(r, 500));
      expect(await count(tenant.tenantId)).toEqual(before);
      expect((await subscriptionOf(env, tenant.token)).plan.code).toBe("PRO");
    });

    it("changes nothing for an event of its customer that names another customer's subscription", async () => {
      const mine = await subscribedTenant(env, "mine");
      const theirs = await subscribedTenant(env, "theirs", PRICES.ENTERPRISE_MONTH);
      const borrowed = {
        ...env.standIn.subscriptions.get(theirs.subscriptionId)!,
        customer: mine.customerId,
      };
      expect((await deliver(env, env.standIn.event("customer.subscription.updated", borrowed))).status).toBe(
        200,
      );
      await eventually(
        () =>
          env.platform.prisma.billingEvent.count({
            where: { tenantId: mine.tenantId, processedAt: { not: null } },
          }),
        (n) => n === 2,
      );
      const rows = await env.platform.prisma.subscription.findMany({ where: { tenantId: mine.tenantId } });
      expect(rows.map((r) => [r.planCode, r.stripeSubscriptionId])).toEqual([["PRO", mine.subscriptionId]]);
    });

    it("puts an idempotency key on every request to Stripe that creates or changes something", async () => {
      const tenant = await subscribedTenant(env, "keys");
      await gql(env.platform.gatewayUrl, CHANGE_PLAN, {
        token: tenant.token,
        variables: { input: { planCode: "ENTERPRISE" } },
      });
      await gql(env.platform.gatewayUrl, CANCEL, { token: tenant.token });
      const writes = env.standIn.requests.filter((r) => r.method !== "GET");
      expect(writes.map((r) => r.path)).toEqual(
        expect.arrayContaining([
          "/v1/customers",
          "/v1/checkout/sessions",
          `/v1/subscriptions/${tenant.subscriptionId}`,
        ]),
      );
      expect(writes.filter((r) => !r.idempotencyKey)).toEqual([]);
    });

    it("ignores events of customers it does not know (another Stripe account's, say)", async () => {
      const event = env.standIn.event("customer.subscription.deleted", {
        id: "sub_unknown",
        customer: "cus_unknown",
      });
      const response = await deliver(env, event);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ ignored: "unknown customer" });
      expect(await env.platform.prisma.billingEvent.count({ where: { id: event.id as string } })).toBe(0);
    });

    it("lets only OWNER and ADMIN change billing", async () => {
      const owner = await signUpTenant(env.platform.gatewayUrl, "roles");
      const member = await addMember(env.platform, owner, "MEMBER", "billing-member");
      for (const [query, variables] of [
        [START_CHECKOUT, { input: { planCode: "PRO" } }],
        [CHANGE_PLAN, { input: { planCode: "PRO" } }],
        [CANCEL, {}],
        [RESUME, {}],
        ["mutation { createBillingPortalSession { url } }", {}],
      ] as const) {
        const res = await gql(env.platform.gatewayUrl, query, { token: member.token, variables });
        expect(res.errors?.[0]?.extensions?.code, query).toBe("FORBIDDEN");
      }
      const invoices = await gql(env.platform.gatewayUrl, "{ currentOrganization { invoices { id } } }", {
        token: member.token,
      });
      expect(invoices.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect(env.standIn.customers.size).toBeGreaterThan(0);
      expect(
        [...env.standIn.customers.values()].some(
          (c) => (c.metadata as Record<string, string>).tenant_id === owner.tenantId,
        ),
      ).toBe(false);
    });

    it("refuses bad input naming the field", async () => {
      const owner = await signUpTenant(env.platform.gatewayUrl, "input");
      const unknown = await gql(env.platform.gatewayUrl, START_CHECKOUT, {
        token: owner.token,
        variables: { input: { planCode: "GOLD" } },
      });
      expect(unknown.errors?.[0]).toMatchObject({
        extensions: { code: "BAD_USER_INPUT", field: "input.planCode" },
      });
      const free = await gql(env.platform.gatewayUrl, START_CHECKOUT, {
        token: owner.token,
        variables: { input: { planCode: "FREE" } },
      });
      expect(free.errors?.[0]?.extensions?.field).toBe("input.planCode");
      const portal = await gql(
        env.platform.gatewayUrl,
        'mutation { createBillingPortalSession(input: { returnUrl: "https://evil.example/" }) { url } }',
        { token: owner.token },
      );
      expect(portal.errors?.[0]?.extensions?.field).toBe("input.returnUrl");
      const noSubscription = await gql(env.platform.gatewayUrl, CHANGE_PLAN, {
        token: owner.token,
        variables: { input: { planCode: "ENTERPRISE" } },
      });
      expect(noSubscription.errors?.[0]?.message).toMatch(/startCheckout/);
    });

    it("lists invoices and opens the billing portal for the organization's own customer", async () => {
      const tenant = await subscribedTenant(env, "invoices");
      const res = await gql(
        env.platform.gatewayUrl,
        "{ currentOrganization { invoices(first: 5) { id status amountPaid currency } } }",
        { token: tenant.token },
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.currentOrganization.invoices).toHaveLength(1);
      expect(res.data!.currentOrganization.invoices[0]).toMatchObject({ status: "paid", currency: "usd" });
      const portal = await gql(env.platform.gatewayUrl, "mutation { createBillingPortalSession { url } }", {
        token: tenant.token,
      });
      expect(portal.data!.createBillingPortalSession.url).toMatch(new RegExp(`^${env.standIn.url}/portal/`));
      const request = env.standIn.requests.findLast((r) => r.path === "/v1/billing_portal/sessions")!;
      expect(request.params.customer).toBe(tenant.customerId);
    });

    it("a free organization cannot create more projects than its plan allows; after upgrading it can", async () => {
      const tenant = await signUpTenant(env.platform.gatewayUrl, "limits");
      for (let i = 1; i <= 3; i++) {
        const res = await gql(env.platform.gatewayUrl, CREATE_PROJECT, {
          token: tenant.token,
          variables: { name: `P${i}` },
        });
        expect(res.errors).toBeUndefined();
      }
      const refused = await gql(env.platform.gatewayUrl, CREATE_PROJECT, {
        token: tenant.token,
        variables: { name: "P4" },
      });
      expect(refused.errors?.[0]).toMatchObject({
        extensions: { code: "PLAN_LIMIT", limit: "projects", max: 3, plan: "FREE" },
      });
      expect(refused.errors?.[0]?.message).toMatch(/Free plan allows 3 projects.*startCheckout/);
      expect(await env.platform.prisma.project.count({ where: { tenantId: tenant.tenantId } })).toBe(3);

      // Upgrade through Stripe: the worker applies the webhook and drops every cached limit.
      const started = await gql(env.platform.gatewayUrl, START_CHECKOUT, {
        token: tenant.token,
        variables: { input: { planCode: "PRO" } },
      });
      const { session } = env.standIn.completeCheckout(
        (started.data!.startCheckout.checkoutUrl as string).split("/").pop()!,
      );
      await deliver(env, env.standIn.event("checkout.session.completed", session));
      await eventually(
        () => subscriptionOf(env, tenant.token),
        (s) => s.plan.code === "PRO",
      );
      const allowed = await gql(env.platform.gatewayUrl, CREATE_PROJECT, {
        token: tenant.token,
        variables: { name: "P4" },
      });
      expect(allowed.errors).toBeUndefined();
    });
  },
);
