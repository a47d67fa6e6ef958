import { createStripe } from "@app/billing/stripe";
import { instrumentRedis } from "@app/common/metrics";
import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraphApp, type Routes } from "@app/common/subgraph";
import type { PrismaClient } from "@app/db";
import { Redis } from "ioredis";
import { type BillingServices, contextFactory } from "./context.ts";
import type { BillingConfig } from "./env.ts";
import { planLimitsRoute } from "./modules/plans/limits.route.ts";
import { planResolvers } from "./modules/plans/plans.resolvers.ts";
import { subscriptionResolvers } from "./modules/subscriptions/subscriptions.resolvers.ts";
import { usageResolvers } from "./modules/usage/usage.resolvers.ts";
import { stripeWebhookRoute } from "./modules/webhooks/webhooks.route.ts";

/** Builds the billing subgraph; `index.ts` listens, tests serve it on port 0. */
export function createBillingApp(
  config: BillingConfig,
  deps: { prisma?: PrismaClient; crossTenant?: PrismaClient } = {},
) {
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    : null;
  const services: BillingServices = {
    stripe: createStripe(config),
    redis,
    gracePeriodMs: config.BILLING_GRACE_PERIOD_SECONDS * 1000,
    appUrl: config.APP_URL.replace(/\/$/, ""),
  };
  // The routes need the app's clients, which exist once the app is built: filled in below.
  const routes: Routes = {};
  let crossTenant: PrismaClient | undefined;
  const app = createSubgraphApp({
    name: "billing",
    config,
    prisma: deps.prisma,
    crossTenant: deps.crossTenant,
    resolvers: [{ DateTime: DateTimeScalar }, planResolvers, subscriptionResolvers, usageResolvers],
    createContext: (prisma, logger, crossTenantClient?: PrismaClient) => {
      const global = crossTenantClient ?? prisma;
      crossTenant = global;
      return contextFactory(services, {
        isPlatformAdmin: async (userId) =>
          (await global.platformAdmin.findUnique({ where: { userId } })) !== null,
        update: (code, data) => global.plan.update({ where: { code }, data }),
      })(prisma, logger);
    },
    routes,
    onClose: async () => redis?.disconnect(),
  });
  redis?.on("error", (error) => app.logger.debug({ err: error }, "redis connection error"));
  if (services.stripe && !config.STRIPE_WEBHOOK_SECRET)
    app.logger.warn("STRIPE_SECRET_KEY without STRIPE_WEBHOOK_SECRET: Stripe's events are refused (404)");
  routes["/webhooks/stripe"] = stripeWebhookRoute({
    stripe: services.stripe,
    webhookSecret: config.STRIPE_WEBHOOK_SECRET,
    prisma: app.prisma,
    crossTenant: () => crossTenant ?? app.prisma,
    logger: app.logger.child({ component: "stripe-webhook" }),
  });
  routes["/internal/plan-limits"] = planLimitsRoute(config.INTERNAL_CONTEXT_SECRET, app.prisma);
  // Plan limits and usage counts: their Redis latency on /metrics.
  if (redis) instrumentRedis(redis, app.metrics);
  return app;
}
