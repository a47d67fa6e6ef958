import { forbidden, requirePrincipal, requireRole } from "@app/common";
import { parseInput } from "@app/common/validation";
import type { Organization } from "@app/db";
import type { Context } from "../../context.ts";
import { type OrganizationSettings, readSettings, settingsUpdateSchema } from "./settings.schema.ts";

/** Members only: another organization (an entity reference from elsewhere) shows nothing. */
export function organizationSettings(ctx: Context, organization: Organization): OrganizationSettings {
  const { tenantId } = requirePrincipal(ctx);
  if (organization.id !== tenantId) throw forbidden("Only members see an organization's settings.");
  return readSettings(organization.settings);
}

/** ADMIN or higher: feature flags and preferences; limits and anything not given are kept. */
export async function updateOrganizationSettings(ctx: Context, input: unknown) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const update = parseInput(settingsUpdateSchema, input);
  const organization = await ctx.db.$transaction(async (tx) => {
    // Prisma has no SELECT ... FOR UPDATE: touching the row takes its lock, so two concurrent changes
    // of different preferences both survive.
    const current = await tx.organization.update({
      where: { id: tenantId },
      data: { updatedAt: new Date() },
    });
    const settings = readSettings(current.settings);
    const p = update.preferences ?? {};
    const next: OrganizationSettings = {
      ...settings,
      featureFlags: update.featureFlags ?? settings.featureFlags,
      preferences: {
        locale: p.locale ?? settings.preferences.locale,
        timeZone: p.timeZone ?? settings.preferences.timeZone,
        weekStartsOn: p.weekStartsOn ?? settings.preferences.weekStartsOn,
        // null clears it; absent keeps it.
        brandColor: p.brandColor === undefined ? settings.preferences.brandColor : p.brandColor,
      },
    };
    return tx.organization.update({ where: { id: tenantId }, data: { settings: next } });
  });
  return { organization };
}
