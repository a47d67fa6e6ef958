import { randomUUID } from "node:crypto";
import type { Logger } from "@app/common";
import type { Redis } from "ioredis";

/**
 * Open realtime subscriptions per tenant, shared by every gateway: a Redis sorted set of slots whose
 * score is an expiry. A gateway keeps its slots alive while their streams are open and removes them
 * when they end; a gateway that dies stops refreshing, and its slots lapse within SLOT_TTL_MS.
 */
const slotsKey = (tenantId: string) => `subscriptions:open:${tenantId}`;
const SLOT_TTL_MS = 90_000;
const REFRESH_MS = 30_000;

/** Drops lapsed slots, then takes one unless `max` are open already (-1: no limit). */
const TAKE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local max = tonumber(ARGV[4])
if max >= 0 and redis.call('ZCARD', KEYS[1]) >= max then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

export interface SubscriptionSlots {
  /** A slot for one more open subscription of the tenant, or null when `max` are open. */
  take(tenantId: string, max: number): Promise<string | null>;
  release(slot: string): void;
  close(): void;
}

export function createSubscriptionSlots(redis: Redis, logger: Logger): SubscriptionSlots {
  const gateway = randomUUID();
  let counter = 0;
  const held = new Map<string, string>();
  const refresh = setInterval(() => {
    if (held.size === 0) return;
    const expiry = Date.now() + SLOT_TTL_MS;
    const pipeline = redis.pipeline();
    for (const [slot, tenantId] of held) pipeline.zadd(slotsKey(tenantId), "XX", expiry, slot);
    pipeline.exec().catch((error) => logger.warn({ err: error }, "subscription slots not refreshed"));
  }, REFRESH_MS);
  refresh.unref();
  return {
    async take(tenantId, max) {
      const slot = `${gateway}:${++counter}`;
      const now = Date.now();
      const taken = await redis.eval(
        TAKE,
        1,
        slotsKey(tenantId),
        now,
        now + SLOT_TTL_MS,
        slot,
        max,
        SLOT_TTL_MS * 2,
      );
      if (Number(taken) !== 1) return null;
      held.set(slot, tenantId);
      return slot;
    },
    release(slot) {
      const tenantId = held.get(slot);
      if (!tenantId) return;
      held.delete(slot);
      redis
        .zrem(slotsKey(tenantId), slot)
        .catch((error) => logger.warn({ err: error }, "subscription slot not released"));
    },
    close() {
      clearInterval(refresh);
    },
  };
}
