import { revokedSessionKey } from "@app/common/revocation";
import type { Redis } from "ioredis";

/** Tells the gateway that sessions ended, so their access tokens are refused before they expire. */
export interface SessionRevocations {
  announce(sessionIds: readonly string[]): Promise<void>;
}

/** Marks each session ended in Redis for one access-token lifetime (after that its tokens expired). */
export function redisRevocations(redis: Redis, accessTokenTtlSeconds: number): SessionRevocations {
  return {
    async announce(sessionIds) {
      if (sessionIds.length === 0) return;
      const pipeline = redis.pipeline();
      for (const id of sessionIds) pipeline.set(revokedSessionKey(id), "1", "EX", accessTokenTtlSeconds);
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0];
    },
  };
}

/** Without Redis: ended sessions cannot refresh, and their access tokens lapse within their lifetime. */
export const noRevocations: SessionRevocations = { announce: async () => {} };
