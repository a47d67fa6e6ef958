import type { Logger } from "@app/common";
import { API_KEY_REVOKED_CHANNEL, apiKeyCacheKey } from "@app/common/api-key";
import type { Redis } from "ioredis";

/** Tells the gateways a key was revoked, so they stop accepting it before their cache entry expires. */
export interface ApiKeyRevocations {
  publish(keyId: string, logger: Logger): Promise<void>;
}

/**
 * Over Redis: the shared cache entry is deleted and the key id published to every gateway, which
 * drops it from its in-process cache. Without Redis (one machine, no shared cache) nothing is sent and
 * the gateway's cache lifetime (AUTH_CACHE_TTL_SECONDS, at most 60 s) bounds the delay. A failed
 * publish is logged, not thrown: the revocation is committed, and the same bound holds.
 */
export function apiKeyRevocations(redis: Redis | null): ApiKeyRevocations {
  return {
    async publish(keyId, logger) {
      if (!redis) return;
      try {
        await redis.del(apiKeyCacheKey(keyId));
        await redis.publish(API_KEY_REVOKED_CHANNEL, keyId);
      } catch (error) {
        logger.warn({ err: error, apiKeyId: keyId }, "could not publish an API key revocation");
      }
    },
  };
}
