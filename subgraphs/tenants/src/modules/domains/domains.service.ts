import { randomBytes } from "node:crypto";
import { appError, ErrorCode, hasRole, notFound, requirePrincipal, requireRole } from "@app/common";
import { parseInput } from "@app/common/validation";
import { isUniqueViolation, isUuid, newId, type Organization, type OrganizationDomain } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { DEFAULT_MAX_CUSTOM_DOMAINS, readSettings } from "../settings/settings.schema.ts";

/**
 * Custom domains. A claim is free (several organizations may claim one); proof is a TXT record at
 * `_coditect-challenge.<domain>` holding `coditect-verification=<token>`, and only a verified domain is
 * entered into the global `custom_domains` lookup the gateway resolves hosts with. The first
 * organization to prove a domain holds it until it removes it.
 */

/** A DNS label: 1-63 letters, digits or inner hyphens. */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .transform((d) => d.replace(/\.$/, ""))
  .refine((d) => {
    const labels = d.split(".");
    return (
      d.length <= 253 &&
      labels.length >= 2 &&
      labels.every((l) => LABEL.test(l)) &&
      // The top-level label is never all digits: that is an IP address, not a domain.
      /[a-z]/.test(labels.at(-1)!)
    );
  }, "must be a domain name such as login.example.com (internationalised names in their xn-- form)");

const addInput = z.object({ domain: domainName });
const idInput = z.object({ id: z.string().refine(isUuid, "must be a domain id") });

export const challengeName = (domain: string) => `_coditect-challenge.${domain}`;
export const challengeValue = (token: string) => `coditect-verification=${token}`;

export function verificationRecord(domain: OrganizationDomain) {
  return { name: challengeName(domain.domain), value: challengeValue(domain.verificationToken) };
}

/** ADMIN or higher see the domains; anyone else, and any other organization, an empty list. */
export function organizationDomains(ctx: Context, organization: Organization) {
  const principal = requirePrincipal(ctx);
  if (organization.id !== principal.tenantId || !hasRole(principal, "ADMIN")) return [];
  return ctx.db.organizationDomain.findMany({ orderBy: { createdAt: "asc" } });
}

async function findDomain(ctx: Context, id: string) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const domain = await ctx.db.organizationDomain.findUnique({ where: { tenantId_id: { tenantId, id } } });
  // Another tenant's id looks exactly like an unknown one.
  if (!domain) throw notFound("Domain", id);
  return domain;
}

export async function addOrganizationDomain(ctx: Context, input: unknown) {
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const { domain } = parseInput(addInput, input);
  try {
    const created = await ctx.db.$transaction(async (tx) => {
      const organization = await tx.organization.update({
        where: { id: tenantId },
        data: { updatedAt: new Date() }, // the row lock: two concurrent claims cannot both pass the limit
      });
      const max = readSettings(organization.settings).limits.maxCustomDomains ?? DEFAULT_MAX_CUSTOM_DOMAINS;
      if ((await tx.organizationDomain.count()) >= max) {
        throw appError(ErrorCode.PLAN_LIMIT, `This organization may have at most ${max} custom domains.`, {
          limit: max,
        });
      }
      return tx.organizationDomain.create({
        data: { tenantId, id: newId(), domain, verificationToken: randomBytes(20).toString("hex") },
      });
    });
    return { domain: created };
  } catch (error) {
    if (isUniqueViolation(error))
      throw appError(ErrorCode.CONFLICT, "input.domain: this organization has already added it", {
        field: "input.domain",
      });
    throw error;
  }
}

/** Joined character strings of each TXT record; an unanswered lookup is no record, whatever the cause. */
async function txtRecords(ctx: Context, name: string): Promise<string[]> {
  try {
    return (await ctx.services.dns.resolveTxt(name)).map((chunks) => chunks.join(""));
  } catch (error) {
    ctx.logger.info({ err: error, name }, "TXT lookup failed");
    return [];
  }
}

export async function verifyOrganizationDomain(ctx: Context, input: unknown) {
  const { id } = parseInput(idInput, input);
  const domain = await findDomain(ctx, id);
  if (domain.verifiedAt) return { domain };
  const expected = challengeValue(domain.verificationToken);
  if (!(await txtRecords(ctx, challengeName(domain.domain))).includes(expected)) {
    throw appError(
      ErrorCode.BAD_USER_INPUT,
      `No TXT record ${challengeName(domain.domain)} holds "${expected}" yet; DNS changes can take a while to appear.`,
      { field: "input.id" },
    );
  }
  try {
    const verified = await ctx.db.$transaction(async (tx) => {
      // The global lookup's primary key decides when two organizations prove the same domain.
      await tx.customDomain.create({ data: { domain: domain.domain, tenantId: domain.tenantId } });
      return tx.organizationDomain.update({
        where: { tenantId_id: { tenantId: domain.tenantId, id } },
        data: { verifiedAt: new Date() },
      });
    });
    await ctx.services.notifier.changed({ hosts: [{ kind: "domain", name: domain.domain }] });
    return { domain: verified };
  } catch (error) {
    if (isUniqueViolation(error))
      throw appError(ErrorCode.CONFLICT, "This domain is verified by another organization.", {
        field: "input.id",
      });
    throw error;
  }
}

export async function removeOrganizationDomain(ctx: Context, input: unknown) {
  const { id } = parseInput(idInput, input);
  const domain = await findDomain(ctx, id);
  await ctx.db.$transaction(async (tx) => {
    // Scoped: deletes the lookup row only if it is this tenant's (another may have verified it).
    await tx.customDomain.deleteMany({ where: { domain: domain.domain } });
    await tx.organizationDomain.delete({ where: { tenantId_id: { tenantId: domain.tenantId, id } } });
  });
  await ctx.services.notifier.changed({ hosts: [{ kind: "domain", name: domain.domain }] });
  return { removedId: id };
}
