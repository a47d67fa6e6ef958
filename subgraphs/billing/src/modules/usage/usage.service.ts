import { loadPlanLimits, USAGE_PERIOD_PATTERN, usagePeriod } from "@app/billing";
import { badUserInput, requireRole } from "@app/common";
import type { Context } from "../../context.ts";

/** The organization's flushed usage in one month, and the plan's monthly limit now. */
export async function usage(ctx: Context, period: string | null | undefined) {
  requireRole(ctx.principal, "MEMBER");
  const month = period ?? usagePeriod();
  if (!USAGE_PERIOD_PATTERN.test(month)) throw badUserInput("period", "must be a month, YYYY-MM");
  const [all, reported, limits] = await Promise.all([
    ctx.db.usageRecord.aggregate({ where: { period: month }, _sum: { operations: true } }),
    ctx.db.usageRecord.aggregate({
      where: { period: month, reportedAt: { not: null } },
      _sum: { operations: true },
    }),
    loadPlanLimits(ctx.db, ctx.plans),
  ]);
  return {
    period: month,
    operations: all._sum.operations ?? 0,
    reportedOperations: reported._sum.operations ?? 0,
    limit: limits.maxOperationsPerMonth,
  };
}
