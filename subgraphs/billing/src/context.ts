import type { Stripe } from "@app/billing/stripe";
import { type InternalContext, type Logger, type TenantContext, tenantContext } from "@app/common";
import type { Plan, Prisma, PrismaClient } from "@app/db";
import type { Redis } from "ioredis";

/** What billing's services need beyond the database; built once per process in app.ts. */
export interface BillingServices {
  /** Null in local mode (no STRIPE_SECRET_KEY): plan changes apply at once, without payment. */
  stripe: Stripe | null;
  /** Tells the other services' plan-limits caches about a change; null without Redis. */
  redis: Redis | null;
  /** How long a past-due subscription keeps its plan's limits (BILLING_GRACE_PERIOD_SECONDS). */
  gracePeriodMs: number;
  /** The frontend, where Checkout and the portal send the customer back. */
  appUrl: string;
}

/**
 * The plan catalogue's administration: global rows, written with the cross-tenant role's client (the
 * application role may only read plans), and the platform-admin check (platform_admins is global too).
 */
export interface PlanCatalogue {
  isPlatformAdmin(userId: string): Promise<boolean>;
  update(code: string, data: Prisma.PlanUpdateInput): Promise<Plan>;
}

export interface Context extends TenantContext {
  /** The global plan catalogue (a reference table): readable without a tenant, e.g. for a pricing page. */
  readonly plans: PrismaClient["plan"];
  readonly billing: BillingServices;
  readonly catalogue: PlanCatalogue;
}

export function contextFactory(billing: BillingServices, catalogue: PlanCatalogue) {
  return (prisma: PrismaClient, logger: Logger) =>
    (internal: InternalContext): Context => ({
      ...tenantContext(internal, logger, prisma),
      plans: prisma.plan,
      billing,
      catalogue,
    });
}
