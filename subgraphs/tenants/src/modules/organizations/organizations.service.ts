import { appError, ErrorCode, forbidden, requirePrincipal, requireRole, unauthenticated } from "@app/common";
import { claimFreeSlug, slugify, slugSchema } from "@app/common/slugs";
import { parseInput, text } from "@app/common/validation";
import { isUniqueViolation, newId } from "@app/db";
import { appendAuditEntries } from "@app/db/audit";
import { z } from "zod";
import type { Context } from "../../context.ts";

const createInput = z.object({ name: text(1, 200), slug: slugSchema.nullish() });
const renameInput = z.object({ name: text(1, 200) });
const changeSlugInput = z.object({ slug: slugSchema });

const slugTaken = () =>
  appError(ErrorCode.CONFLICT, "input.slug: is taken by another organization", { field: "input.slug" });

export function currentOrganization(ctx: Context) {
  const { tenantId } = requirePrincipal(ctx);
  return ctx.loaders.organizationById.load(tenantId);
}

/** Entity resolution for other subgraphs: another tenant's organization resolves to null. */
export function organizationReference(ctx: Context, id: string) {
  return ctx.loaders.organizationById.load(id);
}

/** The caller's current organization, which must exist (it is the token's). */
async function ownOrganization(ctx: Context, tenantId: string) {
  const organization = await ctx.loaders.organizationById.load(tenantId);
  if (!organization) throw unauthenticated("The organization of this token no longer exists.");
  return organization;
}

/**
 * Another organization for the signed-in user, who becomes its OWNER. Everything is written through a
 * client scoped to the new tenant, in one transaction, as sign-up does: the organization, its slug and
 * the membership (identity's table, with the member's profile copied from their current membership).
 */
export async function createOrganization(ctx: Context, input: unknown) {
  const principal = requirePrincipal(ctx);
  if (principal.credential !== "user") throw forbidden("Only a signed-in user can create an organization.");
  const data = parseInput(createInput, input);
  const me = await ctx.db.membership.findUnique({
    where: { tenantId_userId: { tenantId: principal.tenantId, userId: principal.userId } },
  });
  if (!me) throw unauthenticated("Your membership of this organization no longer exists.");
  const tenantId = newId();
  try {
    const organization = await ctx.newTenant(tenantId).$transaction(async (tx) => {
      const slug = data.slug
        ? (await tx.organizationSlug.create({ data: { slug: data.slug, tenantId } })).slug
        : await claimFreeSlug(tx, slugify(data.name), tenantId);
      const created = await tx.organization.create({ data: { id: tenantId, name: data.name, slug } });
      await tx.membership.create({
        data: { tenantId, userId: me.userId, role: "OWNER", email: me.email, name: me.name },
      });
      // The new organization's log starts with its creation (the request's own log is the caller's
      // current organization's, which this transaction does not touch).
      await appendAuditEntries(tx, [
        {
          tenantId,
          actor: { type: "USER", id: principal.userId },
          action: "createOrganization",
          targetType: "Organization",
          targetId: tenantId,
          requestId: ctx.requestId,
        },
      ]);
      return created;
    });
    ctx.logger.info({ organizationId: tenantId }, "organization created");
    return { organization };
  } catch (error) {
    if (isUniqueViolation(error)) throw slugTaken();
    throw error;
  }
}

export async function renameOrganization(ctx: Context, input: unknown) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const { name } = parseInput(renameInput, input);
  const organization = await ctx.db.organization.update({ where: { id: tenantId }, data: { name } });
  return { organization };
}

/**
 * OWNER only. The new slug is claimed and the old one released in one transaction: the old slug stops
 * resolving at once (and the gateways' cached hosts are told).
 */
export async function changeOrganizationSlug(ctx: Context, input: unknown) {
  const { tenantId } = requireRole(ctx.principal, "OWNER");
  const { slug } = parseInput(changeSlugInput, input);
  const current = await ownOrganization(ctx, tenantId);
  if (current.slug === slug) return { organization: current };
  try {
    const organization = await ctx.db.$transaction(async (tx) => {
      await tx.organizationSlug.create({ data: { slug, tenantId } });
      await tx.organizationSlug.deleteMany({ where: { slug: current.slug } });
      return tx.organization.update({ where: { id: tenantId }, data: { slug } });
    });
    await ctx.services.notifier.changed({
      hosts: [
        { kind: "slug", name: current.slug },
        { kind: "slug", name: slug },
      ],
    });
    return { organization };
  } catch (error) {
    if (isUniqueViolation(error)) throw slugTaken();
    throw error;
  }
}

/** Public, pre-login: by slug, or the organization the request's Host names (resolved by the gateway). */
export function organizationBySlug(ctx: Context, slug: string) {
  const parsed = slugSchema.safeParse(slug);
  return parsed.success ? ctx.directory.publicBySlug(parsed.data) : null;
}

export function currentOrganizationByHost(ctx: Context) {
  return ctx.hostTenantId ? ctx.directory.publicById(ctx.hostTenantId) : null;
}
