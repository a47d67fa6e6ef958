import type { Logger } from "@app/common";
import { Redis } from "ioredis";
import type { PlanLimits } from "./limits.ts";

/** Published with the tenant id whenever a tenant's subscription or limit overrides change. */
export const LIMITS_CHANNEL = "plan-limits:invalidated";
/**
 * The entry's shape is versioned in its key: entries written before organization overrides counted
 * (`plan-limits:<tenant>`, without them) are never read.
 */
const limitsKey = (tenantId: string) => `plan-limits:v2:${tenantId}`;
/** Bumped on every invalidation: a load that began before it must not store what it read. */
const generationKey = (tenantId: string) => `plan-limits:gen:${tenantId}`;
/**
 * Bumped when the plan catalogue changes, which makes every tenant's entry stale: each entry records
 * the catalogue generation it was read under and counts only while that is still the current one.
 */
const CATALOGUE_GENERATION = "plan-limits:catalogue";
/** The pub/sub message that drops every tenant's in-process entry (a tenant id is never `*`). */
const EVERY_TENANT = "*";

/** Stores the loaded limits only if no invalidation (the tenant's or the catalogue's) happened since the load began. */
const SET_IF_CURRENT = `
if (redis.call('GET', KEYS[2]) or '0') == ARGV[3] and (redis.call('GET', KEYS[3]) or '0') == ARGV[4] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1`;

export interface PlanLimitsSource {
  /** The tenant's limits now. */
  get(tenantId: string): Promise<PlanLimits>;
  close(): Promise<void>;
}

export interface PlanLimitsCacheOptions {
  /** Reads the limits from their source (the database, or the billing service). */
  load(tenantId: string): Promise<PlanLimits>;
  /** Without Redis nothing is cached: every `get` loads (limits are read on rare writes then). */
  redisUrl?: string;
  /** In-process entries; invalidations normally drop them earlier. Default 60 s. */
  localTtlMs?: number;
  /** Shared entries in Redis. Default 10 minutes. */
  redisTtlMs?: number;
  logger: Logger;
}

/**
 * Plan limits cached in two levels, in-process and in Redis, and dropped from both when the
 * subscription or the organization's limit overrides change ({@link invalidatePlanLimits}: a generation
 * bump, a delete and a pub/sub message every process listens to). An entry never outlives the limits'
 * own `validUntil` (a grace period's end).
 * If Redis is down the source is read directly: limits are never guessed.
 */
export function createPlanLimitsCache(options: PlanLimitsCacheOptions): PlanLimitsSource {
  const { load, logger } = options;
  if (!options.redisUrl) return { get: load, close: async () => {} };
  const localTtl = options.localTtlMs ?? 60_000;
  const redisTtl = options.redisTtlMs ?? 600_000;
  // Commands wait for the connection at start, but not long (a second, also on a busy machine): with
  // Redis down the source is read.
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 1_000 });
  const subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  for (const connection of [redis, subscriber])
    connection.on("error", (error) => logger.debug({ err: error }, "plan limits cache: redis error"));
  const local = new Map<string, { limits: PlanLimits; expiresAt: number }>();
  const localGeneration = new Map<string, number>();
  let localEpoch = 0;
  subscriber.on("message", (_channel, tenantId: string) => {
    if (tenantId === EVERY_TENANT) {
      local.clear();
      localEpoch++;
      return;
    }
    local.delete(tenantId);
    localGeneration.set(tenantId, (localGeneration.get(tenantId) ?? 0) + 1);
  });
  // Until the subscription is up, invalidations could be missed: the short local TTL bounds that.
  void subscriber
    .subscribe(LIMITS_CHANNEL)
    .catch((error) => logger.warn({ err: error }, "plan limits cache: not subscribed"));

  const expiry = (limits: PlanLimits, ttl: number) =>
    Math.min(Date.now() + ttl, limits.validUntil ?? Number.POSITIVE_INFINITY);
  const keep = (tenantId: string, limits: PlanLimits, generation: number, epoch: number) => {
    const expiresAt = expiry(limits, localTtl);
    if (localGeneration.get(tenantId) === generation && localEpoch === epoch && expiresAt > Date.now())
      local.set(tenantId, { limits, expiresAt });
  };

  return {
    async get(tenantId) {
      const hit = local.get(tenantId);
      if (hit && hit.expiresAt > Date.now()) return hit.limits;
      if (!localGeneration.has(tenantId)) localGeneration.set(tenantId, 0);
      const generation = localGeneration.get(tenantId)!;
      const epoch = localEpoch;
      let shared: [string | null, string | null, string | null];
      try {
        shared = (await redis.mget(limitsKey(tenantId), generationKey(tenantId), CATALOGUE_GENERATION)) as [
          string | null,
          string | null,
          string | null,
        ];
      } catch (error) {
        logger.warn({ err: error }, "plan limits cache: redis unavailable, reading the source");
        return load(tenantId);
      }
      const [cached, sharedGeneration, catalogueGeneration] = shared;
      const catalogue = catalogueGeneration ?? "0";
      if (cached) {
        const { catalogue: readUnder, ...limits } = JSON.parse(cached) as PlanLimits & { catalogue: string };
        if (readUnder === catalogue && (limits.validUntil === null || limits.validUntil > Date.now())) {
          keep(tenantId, limits, generation, epoch);
          return limits;
        }
      }
      const limits = await load(tenantId);
      const ttl = expiry(limits, redisTtl) - Date.now();
      if (ttl > 0) {
        await redis
          .eval(
            SET_IF_CURRENT,
            3,
            limitsKey(tenantId),
            generationKey(tenantId),
            CATALOGUE_GENERATION,
            JSON.stringify({ ...limits, catalogue }),
            Math.ceil(ttl),
            sharedGeneration ?? "0",
            catalogue,
          )
          .catch((error) => logger.warn({ err: error }, "plan limits cache: could not store"));
      }
      keep(tenantId, limits, generation, epoch);
      return limits;
    },
    async close() {
      redis.disconnect();
      subscriber.disconnect();
    },
  };
}

/**
 * Call after a change of a subscription or of an organization's limit overrides commits: every cache
 * drops the tenant's limits. Without Redis there are no caches to tell (see createPlanLimitsCache).
 */
export async function invalidatePlanLimits(redis: Redis | null, tenantId: string): Promise<void> {
  if (!redis) return;
  await redis
    .multi()
    .incr(generationKey(tenantId))
    .pexpire(generationKey(tenantId), 86_400_000)
    .del(limitsKey(tenantId))
    .publish(LIMITS_CHANNEL, tenantId)
    .exec();
}

/**
 * {@link invalidatePlanLimits} for a change that has already committed: a failure is logged, not
 * thrown, since it only delays the new limits to the caches' lifetime (and the worker's
 * `billing.limits-changed` job, fed by the change's outbox event, drops them again).
 */
export async function dropPlanLimits(
  redis: Redis | null,
  tenantId: string,
  logger: { warn(o: object, m: string): void },
): Promise<void> {
  await invalidatePlanLimits(redis, tenantId).catch((error) =>
    logger.warn({ err: error, tenantId }, "could not invalidate cached plan limits"),
  );
}

/** Call after the plan catalogue changes: every cache drops every tenant's limits. */
export async function invalidateAllPlanLimits(redis: Redis | null): Promise<void> {
  if (!redis) return;
  await redis.multi().incr(CATALOGUE_GENERATION).publish(LIMITS_CHANNEL, EVERY_TENANT).exec();
}
