import { invalidateAllPlanLimits } from "@app/billing";
import { badUserInput, forbidden, requirePrincipal } from "@app/common";
import { parseInput, text } from "@app/common/validation";
import { z } from "zod";
import type { Context } from "../../context.ts";

export function listPlans(ctx: Context) {
  return ctx.plans.findMany({ orderBy: [{ monthlyPriceCents: "asc" }, { code: "asc" }] });
}

const limit = z.number().int().min(0, "must be 0 or more (null: unlimited)").nullable().optional();
const cents = z.number().int().min(0, "must be 0 or more").optional();
const priceId = z
  .string()
  .regex(/^price_[A-Za-z0-9_]{1,200}$/, "must be a Stripe price id (price_...)")
  .nullable()
  .optional();
const updatePlanInput = z.object({
  code: z.string().trim().toUpperCase().min(1, "must not be empty").max(50),
  name: text(1, 100).optional(),
  monthlyPriceCents: cents,
  yearlyPriceCents: cents,
  stripeMonthlyPriceId: priceId,
  stripeYearlyPriceId: priceId,
  maxProjects: limit,
  maxSeats: limit,
  maxOperationsPerMonth: limit,
  maxSubscriptionConnections: limit,
  features: z.array(text(1, 50)).max(50, "must be at most 50 features").optional(),
});

/**
 * A platform administrator changes a plan (prices, Stripe price ids, limits, features). Tenant roles
 * give nothing here, OWNER included, nor does an API key. Every cached limit is dropped after the write,
 * so every organization on the plan has the new limits at once.
 */
export async function updatePlan(ctx: Context, input: unknown) {
  const principal = requirePrincipal(ctx);
  if (principal.credential !== "user" || !(await ctx.catalogue.isPlatformAdmin(principal.userId)))
    throw forbidden("This needs a platform administrator.");
  const { code, ...changes } = parseInput(updatePlanInput, input);
  if (!(await ctx.plans.findUnique({ where: { code } })))
    throw badUserInput("input.code", `there is no plan ${code}`);
  // Absent fields stay; null ones are written (unlimited, or not sold through Stripe).
  const data = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  const plan = await ctx.catalogue.update(code, data);
  await invalidateAllPlanLimits(ctx.billing.redis).catch((error) =>
    ctx.logger.warn({ err: error }, "could not invalidate cached plan limits"),
  );
  ctx.logger.info({ planCode: code, changed: Object.keys(data), adminId: principal.userId }, "plan updated");
  return { plan };
}
