import type { Redis } from "ioredis";
import { LRUCache } from "lru-cache";

/** What a limit is counted against. */
export type RateLimitScope = "tenant" | "apiKey" | "address";

/** `limit` requests per `periodMs`, counted under `key`; bursts of up to `limit` are allowed. */
export interface RateLimitRule {
  scope: RateLimitScope;
  key: string;
  limit: number;
  periodMs: number;
}

export type RateLimitDecision =
  | { allowed: true /** Requests left under the tightest rule before it refuses. */; remaining: number }
  | { allowed: false; rule: RateLimitRule; retryAfterMs: number };

/**
 * GCRA (the generic cell rate algorithm) over every rule of a request at once, atomically: either each
 * rule has room and all of them are charged, or none is (a request refused by its key's limit does not
 * spend its tenant's). Per rule one number is stored, the theoretical arrival time (TAT) of the next
 * request, expiring when it no longer matters. A rule allows `limit` requests per period with bursts
 * of up to `limit`: emission interval T = period / limit, tolerance tau = period - T.
 * Redis's clock is used, so every gateway agrees on "now". Answers {1, remaining} or {0, rule, waitMs}.
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local wait = tat - now - tolerance
  if wait > 0 then return {0, i, math.ceil(wait)} end
  tats[i] = tat
end
local remaining = -1
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local next_tat = tats[i] + interval
  redis.call('SET', KEYS[i], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now))
  local left = math.floor((tolerance - (tats[i] - now)) / interval)
  if remaining < 0 or left < remaining then remaining = left end
end
return {1, remaining}
`;

export interface RateLimiterOptions {
  /** Shared by every gateway. Without it, or while it is unreachable, each gateway counts alone. */
  redis?: Redis;
  /** Keys (tenants, keys, addresses) the in-process fallback remembers; the least recent go first. */
  localKeys?: number;
  /** Called whenever a decision was made in-process because Redis failed (metrics, logs). */
  onFallback?(error: unknown): void;
}

const redisKey = (rule: RateLimitRule) => `coditect:rl:${rule.scope}:${rule.key}`;

const gcraParameters = (rule: RateLimitRule) => {
  const interval = rule.periodMs / rule.limit;
  return { interval, tolerance: rule.periodMs - interval };
};

/**
 * Rate limits in Redis with one atomic Lua script per request. If Redis cannot answer (down,
 * unreachable, slower than the gateway's command timeout), the same algorithm runs in this process: the
 * gateway keeps serving and keeps limiting, each replica on its own (so N replicas allow up to N times
 * the limit until Redis is back), and `onFallback` counts it.
 */
export function createRateLimiter(options: RateLimiterOptions) {
  const { redis } = options;
  const local = new LRUCache<string, number>({ max: options.localKeys ?? 100_000 });

  if (redis) redis.defineCommand("coditectGcra", { lua: GCRA });

  function checkLocally(rules: readonly RateLimitRule[]): RateLimitDecision {
    const now = Date.now();
    const tats: number[] = [];
    for (const rule of rules) {
      const { tolerance } = gcraParameters(rule);
      const tat = Math.max(local.get(redisKey(rule)) ?? 0, now);
      const wait = tat - now - tolerance;
      if (wait > 0) return { allowed: false, rule, retryAfterMs: Math.ceil(wait) };
      tats.push(tat);
    }
    let remaining = Number.POSITIVE_INFINITY;
    rules.forEach((rule, i) => {
      const { interval, tolerance } = gcraParameters(rule);
      const tat = tats[i]!;
      local.set(redisKey(rule), tat + interval, { ttl: Math.ceil(tat + interval - now) });
      remaining = Math.min(remaining, Math.floor((tolerance - (tat - now)) / interval));
    });
    return { allowed: true, remaining };
  }

  async function checkInRedis(redis: Redis, rules: readonly RateLimitRule[]): Promise<RateLimitDecision> {
    const args = rules.flatMap((rule) => {
      const { interval, tolerance } = gcraParameters(rule);
      return [interval, tolerance];
    });
    const answer = (await (
      redis as unknown as { coditectGcra(n: number, ...a: Array<string | number>): Promise<number[]> }
    ).coditectGcra(rules.length, ...rules.map(redisKey), ...args)) as number[];
    if (answer[0] === 1) return { allowed: true, remaining: answer[1]! };
    return { allowed: false, rule: rules[answer[1]! - 1]!, retryAfterMs: answer[2]! };
  }

  return {
    /** Charges one request to every rule, or refuses it naming the rule and how long to wait. */
    async check(rules: readonly RateLimitRule[]): Promise<RateLimitDecision> {
      if (rules.length === 0) return { allowed: true, remaining: Number.POSITIVE_INFINITY };
      if (!redis) return checkLocally(rules);
      try {
        return await checkInRedis(redis, rules);
      } catch (error) {
        options.onFallback?.(error);
        return checkLocally(rules);
      }
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
