import { randomUUID } from "node:crypto";
import {
  countOperation,
  createPlanLimitsCache,
  type PlanLimits,
  type PlanLimitsSource,
  planLimitError,
} from "@app/billing";
import { INTERNAL_CONTEXT_HEADER, type Logger, type Principal, signInternalContext } from "@app/common";
import type { Plugin } from "graphql-yoga";
import type { Redis } from "ioredis";
import type { SubscriptionSlots } from "./subscription-slots.ts";

/** The principal of the gateway's own calls: no user, no role; billing reads only the tenant. */
const NO_USER = "00000000-0000-0000-0000-000000000000";

/**
 * Plan limits at the gateway, which has no database: billing's GET /internal/plan-limits on a miss,
 * behind the shared two-level cache (dropped when billing or the worker changes a subscription).
 * Concurrent asks for one tenant share one read: a tenant's first request in a while asks as soon as
 * its credential is verified (app.ts) and again in admission, before the first read has answered.
 */
export function createGatewayPlanLimits(options: {
  billingUrl: () => string;
  internalSecret: string;
  redisUrl: string;
  logger: Logger;
}): PlanLimitsSource {
  const cache = createPlanLimitsCache({
    redisUrl: options.redisUrl,
    logger: options.logger,
    async load(tenantId) {
      const token = await signInternalContext(options.internalSecret, {
        requestId: randomUUID(),
        principal: { tenantId, userId: NO_USER, roles: [] },
      });
      const response = await fetch(new URL("/internal/plan-limits", options.billingUrl()), {
        headers: { [INTERNAL_CONTEXT_HEADER]: token },
        signal: AbortSignal.timeout(2_000),
      });
      if (!response.ok) throw new Error(`billing answered ${response.status} for the plan limits`);
      return (await response.json()) as PlanLimits;
    },
  });
  const inFlight = new Map<string, Promise<PlanLimits>>();
  return {
    get(tenantId) {
      let pending = inFlight.get(tenantId);
      if (!pending) {
        pending = cache.get(tenantId).finally(() => inFlight.delete(tenantId));
        inFlight.set(tenantId, pending);
      }
      return pending;
    },
    close: () => cache.close(),
  };
}

/**
 * Counts every operation of a tenant (HTTP and WebSocket alike) in Redis, for usage records and
 * Stripe's meter, and refuses one with PLAN_LIMIT once the month's operations reach the plan's limit. It
 * runs just before execution, after every other limit, so refused documents are neither counted nor
 * sent to a subgraph. If Redis or the limits cannot be read, the operation goes through uncounted: the
 * meter being down must not take the API down.
 */
export function useUsageMetering(options: {
  redis: Redis;
  limits: PlanLimitsSource;
  /** Open subscriptions per tenant, against the plan's subscription connections. */
  slots: SubscriptionSlots;
  logger: Logger;
}): Plugin {
  /** The tenant's limits when the operation is counted and allowed; refuses it otherwise. */
  const meter = async (
    context: unknown,
    refuse: (result: { errors: unknown[] }) => void,
  ): Promise<{ tenantId: string; limits: PlanLimits } | null> => {
    const principal = (context as { principal?: Principal | null }).principal;
    if (!principal) return null;
    let outcome: { allowed: boolean };
    let limits: PlanLimits;
    try {
      limits = await options.limits.get(principal.tenantId);
      outcome = await countOperation(options.redis, principal.tenantId, limits.maxOperationsPerMonth);
    } catch (error) {
      options.logger.warn({ err: error, tenantId: principal.tenantId }, "usage not counted");
      return null;
    }
    if (outcome.allowed) return { tenantId: principal.tenantId, limits };
    refuse({ errors: [planLimitError("operations", limits, limits.maxOperationsPerMonth ?? 0)] });
    return null;
  };
  return {
    onExecute: async ({ args, setResultAndStopExecution }) => {
      await meter(args.contextValue, (result) => setResultAndStopExecution(result as never));
    },
    // A subscription also holds one of the tenant's slots until its stream ends.
    onSubscribe: async ({ args, setResultAndStopExecution }) => {
      const refuse = (result: { errors: unknown[] }) => setResultAndStopExecution(result as never);
      const metered = await meter(args.contextValue, refuse);
      const max = metered?.limits.maxSubscriptionConnections;
      if (!metered || max === null || max === undefined) return;
      let slot: string | null;
      try {
        slot = await options.slots.take(metered.tenantId, max);
      } catch (error) {
        options.logger.warn({ err: error, tenantId: metered.tenantId }, "subscription slot not checked");
        return;
      }
      if (!slot) {
        refuse({ errors: [planLimitError("subscriptions", metered.limits, max)] });
        return;
      }
      const taken = slot;
      return {
        onSubscribeResult: () => ({ onEnd: () => options.slots.release(taken) }),
        onSubscribeError: () => options.slots.release(taken),
      };
    },
  } as Plugin;
}
