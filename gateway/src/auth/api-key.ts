import { randomUUID } from "node:crypto";
import {
  INTERNAL_CONTEXT_HEADER,
  type Logger,
  type Principal,
  ROLES,
  SCOPES,
  signInternalContext,
  unauthenticated,
} from "@app/common";
import { API_KEY_REVOKED_CHANNEL, apiKeyCacheKey, parseApiKey, sameSecretHash } from "@app/common/api-key";
import { Redis } from "ioredis";
import { LRUCache } from "lru-cache";
import { z } from "zod";

/** Identity's answer for a valid key (subgraphs/identity/src/modules/api-keys/api-keys.route.ts). */
const resolvedKey = z.object({
  keyId: z.uuid(),
  tenantId: z.uuid(),
  scopes: z.array(z.enum(SCOPES)).min(1),
  roles: z.array(z.enum(ROLES)).min(1),
  expiresAt: z.number().int().nullable(),
});
type ResolvedKey = z.infer<typeof resolvedKey>;

/** A resolved key with the hash of the secret it was resolved with: a hit must present the same one. */
const cachedKey = resolvedKey.extend({ secretHash: z.base64() });
type CachedKey = z.infer<typeof cachedKey>;

export interface ApiKeyAuthenticatorOptions {
  /** Identity's key-resolution endpoint (`/internal/api-keys/resolve`). */
  resolveUrl: () => string;
  /** Signs the gateway's own context for that endpoint (INTERNAL_CONTEXT_SECRET). */
  internalSecret: string;
  /** Shared cache and revocation channel; without it, the in-process cache alone. */
  redisUrl?: string;
  /** How long a resolved key is trusted without asking identity again; a revocation is seen within it. */
  ttlSeconds: number;
  logger: Logger;
}

/** Entries per process; a key is about 300 bytes here, so the cache stays under a few MB. */
const MAX_ENTRIES = 10_000;
/** Refused keys are remembered briefly, so a flood of one bad key costs one identity call per window. */
const NEGATIVE_TTL_MS = 5_000;

/**
 * Authenticates partner API keys (`Authorization: Bearer cdt_...`). Resolution goes, in order, through
 * this process's LRU cache, the Redis cache every gateway shares, and identity's internal endpoint (the
 * gateway never reads the database). Entries live `ttlSeconds` (at most 60 s): a revoked key is refused
 * at the latest when its entry expires, and at once where Redis carries identity's revocation message
 * (the shared entry is deleted, each gateway drops its own copy).
 */
export function createApiKeyAuthenticator(options: ApiKeyAuthenticatorOptions) {
  const { logger } = options;
  const ttlMs = options.ttlSeconds * 1000;
  const local = new LRUCache<string, CachedKey>({ max: MAX_ENTRIES, ttl: ttlMs });
  const refused = new LRUCache<string, true>({ max: MAX_ENTRIES, ttl: NEGATIVE_TTL_MS });
  const inFlight = new Map<string, Promise<ResolvedKey | null>>();

  let redis: Redis | null = null;
  let subscriber: Redis | null = null;
  if (options.redisUrl) {
    // No offline queue and a short timeout: with Redis away a request goes on to identity at once.
    redis = new Redis(options.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: 250,
    });
    redis.on("error", (error) => logger.debug({ err: error }, "api-key cache: redis error"));
    subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    subscriber.on("error", (error) => logger.debug({ err: error }, "api-key revocations: redis error"));
    subscriber.on("message", (_channel, keyId: string) => local.delete(keyId));
    // Revocations published while the connection was down are lost: forget everything on reconnect.
    let connectedOnce = false;
    subscriber.on("ready", () => {
      if (connectedOnce) local.clear();
      connectedOnce = true;
    });
    subscriber.subscribe(API_KEY_REVOKED_CHANNEL).catch((error) => {
      logger.warn({ err: error }, "could not subscribe to API key revocations");
    });
  }

  async function fromRedis(keyId: string): Promise<CachedKey | null> {
    if (!redis) return null;
    try {
      const raw = await redis.get(apiKeyCacheKey(keyId));
      const parsed = raw ? cachedKey.safeParse(JSON.parse(raw)) : null;
      return parsed?.success ? parsed.data : null;
    } catch (error) {
      logger.debug({ err: error }, "api-key cache read failed; asking identity");
      return null;
    }
  }

  async function fromIdentity(key: string): Promise<ResolvedKey | null> {
    const context = await signInternalContext(options.internalSecret, {
      requestId: randomUUID(),
      principal: null,
    });
    const response = await fetch(options.resolveUrl(), {
      method: "POST",
      headers: { "content-type": "application/json", [INTERNAL_CONTEXT_HEADER]: context },
      body: JSON.stringify({ key }),
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) throw new Error(`identity answered ${response.status} to an API key resolution`);
    const body = (await response.json()) as { apiKey: unknown };
    if (body.apiKey === null) return null;
    return resolvedKey.parse(body.apiKey);
  }

  async function resolve(key: string): Promise<Principal & { expiresAt?: number }> {
    const parsed = parseApiKey(key);
    if (!parsed) throw invalid();
    const secretHash = parsed.secretHash.toString("base64");
    const refusedKey = `${parsed.keyId}:${secretHash}`;
    if (refused.has(refusedKey)) throw invalid();

    // A hit must match the whole key: the same secret, and the tenant the key names (it is in the key).
    const matches = (e: CachedKey | undefined): e is CachedKey =>
      e !== undefined &&
      e.tenantId === parsed.tenantId &&
      sameSecretHash(Buffer.from(e.secretHash, "base64"), parsed.secretHash);
    let entry = local.get(parsed.keyId);
    if (!matches(entry)) {
      entry = (await fromRedis(parsed.keyId)) ?? undefined;
      if (matches(entry)) local.set(parsed.keyId, entry);
    }
    if (!matches(entry)) {
      // One identity call per key at a time, however many requests miss together.
      let pending = inFlight.get(refusedKey);
      if (!pending) {
        pending = fromIdentity(key).finally(() => inFlight.delete(refusedKey));
        inFlight.set(refusedKey, pending);
      }
      const resolved = await pending.catch((error) => {
        logger.error({ err: error }, "API key resolution failed");
        throw unauthenticated("The API key could not be checked; try again.");
      });
      if (!resolved || resolved.keyId !== parsed.keyId || resolved.tenantId !== parsed.tenantId) {
        refused.set(refusedKey, true);
        throw invalid();
      }
      entry = { ...resolved, secretHash };
      local.set(parsed.keyId, entry);
      await redis?.set(apiKeyCacheKey(parsed.keyId), JSON.stringify(entry), "PX", ttlMs).catch(() => {});
    }
    if (entry.expiresAt !== null && entry.expiresAt * 1000 <= Date.now()) throw invalid();
    return {
      tenantId: entry.tenantId,
      userId: entry.keyId,
      roles: entry.roles,
      credential: "apiKey",
      scopes: entry.scopes,
      ...(entry.expiresAt !== null ? { expiresAt: entry.expiresAt } : {}),
    };
  }

  return {
    authenticate: resolve,
    async close() {
      subscriber?.disconnect();
      redis?.disconnect();
    },
  };
}

/** One answer for malformed, unknown, wrong-secret, revoked and expired keys alike. */
const invalid = () => unauthenticated("The API key is invalid, revoked or expired.");
