import { dropPlanLimits } from "@app/billing/limits-cache";
import { forbidden, notFound, requirePrincipal } from "@app/common";
import { pageSize } from "@app/common/pagination";
import { parseInput, text } from "@app/common/validation";
import { isUuid } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { limitsSchema } from "../settings/settings.schema.ts";
import type { Actor, OrganizationStatusValue } from "./cross-tenant.ts";

export type { PlatformOrganizationRow } from "./cross-tenant.ts";

/**
 * Platform administration: a role outside every tenant (the platform_admins table, granted with
 * `npm run admin:grant -- <email>`), checked on every call against the table, so a revoked
 * administrator loses access at once. Tenant roles give nothing here, OWNER included.
 */
async function requirePlatformAdmin(ctx: Context): Promise<Actor> {
  const principal = requirePrincipal(ctx);
  if (principal.credential !== "user" || !(await ctx.platform.isAdmin(principal.userId)))
    throw forbidden("This needs a platform administrator.");
  return { userId: principal.userId, requestId: ctx.requestId };
}

const organizationId = z.string().refine(isUuid, "must be an organization id");
const suspendInput = z.object({ organizationId, reason: text(1, 500) });
const reactivateInput = z.object({ organizationId });
const limitsInput = limitsSchema.extend({ organizationId });

export async function platformOrganizations(
  ctx: Context,
  args: {
    search?: string | null;
    status?: OrganizationStatusValue | null;
    first?: number | null;
    after?: string | null;
  },
) {
  const actor = await requirePlatformAdmin(ctx);
  const search = parseInput(z.object({ search: text(0, 200).nullish() }), { search: args.search }).search;
  return ctx.platform.list(actor, {
    search: search || null,
    status: args.status ?? null,
    take: pageSize(args, 100),
    after: args.after ?? null,
  });
}

export async function platformOrganization(ctx: Context, id: string) {
  const actor = await requirePlatformAdmin(ctx);
  return ctx.platform.view(actor, id);
}

export async function suspendOrganization(ctx: Context, input: unknown) {
  const actor = await requirePlatformAdmin(ctx);
  const data = parseInput(suspendInput, input);
  return changed(
    ctx,
    data.organizationId,
    await ctx.platform.setStatus(actor, data.organizationId, "SUSPENDED", data.reason),
  );
}

export async function reactivateOrganization(ctx: Context, input: unknown) {
  const actor = await requirePlatformAdmin(ctx);
  const data = parseInput(reactivateInput, input);
  return changed(
    ctx,
    data.organizationId,
    await ctx.platform.setStatus(actor, data.organizationId, "ACTIVE", null),
  );
}

export async function setOrganizationLimits(ctx: Context, input: unknown) {
  const actor = await requirePlatformAdmin(ctx);
  const { organizationId: id, ...limits } = parseInput(limitsInput, input);
  const organization = await ctx.platform.setLimits(actor, id, limits);
  if (!organization) throw notFound("Organization", id);
  // Billing's checks (projects, identity) cache the limits with the overrides: drop them everywhere, as
  // a subscription change does, so the new numbers hold on the next request. A failure only delays
  // that to the caches' lifetime.
  await dropPlanLimits(ctx.services.limitsRedis, id, ctx.logger);
  return { organization };
}

/** After a status change: the gateways drop what they cached, so the change holds at once. */
async function changed<T>(ctx: Context, id: string, organization: T | null) {
  if (!organization) throw notFound("Organization", id);
  await ctx.services.notifier.changed({ tenantId: id });
  return { organization };
}
