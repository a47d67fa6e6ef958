import Stripe from "stripe";
import { z } from "zod";

export { Stripe };

/** Stripe and billing settings shared by the billing service and the worker (each env.ts spreads them in). */
export const stripeEnvShape = {
  /** Without it billing runs in local mode: plan changes apply at once, without payment. */
  STRIPE_SECRET_KEY: z.string().startsWith("sk_", "must be a Stripe secret key (sk_...)").optional(),
  /**
   * Where the Stripe API is; default Stripe's own. Tests and local development point it at the stand-in
   * (`npm run stripe:stand-in`), e.g. `http://127.0.0.1:12111`.
   */
  STRIPE_API_BASE: z.url({ protocol: /^https?$/, error: "must be an http(s):// URL" }).optional(),
  /** How long a past-due subscription keeps its plan's limits after a failed payment. Default 7 days. */
  BILLING_GRACE_PERIOD_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .default(7 * 86_400),
};

/**
 * The Stripe client, or null in local mode (no secret key). The SDK retries failed requests itself
 * (with the same idempotency key), so a retried create never creates twice.
 */
export function createStripe(settings: {
  STRIPE_SECRET_KEY?: string;
  STRIPE_API_BASE?: string;
}): Stripe | null {
  if (!settings.STRIPE_SECRET_KEY) return null;
  const base = settings.STRIPE_API_BASE ? new URL(settings.STRIPE_API_BASE) : null;
  return new Stripe(settings.STRIPE_SECRET_KEY, {
    maxNetworkRetries: 2,
    timeout: 20_000,
    telemetry: false,
    ...(base
      ? {
          host: base.hostname,
          port: base.port || (base.protocol === "https:" ? 443 : 80),
          protocol: base.protocol === "https:" ? "https" : "http",
        }
      : {}),
  });
}

/** True for Stripe's "this already exists" answer (a meter event identifier sent before). */
export function isAlreadyExists(error: unknown): boolean {
  return error instanceof Stripe.errors.StripeError && error.code === "resource_already_exists";
}

/** Stripe refused the request itself (4xx): sending it again unchanged will not help. */
export function isInvalidRequest(error: unknown): boolean {
  return error instanceof Stripe.errors.StripeInvalidRequestError;
}
