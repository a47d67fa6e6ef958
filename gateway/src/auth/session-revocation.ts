import type { Logger } from "@app/common";
import { revokedSessionKey } from "@app/common/revocation";
import { Redis } from "ioredis";

/** Answers whether a session (an access token's `sid`) has ended before its tokens expire. */
export interface SessionRevocationCheck {
  isRevoked(sessionId: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Sessions remembered per process; beyond this the cache starts over (a bound, not an LRU). */
const MAX_CACHED = 50_000;

/**
 * Ended sessions as identity marks them in Redis (log-out, refresh-token reuse, password change, member
 * removal): one GET per session, its answer kept in this process for `cacheMs`, so a session ends at
 * every gateway within that time. Without Redis nothing is known here and a token stays valid until it
 * expires (one access-token lifetime). Redis being down fails open, with a warning: the token's
 * signature and expiry still hold, and refusing every request would take the platform down with Redis.
 */
export function createSessionRevocationCheck(options: {
  redisUrl?: string;
  cacheMs: number;
  logger: Logger;
}): SessionRevocationCheck {
  if (!options.redisUrl) return { isRevoked: async () => false, close: async () => {} };
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on("error", (error) => options.logger.debug({ err: error }, "session revocation redis error"));
  const cache = new Map<string, { revoked: boolean; until: number }>();
  return {
    async isRevoked(sessionId) {
      const now = Date.now();
      const cached = cache.get(sessionId);
      if (cached && cached.until > now) return cached.revoked;
      let revoked: boolean;
      try {
        revoked = (await redis.exists(revokedSessionKey(sessionId))) === 1;
      } catch (error) {
        options.logger.warn({ err: error }, "could not check session revocation: token accepted");
        return false;
      }
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(sessionId, { revoked, until: now + options.cacheMs });
      return revoked;
    },
    close: async () => void redis.disconnect(),
  };
}
