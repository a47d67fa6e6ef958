import { appError, ErrorCode } from "@app/common";
import type { Plan, PrismaClient, Subscription, TenantClient } from "@app/db";
import { z } from "zod";

/** The plan every organization is on until it subscribes to another (seeded by a migration). */
export const FREE_PLAN_CODE = "FREE";

/** What an organization may use now: its plan's limits, or an override in their place. Null means unlimited. */
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
  /** The limits an organization override sets instead of the plan ({@link PlanLimitOverrides}). */
  overridden: LimitName[];
}

/** One organization-level limit a platform administrator may set. */
export const limitOverride = z
  .number()
  .int()
  .min(0, "must not be negative")
  .max(1_000_000, "must be at most 1000000");

/**
 * Limits a platform administrator set for one organization (the tenants subgraph's
 * setOrganizationLimits, kept in `organizations.settings.limits`). Each replaces the plan's number for
 * that organization, higher or lower, whatever plan it is on and until it is cleared: the support team
 * raises a limit for a customer, or caps one, and a plan change does not undo either. Null: the plan's.
 * `maxMembers` replaces the plan's seats (members plus pending invitations).
 */
export const planLimitOverridesSchema = z.object({
  maxProjects: limitOverride.nullable().default(null),
  maxMembers: limitOverride.nullable().default(null),
});
export type PlanLimitOverrides = z.infer<typeof planLimitOverridesSchema>;

const NO_OVERRIDES: PlanLimitOverrides = { maxProjects: null, maxMembers: null };
const storedOverrides = z.object({ limits: planLimitOverridesSchema.default(NO_OVERRIDES) });

/** The overrides in an `organizations.settings` value; a value that does not parse overrides nothing. */
export function overridesOf(settings: unknown): PlanLimitOverrides {
  const parsed = storedOverrides.safeParse(settings);
  return parsed.success ? parsed.data.limits : NO_OVERRIDES;
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

/** The plan's limits, each overridden one replaced by the organization's number. */
export function limitsOf(plan: Plan, validUntil: Date | null, overrides: PlanLimitOverrides): PlanLimits {
  return {
    planCode: plan.code,
    planName: plan.name,
    maxProjects: overrides.maxProjects ?? plan.maxProjects,
    maxSeats: overrides.maxMembers ?? plan.maxSeats,
    maxOperationsPerMonth: plan.maxOperationsPerMonth,
    maxSubscriptionConnections: plan.maxSubscriptionConnections,
    validUntil: validUntil?.getTime() ?? null,
    overridden: [
      ...(overrides.maxProjects === null ? [] : (["projects"] as const)),
      ...(overrides.maxMembers === null ? [] : (["seats"] as const)),
    ],
  };
}

/** The reads {@link loadPlanLimits} needs: a tenant-scoped client and the plan catalogue. */
export interface PlanLimitsReader {
  subscription: Pick<TenantClient["subscription"], "findFirst">;
  organization: Pick<TenantClient["organization"], "findFirst">;
}

/**
 * The tenant's limits from the database: its current subscription and its organization's overrides
 * (through the tenant-scoped client), and the global plan catalogue. Three single-row reads; callers
 * cache them (limits-cache.ts), and every change of one of them drops the caches.
 */
export async function loadPlanLimits(db: PlanLimitsReader, plans: PrismaClient["plan"], now = new Date()) {
  const [subscription, organization] = await Promise.all([
    db.subscription.findFirst(CURRENT_SUBSCRIPTION),
    db.organization.findFirst({ select: { settings: true } }),
  ]);
  const { planCode, validUntil } = effectivePlan(subscription, now);
  const plan = await plans.findUniqueOrThrow({ where: { code: planCode } });
  return limitsOf(plan, validUntil, overridesOf(organization?.settings));
}

export type LimitName = "projects" | "seats" | "operations" | "subscriptions";

const WHAT: Record<LimitName, (max: number) => string> = {
  projects: (max) => `${max} project${max === 1 ? "" : "s"}`,
  seats: (max) => `${max} member${max === 1 ? "" : "s"} (seats, pending invitations included)`,
  operations: (max) => `${max.toLocaleString("en-US")} API operations per month`,
  subscriptions: (max) => `${max} open realtime subscription${max === 1 ? "" : "s"} at once`,
};

/**
 * PLAN_LIMIT: names the limit and the way up. `extensions` carry the limit, its maximum, the plan and
 * whether an organization override set it, so a client can show its own upgrade prompt (an upgrade
 * does not move an overridden limit: the support team does).
 */
export function planLimitError(limit: LimitName, limits: PlanLimits, max: number) {
  const overridden = limits.overridden.includes(limit);
  return appError(
    ErrorCode.PLAN_LIMIT,
    overridden
      ? `Limit reached: this organization may have ${WHAT[limit](max)}, a limit the support team set in ` +
          `place of the ${limits.planName} plan's. Ask support to change it.`
      : `Plan limit reached: the ${limits.planName} plan allows ${WHAT[limit](max)}. ` +
          "An owner or admin can upgrade with startCheckout (or changePlan) to raise it.",
    { limit, max, plan: limits.planCode, overridden },
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
