import type { Context } from "../../context.ts";

/** The plan every organization is on until it subscribes to another (seeded by a migration). */
export const FREE_PLAN_CODE = "FREE";

export function listPlans(ctx: Context) {
  return ctx.plans.findMany({ orderBy: [{ monthlyPriceCents: "asc" }, { code: "asc" }] });
}
