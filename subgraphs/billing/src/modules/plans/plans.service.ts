import type { Context } from "../../context.ts";

export function listPlans(ctx: Context) {
  return ctx.plans.findMany({ orderBy: [{ monthlyPriceCents: "asc" }, { code: "asc" }] });
}
