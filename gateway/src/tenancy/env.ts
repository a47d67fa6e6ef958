import { z } from "zod";

/** The gateway's tenancy settings (tenancy.ts), spread into its env schema. */
export const tenancyEnvShape = {
  /**
   * The platform's own domain: `{slug}.{BASE_DOMAIN}` names an organization for public, pre-login
   * queries (`currentOrganizationByHost`). Unset: only verified custom domains name one.
   */
  BASE_DOMAIN: z
    .string()
    .trim()
    .toLowerCase()
    .regex(
      /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/,
      "must be a domain name such as coditect.app",
    )
    .optional(),
  /**
   * Seconds an organization's status and a host's organization are cached. With Redis a change applies
   * at once; without it (or if the announcement is lost) within this time.
   */
  ORGANIZATION_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(3_600).default(30),
};
