import { z } from "zod";

/**
 * Organization slugs: globally unique (the organization_slugs table's primary key decides), used in URLs
 * and as the host name `{slug}.{BASE_DOMAIN}`, so they must be valid DNS labels.
 */

/**
 * Names that would pass for the platform's own hosts or pages (`admin.coditect.app`): nobody may claim
 * them, so they cannot be used to impersonate the platform on a log-in page.
 */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  "admin",
  "api",
  "app",
  "assets",
  "auth",
  "billing",
  "blog",
  "cdn",
  "coditect",
  "dashboard",
  "docs",
  "gateway",
  "graphql",
  "help",
  "internal",
  "login",
  "mail",
  "platform",
  "root",
  "security",
  "signup",
  "static",
  "status",
  "support",
  "system",
  "www",
]);

/** 3-40 characters: lower-case letters, digits and single hyphens, starting and ending alphanumeric. */
export const slugSchema = z
  .string()
  .trim()
  .min(3, "must be at least 3 characters")
  .max(40, "must be at most 40 characters")
  .regex(
    /^[a-z0-9]+(-[a-z0-9]+)*$/,
    "must be lower-case letters, digits and single hyphens, starting and ending with a letter or digit",
  )
  .refine((slug) => !RESERVED_SLUGS.has(slug), "is reserved");

/** `Acme Inc.` -> `acme-inc`; short, empty or reserved names get an `org-` prefix. */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 35)
    .replace(/-+$/, "");
  return slug.length >= 3 && !RESERVED_SLUGS.has(slug) ? slug : `org-${slug}`.replace(/-+$/, "");
}

/** The one delegate slug claiming needs: a raw transaction's (sign-up) or a tenant-scoped one's. */
export interface SlugWriter {
  organizationSlug: {
    createMany(args: {
      data: Array<{ slug: string; tenantId: string }>;
      skipDuplicates: true;
    }): PromiseLike<{ count: number }>;
  };
}

/** Claims the first free slug: `acme`, then `acme-2f9k`... (the slug table's primary key decides). */
export async function claimFreeSlug(tx: SlugWriter, base: string, tenantId: string): Promise<string> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const slug = attempt === 0 ? base : `${base}-${Math.random().toString(36).slice(2, 6)}`;
    const created = await tx.organizationSlug.createMany({
      data: [{ slug, tenantId }],
      skipDuplicates: true,
    });
    if (created.count === 1) return slug;
  }
  throw new Error(`could not find a free slug for ${base}`);
}
