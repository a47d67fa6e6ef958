import { createHash } from "node:crypto";
import { appError, ErrorCode } from "@app/common";
import type { Redis } from "ioredis";

/** Attempts allowed per account and per client address within one window. */
export interface LoginLimits {
  perAccount: number;
  perAddress: number;
  windowSeconds: number;
  /**
   * What is counted, in the Redis keys and the refusal: `login-failures` (the default) or another
   * action limited the same way (`password-reset` requests, which e-mail whoever owns the address).
   */
  name?: string;
  /** The refusal's words: "Too many <what>: try again in N seconds." */
  what?: string;
}

/** One log-in attempt that was let through; report a success so it does not count as a failure. */
export interface LoginAttempt {
  succeeded(): Promise<void>;
}

export interface LoginLimiter {
  /**
   * Counts an attempt against the account and the address, or refuses it with RATE_LIMITED (and
   * `retryAfter` seconds) when either has used up its failures. Counting before the password is checked
   * makes the limit hold under concurrency: N parallel guesses cannot all pass a check made before any
   * of them failed.
   */
  begin(account: string, address: string): Promise<LoginAttempt>;
}

function rateLimited(limits: LoginLimits, retryAfterMs: number) {
  const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const what = limits.what ?? "failed log-ins";
  return appError(ErrorCode.RATE_LIMITED, `Too many ${what}: try again in ${retryAfter} seconds.`, {
    retryAfter,
  });
}

// E-mail addresses are kept out of Redis: the counters need only tell accounts apart.
const accountKey = (limits: LoginLimits, email: string) =>
  `auth:${limits.name ?? "login-failures"}:account:${createHash("sha256").update(email).digest("base64url")}`;
const addressKey = (limits: LoginLimits, address: string) =>
  `auth:${limits.name ?? "login-failures"}:address:${address}`;

/**
 * Check and count in one step (a script runs atomically): when any counter is at its limit, answer its
 * remaining time and count nothing; otherwise count on every key, starting the window on the first.
 */
const BEGIN = `
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl > 0 then return ttl end
    return tonumber(ARGV[1])
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0`;

/** A success clears the account's failures and gives the address back the attempt it counted. */
const SUCCEEDED = `
redis.call('DEL', KEYS[1])
if redis.call('DECR', KEYS[2]) <= 0 then redis.call('DEL', KEYS[2]) end
return 0`;

/** Counters in Redis, shared by every identity replica. */
export function redisLoginLimiter(redis: Redis, limits: LoginLimits): LoginLimiter {
  const windowMs = limits.windowSeconds * 1000;
  return {
    async begin(account, address) {
      const keys = [accountKey(limits, account), addressKey(limits, address)];
      const wait = Number(
        await redis.eval(BEGIN, keys.length, ...keys, windowMs, limits.perAccount, limits.perAddress),
      );
      if (wait > 0) throw rateLimited(limits, wait);
      return {
        async succeeded() {
          await redis.eval(SUCCEEDED, keys.length, ...keys);
        },
      };
    },
  };
}

/**
 * The same counters in this process: for a single replica without Redis (development). Several
 * replicas each count on their own, which multiplies the limit by their number.
 */
export function memoryLoginLimiter(limits: LoginLimits): LoginLimiter {
  const counters = new Map<string, { count: number; resetAt: number }>();
  const windowMs = limits.windowSeconds * 1000;
  const live = (key: string, now: number) => {
    const counter = counters.get(key);
    if (counter && counter.resetAt <= now) counters.delete(key);
    return counter && counter.resetAt > now ? counter : undefined;
  };
  return {
    async begin(account, address) {
      const now = Date.now();
      // Bounded memory under an address- or account-spraying attack: expired counters go first.
      if (counters.size > 10_000) for (const key of counters.keys()) live(key, now);
      const keys: Array<[string, number]> = [
        [accountKey(limits, account), limits.perAccount],
        [addressKey(limits, address), limits.perAddress],
      ];
      for (const [key, limit] of keys) {
        const counter = live(key, now);
        if (counter && counter.count >= limit) throw rateLimited(limits, counter.resetAt - now);
      }
      for (const [key] of keys) {
        const counter = live(key, now);
        if (counter) counter.count++;
        else counters.set(key, { count: 1, resetAt: now + windowMs });
      }
      return {
        async succeeded() {
          counters.delete(keys[0]![0]);
          const counter = live(keys[1]![0], Date.now());
          if (counter && --counter.count <= 0) counters.delete(keys[1]![0]);
        },
      };
    },
  };
}
