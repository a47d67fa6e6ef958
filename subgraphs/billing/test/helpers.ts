import { type StripeStandIn, startStripeStandIn } from "@app/stripe-stand-in";
import { inject } from "vitest";
import { eventually } from "../../../test/eventually.ts";
import { gql, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { createScratchDatabase } from "../../../test/scratch-db.ts";

export const WEBHOOK_SECRET = "whsec_billing_tests_0123456789";
export const PRICES = {
  PRO_MONTH: "price_coditect_pro_monthly",
  PRO_YEAR: "price_coditect_pro_yearly",
  ENTERPRISE_MONTH: "price_coditect_enterprise_monthly",
} as const;

export const SUBSCRIPTION = `{
  currentOrganization {
    id
    subscription {
      status interval cancelAtPeriodEnd graceEndsAt currentPeriodEnd localMode
      plan { code }
      limits { planCode maxProjects maxSeats maxOperationsPerMonth }
    }
  }
}`;

export const START_CHECKOUT = `mutation($input: StartCheckoutInput!) {
  startCheckout(input: $input) { checkoutUrl subscription { status plan { code } } }
}`;
export const CHANGE_PLAN = `mutation($input: ChangePlanInput!) {
  changePlan(input: $input) { subscription { status interval plan { code } limits { planCode maxProjects } } }
}`;
export const CANCEL = `mutation($input: CancelSubscriptionInput) {
  cancelSubscription(input: $input) { subscription { status cancelAtPeriodEnd plan { code } } }
}`;
export const RESUME = `mutation { resumeSubscription { subscription { status cancelAtPeriodEnd plan { code } } } }`;
export const CREATE_PROJECT = `mutation($name: String!) { createProject(input: { name: $name }) { project { id } } }`;

export interface BillingPlatform {
  platform: Platform;
  standIn: StripeStandIn;
  /** The Redis database this file uses (its own, so no other test's flush takes its usage counts). */
  redisUrl: string;
  close(): Promise<void>;
}

/**
 * The platform with its worker on a scratch database, Redis (a database index of the file's own), and
 * billing and the worker pointed at a fresh Stripe stand-in through the real SDK.
 */
export async function startBillingPlatform(
  redisDb: number,
  settings: Record<string, string> = {},
): Promise<BillingPlatform> {
  const standIn = await startStripeStandIn();
  const scratch = await createScratchDatabase(inject("databaseUrl"), "coditect_bil");
  const redisUrl = `${inject("redisUrl")}/${redisDb}`;
  const stripe = {
    STRIPE_SECRET_KEY: "sk_test_stand_in",
    STRIPE_API_BASE: standIn.url,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ...settings,
  };
  const platform = await startPlatform(scratch.url, {
    worker: true,
    redisUrl,
    billing: stripe,
    // The flush runs when a test says so, not on the minute (the cron would race a test's crash steps).
    workerSettings: { ...stripe, USAGE_FLUSH_CRON: "0 0 1 1 *" },
  });
  // A cold platform's first requests are slow on a busy machine: paid here, under the hook's timeout.
  await signUpTenant(platform.gatewayUrl, "warm-up");
  return {
    platform,
    standIn,
    redisUrl,
    async close() {
      await platform.close();
      await standIn.close();
      await scratch.drop();
    },
  };
}

/** Posts a Stripe event to billing's webhook endpoint, signed as Stripe signs (or with `secret`). */
export async function deliver(
  env: BillingPlatform,
  event: Record<string, unknown>,
  secret = WEBHOOK_SECRET,
): Promise<Response> {
  const { body, signature } = env.standIn.signed(event, secret);
  return fetch(new URL("/webhooks/stripe", env.platform.subgraphUrls.billing), {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": signature },
    body,
  });
}

// biome-ignore lint/suspicious/noExplicitAny: tests read the shapes they assert on
export async function subscriptionOf(env: BillingPlatform, token: string): Promise<any> {
  const res = await gql(env.platform.gatewayUrl, SUBSCRIPTION, { token });
  if (!res.data?.currentOrganization) throw new Error(JSON.stringify(res.errors));
  return res.data.currentOrganization.subscription;
}

/**
 * A new organization on PRO through the whole path: startCheckout, the customer pays on the stand-in,
 * checkout.session.completed is delivered, the worker applies it.
 */
export async function subscribedTenant(
  env: BillingPlatform,
  label: string,
  price: string = PRICES.PRO_MONTH,
) {
  const tenant = await signUpTenant(env.platform.gatewayUrl, label);
  const interval = price.endsWith("yearly") ? "YEAR" : "MONTH";
  const planCode = price.includes("enterprise") ? "ENTERPRISE" : "PRO";
  const started = await gql(env.platform.gatewayUrl, START_CHECKOUT, {
    token: tenant.token,
    variables: { input: { planCode, interval } },
  });
  const url = started.data?.startCheckout?.checkoutUrl as string | undefined;
  if (!url) throw new Error(`startCheckout failed: ${JSON.stringify(started.errors)}`);
  const sessionId = url.split("/").pop()!;
  const { session, subscription } = env.standIn.completeCheckout(sessionId);
  const response = await deliver(env, env.standIn.event("checkout.session.completed", session));
  if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
  await eventually(
    () => subscriptionOf(env, tenant.token),
    (s) => s.plan.code === planCode,
  );
  return {
    ...tenant,
    sessionId,
    subscriptionId: subscription.id as string,
    customerId: session.customer as string,
  };
}
