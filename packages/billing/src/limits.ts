import { appError, ErrorCode } from "@app/common";
import type { Plan, PrismaClient, Subscription, TenantClient } from "@app/db";

/** The plan every organization is on until it subscribes to another (seeded by a migration). */
export const FREE_PLAN_CODE = "FREE";

/** What an organization may use now. Null means unlimited. */
export interface PlanLimits {
  planCode: string;
  planName: string;
  maxProjects: number | null;
  maxSeats: number | null;
  maxOperationsPerMonth: number | null;
  maxSubscriptionConnections: number | null;
  /**
   * Epoch milliseconds after which these limits stop holding by themselves (a grace period ends), so
   * caches must not keep them longer. Null: until the subscription changes.
   */
  validUntil: number | null;
}

type SubscriptionState = Pick<Subscription, "planCode" | "status" | "graceEndsAt">;

/**
 * The plan whose limits apply: the subscription's while it is active or trialing, and while it is past
 * due until the grace period ends; the free plan's otherwise (no subscription, canceled, incomplete, or
 * past due beyond the grace period).
 */
export function effectivePlan(
  subscription: SubscriptionState | null,
  now = new Date(),
): { planCode: string; validUntil: Date | null } {
  if (!subscription) return { planCode: FREE_PLAN_CODE, validUntil: null };
  switch (subscription.status) {
    case "ACTIVE":
    case "TRIALING":
      return { planCode: subscription.planCode, validUntil: null };
    case "PAST_DUE":
      return subscription.graceEndsAt && subscription.graceEndsAt > now
        ? { planCode: subscription.planCode, validUntil: subscription.graceEndsAt }
        : { planCode: FREE_PLAN_CODE, validUntil: null };
    default:
      return { planCode: FREE_PLAN_CODE, validUntil: null };
  }
}

/** The current subscription is the newest one that is not canceled. */
export const CURRENT_SUBSCRIPTION = {
  where: { status: { not: "CANCELED" as const } },
  orderBy: { createdAt: "desc" as const },
};

export function limitsOf(plan: Plan, validUntil: Date | null): PlanLimits {
  return {
    planCode: plan.code,
    planName: plan.name,
    maxProjects: plan.maxProjects,
    maxSeats: plan.maxSeats,
    maxOperationsPerMonth: plan.maxOperationsPerMonth,
    maxSubscriptionConnections: plan.maxSubscriptionConnections,
    validUntil: validUntil?.getTime() ?? null,
  };
}

/** The reads {@link loadPlanLimits} needs: a tenant-scoped client and the plan catalogue. */
export interface PlanLimitsReader {
  subscription: Pick<TenantClient["subscription"], "findFirst">;
}

/**
 * The tenant's limits from the database: its current subscription (through the tenant-scoped client)
 * and the global plan catalogue. Two single-row reads; callers cache them (limits-cache.ts).
 */
export async function loadPlanLimits(db: PlanLimitsReader, plans: PrismaClient["plan"], now = new Date()) {
  const subscription = await db.subscription.findFirst(CURRENT_SUBSCRIPTION);
  const { planCode, validUntil } = effectivePlan(subscription, now);
  const plan = await plans.findUniqueOrThrow({ where: { code: planCode } });
  return limitsOf(plan, validUntil);
}

export type LimitName = "projects" | "seats" | "operations" | "subscriptions";

const WHAT: Record<LimitName, (max: number) => string> = {
  projects: (max) => `${max} project${max === 1 ? "" : "s"}`,
  seats: (max) => `${max} member${max === 1 ? "" : "s"} (seats, pending invitations included)`,
  operations: (max) => `${max.toLocaleString("en-US")} API operations per month`,
  subscriptions: (max) => `${max} open realtime subscription${max === 1 ? "" : "s"} at once`,
};

/**
 * PLAN_LIMIT: names the limit and the way up. `extensions` carry the limit, its maximum and the plan,
 * so a client can show its own upgrade prompt.
 */
export function planLimitError(limit: LimitName, limits: PlanLimits, max: number) {
  return appError(
    ErrorCode.PLAN_LIMIT,
    `Plan limit reached: the ${limits.planName} plan allows ${WHAT[limit](max)}. ` +
      "An owner or admin can upgrade with startCheckout (or changePlan) to raise it.",
    { limit, max, plan: limits.planCode },
  );
}

/** Throws PLAN_LIMIT when `used` more would go beyond the plan's limit (null: unlimited). */
const MAX: Record<LimitName, (limits: PlanLimits) => number | null> = {
  projects: (limits) => limits.maxProjects,
  seats: (limits) => limits.maxSeats,
  operations: (limits) => limits.maxOperationsPerMonth,
  subscriptions: (limits) => limits.maxSubscriptionConnections,
};

export function checkLimit(limit: LimitName, limits: PlanLimits, used: number, adding = 1): void {
  const max = MAX[limit](limits);
  if (max !== null && used + adding > max) throw planLimitError(limit, limits, max);
}
