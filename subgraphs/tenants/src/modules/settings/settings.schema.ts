import { limitOverride, planLimitOverridesSchema } from "@app/billing/limits";
import { z } from "zod";

/**
 * The `organizations.settings` column: typed here, validated on every write and parsed on every read
 * (defaults fill what a row does not hold, so adding a setting needs no data migration).
 */
export const FEATURE_FLAGS = ["ADVANCED_SEARCH", "REALTIME_BOARD", "API_ACCESS", "BETA_FEATURES"] as const;
export const WEEKDAYS = ["MONDAY", "SUNDAY", "SATURDAY"] as const;

/** Custom domains an organization may claim when no override says otherwise. */
export const DEFAULT_MAX_CUSTOM_DOMAINS = 5;

const locale = z
  .string()
  .trim()
  .min(2)
  .max(35)
  .refine((tag) => {
    try {
      return Intl.getCanonicalLocales(tag).length === 1;
    } catch {
      return false;
    }
  }, "must be a BCP 47 language tag such as en-GB");

const timeZone = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat("en", { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, "must be an IANA time zone such as Europe/Paris");

const brandColor = z.string().regex(/^#[0-9a-fA-F]{6}$/, "must be a colour as #rrggbb");

/** Billing's checks read the project and member overrides (packages/billing); this subgraph the domains'. */
export const limitsSchema = planLimitOverridesSchema.extend({
  maxCustomDomains: limitOverride.nullable().default(null),
});

export const settingsSchema = z.object({
  featureFlags: z.array(z.enum(FEATURE_FLAGS)).default([]),
  limits: limitsSchema.default({ maxProjects: null, maxMembers: null, maxCustomDomains: null }),
  preferences: z
    .object({
      locale: locale.default("en"),
      timeZone: timeZone.default("UTC"),
      weekStartsOn: z.enum(WEEKDAYS).default("MONDAY"),
      brandColor: brandColor.nullable().default(null),
    })
    .default({ locale: "en", timeZone: "UTC", weekStartsOn: "MONDAY", brandColor: null }),
});
export type OrganizationSettings = z.infer<typeof settingsSchema>;
export type OrganizationLimits = z.infer<typeof limitsSchema>;

/** What a tenant ADMIN may change (limits are the platform's to set). */
export const settingsUpdateSchema = z.object({
  featureFlags: z
    .array(z.enum(FEATURE_FLAGS))
    .max(FEATURE_FLAGS.length)
    .transform((flags) => [...new Set(flags)])
    .nullish(),
  preferences: z
    .object({
      locale: locale.nullish(),
      timeZone: timeZone.nullish(),
      weekStartsOn: z.enum(WEEKDAYS).nullish(),
      brandColor: brandColor.nullish(),
    })
    .nullish(),
});

/** A stored value, defaults filled in. A row that does not parse is a bug: it gets the defaults. */
export function readSettings(stored: unknown): OrganizationSettings {
  const parsed = settingsSchema.safeParse(stored ?? {});
  return parsed.success ? parsed.data : settingsSchema.parse({});
}
