import { envBoolean } from "@app/common/env";
import { z } from "zod";

const perMinute = z.coerce.number().int().min(1).max(1_000_000);

/** `FREE=300,PRO=3000`: requests per minute by plan code. */
const planRates = z.string().transform((value, ctx) => {
  const rates: Record<string, number> = {};
  for (const entry of value
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean)) {
    const match = /^([A-Z][A-Z0-9_]*)=(\d+)$/.exec(entry);
    if (!match || Number(match[2]) < 1) {
      ctx.addIssue({ code: "custom", message: `"${entry}" is not PLAN_CODE=<requests per minute>` });
      return z.NEVER;
    }
    rates[match[1]!] = Number(match[2]);
  }
  return rates;
});

/** Rate-limit settings (README: gateway settings); limits/rate-limit.ts. */
export const rateLimitEnvShape = {
  /** Default on in production, off elsewhere (tests and benchmarks run many clients from one address). */
  RATE_LIMITS: envBoolean.optional(),
  /**
   * Requests per minute of an organization (its users and API keys together), by plan code. The plans
   * carry no rate of their own: this table is where it is set.
   */
  RATE_LIMIT_PLANS: planRates.default({ FREE: 600, PRO: 3_000, ENTERPRISE: 12_000 }),
  /** For an organization whose plan is not in RATE_LIMIT_PLANS or cannot be read right now. */
  RATE_LIMIT_TENANT_PER_MINUTE: perMinute.default(600),
  /** Requests per minute of one API key, within its organization's. */
  RATE_LIMIT_API_KEY_PER_MINUTE: perMinute.default(300),
  /** Requests per minute from one client address without credentials. */
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: perMinute.default(120),
  /**
   * Proxies in front of the gateway that append the client's address to X-Forwarded-For (a load
   * balancer: 1). 0 (default): the TCP peer is the client and the header is ignored.
   */
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
};
