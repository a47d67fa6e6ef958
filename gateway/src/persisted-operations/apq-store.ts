import type { Redis } from "ioredis";
import { LRUCache } from "lru-cache";

/** Where automatic persisted queries (APQ) live between the hash+query request and the hash-only ones. */
export interface ApqStore {
  get(sha256Hash: string): Promise<string | null>;
  set(sha256Hash: string, document: string): Promise<void>;
}

export interface ApqStoreOptions {
  /** Shared by every gateway; without it (or while it is down) each gateway keeps its own entries. */
  redis?: Redis;
  /** Seconds an entry lives after it was last registered; clients re-register on a miss. */
  ttlSeconds: number;
  /** Entries this process keeps in memory (in front of Redis, and alone without it). */
  localEntries: number;
  /** Called when Redis could not be used (the entry is then served from, or kept in, this process). */
  onRedisError?(error: unknown): void;
}

const key = (sha256Hash: string) => `coditect:apq:${sha256Hash}`;

/**
 * Bounded on every side: each entry expires (`ttlSeconds`, in Redis and in memory), the in-memory tier
 * holds at most `localEntries` documents, and no document is larger than the request body limit that
 * let it in. Redis's own `maxmemory` with an LRU policy bounds the shared tier's total.
 */
export function createApqStore(options: ApqStoreOptions): ApqStore {
  const local = new LRUCache<string, string>({ max: options.localEntries, ttl: options.ttlSeconds * 1000 });
  const { redis } = options;
  return {
    async get(sha256Hash) {
      const hit = local.get(sha256Hash);
      if (hit !== undefined || !redis) return hit ?? null;
      try {
        const document = await redis.get(key(sha256Hash));
        if (document !== null) local.set(sha256Hash, document);
        return document;
      } catch (error) {
        options.onRedisError?.(error);
        return null;
      }
    },
    async set(sha256Hash, document) {
      local.set(sha256Hash, document);
      if (!redis) return;
      try {
        await redis.set(key(sha256Hash), document, "EX", options.ttlSeconds);
      } catch (error) {
        options.onRedisError?.(error);
      }
    },
  };
}
