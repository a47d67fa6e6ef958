import { ErrorCode, type Principal } from "@app/common";
import { GraphQLError } from "graphql";
import type { RateLimitDecision, RateLimiter, RateLimitRule } from "./rate-limit.ts";

const MINUTE_MS = 60_000;

export interface RateLimitSettings {
  /** Requests per minute an organization may make, by plan code (API keys and users together). */
  tenantPerMinuteByPlan: Readonly<Record<string, number>>;
  /** For an organization whose plan is not in the table (or cannot be told right now). */
  tenantPerMinute: number;
  /** Requests per minute of one API key (within its organization's). */
  apiKeyPerMinute: number;
  /** Requests per minute from one client address without credentials (sign-up, log-in, public queries). */
  anonymousPerMinute: number;
}

export interface RateLimitPolicyOptions {
  limiter: RateLimiter;
  settings: RateLimitSettings;
  /** The organization's plan code, from billing; null when unknown (the default rate applies). */
  planCodeOf?(tenantId: string): Promise<string | null>;
  /** Called with the scope of each refusal (metrics). */
  onRefused?(rule: RateLimitRule): void;
}

/** 429 with Retry-After (whole seconds, at least 1) and `extensions.code` RATE_LIMITED. */
function rateLimitedError(decision: Extract<RateLimitDecision, { allowed: false }>) {
  const retryAfter = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
  const who = { tenant: "this organization", apiKey: "this API key", address: "this address" }[
    decision.rule.scope
  ];
  return new GraphQLError(
    `Rate limit reached: ${who} may make ${decision.rule.limit} requests per minute. Retry in ${retryAfter} s.`,
    {
      extensions: {
        code: ErrorCode.RATE_LIMITED,
        scope: decision.rule.scope,
        limit: decision.rule.limit,
        retryAfter,
        http: { status: 429, headers: { "Retry-After": String(retryAfter) } },
      },
    },
  );
}

/**
 * Who a request is counted against: an API key against its organization and itself, a user against
 * their organization, an anonymous caller against its address. The organization's rate comes from its
 * plan. Everything a request does at the gateway (HTTP request, WebSocket subscription) counts once.
 */
export function createRateLimitPolicy(options: RateLimitPolicyOptions) {
  const { limiter, settings } = options;

  async function tenantLimit(tenantId: string): Promise<number> {
    let plan: string | null = null;
    try {
      plan = options.planCodeOf ? await options.planCodeOf(tenantId) : null;
    } catch {
      // Billing cannot tell right now: the default rate, rather than refusing or not limiting.
    }
    return (plan !== null && settings.tenantPerMinuteByPlan[plan]) || settings.tenantPerMinute;
  }

  async function rulesFor(principal: Principal | null, clientAddress: string): Promise<RateLimitRule[]> {
    if (!principal)
      return [
        { scope: "address", key: clientAddress, limit: settings.anonymousPerMinute, periodMs: MINUTE_MS },
      ];
    const rules: RateLimitRule[] = [
      {
        scope: "tenant",
        key: principal.tenantId,
        limit: await tenantLimit(principal.tenantId),
        periodMs: MINUTE_MS,
      },
    ];
    // For an API key, userId is the key's own id.
    if (principal.credential === "apiKey")
      rules.push({
        scope: "apiKey",
        key: principal.userId,
        limit: settings.apiKeyPerMinute,
        periodMs: MINUTE_MS,
      });
    return rules;
  }

  return {
    /** Charges the request, or throws RATE_LIMITED (429, Retry-After). */
    async enforce(principal: Principal | null, clientAddress: string): Promise<void> {
      const decision = await limiter.check(await rulesFor(principal, clientAddress));
      if (decision.allowed) return;
      options.onRefused?.(decision.rule);
      throw rateLimitedError(decision);
    },
  };
}
