import { appError, ErrorCode, notFound } from "@app/common";
import { parseInput } from "@app/common/validation";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { requireOwnerUser } from "./owner.ts";

/**
 * deleteOrganization schedules; the worker's organization.purge job (every minute) hard-deletes every
 * row of each organization whose date has passed, in every table with a tenant column
 * (worker/src/jobs/tenant-data.ts). Until then the organization works as before and can be restored.
 */

const deleteInput = z.object({ confirmSlug: z.string().trim().min(1, "must not be empty") });

export async function deleteOrganization(ctx: Context, input: unknown) {
  const { tenantId } = requireOwnerUser(ctx);
  const { confirmSlug } = parseInput(deleteInput, input);
  const current = await ctx.loaders.organizationById.load(tenantId);
  if (!current) throw notFound("Organization", tenantId);
  if (confirmSlug !== current.slug)
    throw appError(ErrorCode.BAD_USER_INPUT, "input.confirmSlug: must be the organization's current slug", {
      field: "input.confirmSlug",
    });
  if (current.deletionScheduledAt) return { organization: current };
  const due = new Date(Date.now() + ctx.services.config.ORGANIZATION_DELETION_GRACE_SECONDS * 1000);
  const organization = await ctx.db.organization.update({
    where: { id: tenantId },
    data: { deletionScheduledAt: due },
  });
  ctx.logger.info({ due }, "organization deletion scheduled");
  return { organization };
}

export async function cancelOrganizationDeletion(ctx: Context) {
  const { tenantId } = requireOwnerUser(ctx);
  // Only while it is not yet due: past the date the purge may already be running.
  const { count } = await ctx.db.organization.updateMany({
    where: { id: tenantId, deletionScheduledAt: { gt: new Date() } },
    data: { deletionScheduledAt: null },
  });
  const organization = await ctx.db.organization.findUnique({ where: { id: tenantId } });
  if (!organization) throw notFound("Organization", tenantId);
  if (!count && organization.deletionScheduledAt)
    throw appError(ErrorCode.CONFLICT, "The deletion is already due and can no longer be cancelled.");
  return { organization };
}
