import { stripeEnvShape } from "@app/billing/stripe";
import { parseEnv, port, redisUrl, subgraphEnv } from "@app/common/env";
import { z } from "zod";

export const billingEnv = subgraphEnv.extend({
  PORT: port.default(4004),
  ...stripeEnvShape,
  /** Verifies POST /webhooks/stripe (`whsec_...`); without it the endpoint answers 404. */
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .startsWith("whsec_", "must be a webhook signing secret (whsec_...)")
    .optional(),
  /** Where Checkout and the billing portal send the customer back (the frontend). */
  APP_URL: z.url().default("http://localhost:3000"),
  /** Tells every service's plan-limits cache when a subscription changes. */
  REDIS_URL: redisUrl.optional(),
});
export type BillingConfig = z.infer<typeof billingEnv>;

export const loadEnv = () => parseEnv(billingEnv);
