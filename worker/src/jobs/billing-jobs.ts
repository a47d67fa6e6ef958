import { flushUsage, invalidatePlanLimits, processStripeEvent } from "@app/billing";
import { createStripe } from "@app/billing/stripe";
import type { Logger } from "@app/common";
import { createPrismaClient } from "@app/db";
import { Redis } from "ioredis";

/**
 * The billing jobs' work: apply a stored Stripe webhook event (billing.stripe-event), flush the usage
 * counted at the gateway into usage records and Stripe's meter events (usage.flush). Cross-tenant on
 * purpose (a flush writes every tenant's records), with a small pool of its own.
 */
export function createBillingJobs(options: {
  databaseUrl: string;
  redisUrl: string | undefined;
  stripe: { STRIPE_SECRET_KEY?: string; STRIPE_API_BASE?: string };
  gracePeriodSeconds: number;
  meterEventName: string;
  logger: Logger;
}) {
  const prisma = createPrismaClient({ connectionString: options.databaseUrl, poolSize: 2 });
  const stripe = createStripe(options.stripe);
  const redis = options.redisUrl
    ? new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    : null;
  redis?.on("error", (error) => options.logger.debug({ err: error }, "billing jobs: redis error"));
  return {
    processStripeEvent: (data: unknown, logger: Logger) =>
      processStripeEvent(
        { prisma, stripe, redis, gracePeriodMs: options.gracePeriodSeconds * 1000, logger },
        data,
      ),
    /**
     * A committed subscription change or change of limit overrides (the outbox's subscription.changed,
     * organization.limits_changed): every plan-limits cache drops the tenant's entry. Billing and tenants
     * do it too right after their own changes; this one also reaches the caches when they run without
     * Redis or could not reach it, and only ever after the commit.
     */
    invalidateLimits: (tenantId: string) => invalidatePlanLimits(redis, tenantId),
    /** Without Redis the gateway counts nothing, so there is nothing to flush. */
    flushUsage: (logger: Logger) =>
      redis ? flushUsage({ redis, prisma, stripe, meterEventName: options.meterEventName, logger }) : null,
    async close() {
      redis?.disconnect();
      await prisma.$disconnect();
    },
  };
}
export type BillingJobs = ReturnType<typeof createBillingJobs>;
