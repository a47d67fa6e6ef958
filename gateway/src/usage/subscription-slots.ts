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
  /** Stops refreshing and removes the slots released so far (best effort: the rest lapse). */
  close(): Promise<void>;
}

/**
 * How long released slots wait to be removed together: a gateway that shuts down, or a page of tabs
 * that closes, ends thousands of subscriptions within a second, and one ZREM each (5,000 at the end of
 * the realtime benchmark) outran the Redis client's 250 ms command timeout; the slots stayed counted
 * until they lapsed, against the tenant's limit.
 */
const RELEASE_BATCH_MS = 50;

export function createSubscriptionSlots(
  redis: Redis,
  logger: Logger,
  options: { refreshMs?: number } = {},
): SubscriptionSlots {
  const gateway = randomUUID();
  let counter = 0;
  const held = new Map<string, string>();
  /** Released slots not yet removed from Redis, with their tenant and when they were released. */
  const released = new Map<string, { tenantId: string; at: number }>();
  let batch: NodeJS.Timeout | null = null;

  /** Removes the released slots, one ZREM per tenant; on failure they wait for the next try. */
  async function removeReleased(): Promise<void> {
    if (released.size === 0) return;
    const taken = [...released];
    released.clear();
    const byTenant = new Map<string, string[]>();
    for (const [slot, { tenantId }] of taken) {
      const slots = byTenant.get(tenantId);
      if (slots) slots.push(slot);
      else byTenant.set(tenantId, [slot]);
    }
    const pipeline = redis.pipeline();
    for (const [tenantId, slots] of byTenant) pipeline.zrem(slotsKey(tenantId), ...slots);
    const failed = await pipeline.exec().then(
      (results) => (results ?? []).some(([error]) => error),
      () => true,
    );
    if (!failed) return;
    // Tried again with the next refresh, until they would have lapsed anyway.
    const now = Date.now();
    for (const [slot, entry] of taken) if (now - entry.at < SLOT_TTL_MS) released.set(slot, entry);
    logger.warn(
      { slots: taken.length },
      "subscription slots not released; trying again with the next refresh",
    );
  }

  const refresh = setInterval(() => {
    void removeReleased();
    if (held.size === 0) return;
    const expiry = Date.now() + SLOT_TTL_MS;
    const pipeline = redis.pipeline();
    for (const [slot, tenantId] of held) pipeline.zadd(slotsKey(tenantId), "XX", expiry, slot);
    pipeline.exec().catch((error) => logger.warn({ err: error }, "subscription slots not refreshed"));
  }, options.refreshMs ?? REFRESH_MS);
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
      released.set(slot, { tenantId, at: Date.now() });
      batch ??= setTimeout(() => {
        batch = null;
        void removeReleased();
      }, RELEASE_BATCH_MS);
    },
    async close() {
      clearInterval(refresh);
      if (batch) clearTimeout(batch);
      batch = null;
      await removeReleased();
    },
  };
}
