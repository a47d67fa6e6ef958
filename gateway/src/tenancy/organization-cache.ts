import type { Logger } from "@app/common";
import {
  type HostName,
  hostKey,
  ORGANIZATION_STATE_CHANNEL,
  type OrganizationState,
  type OrganizationStateChange,
  organizationStateKey,
} from "@app/common/organization-state";
import type { Redis } from "ioredis";

/** Entries kept in memory at most; beyond it the oldest go first (a flood of made-up hosts stays bounded). */
const MAX_ENTRIES = 100_000;

/**
 * Each answer is trusted for a random part (the last fifth taken off at most) of the lifetime, so the
 * answers fetched together do not all expire together: in the realtime benchmark (500 tenants, their
 * 5,000 subscriptions' credentials rechecked every 5 s) expiries stayed bunched, and each bunch sent
 * about a hundred status requests to the tenants subgraph within a second. Two of that run's createTask
 * stalls fell in such seconds; a rerun with the spread still had stalls, so this was not their only cause.
 */
const TTL_JITTER = 0.2;
const jittered = (ttlMs: number) => Math.round(ttlMs * (1 - TTL_JITTER * Math.random()));

/** An in-process map with a lifetime per entry and a size bound (oldest inserted evicted first). */
class TtlMap<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }
  set(key: string, value: V, ttlMs: number) {
    this.entries.delete(key);
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expires: Date.now() + ttlMs });
  }
  delete(key: string) {
    this.entries.delete(key);
  }
}

export interface OrganizationCacheOptions {
  /** How long an answer is trusted: a change is seen within it even if no announcement arrives. */
  ttlSeconds: number;
  /** Shared cache and change announcements; without it each gateway caches on its own. */
  redis?: Redis;
  /** Asks the owner (the tenants subgraph) on a miss. */
  fetchState(tenantId: string): Promise<OrganizationState>;
  fetchHost(host: HostName): Promise<string | null>;
  logger: Logger;
}

/**
 * Organization status and host -> tenant, cached so the gateway does not ask on every request: in this
 * process first, then in Redis (shared by every gateway), then the tenants subgraph. The tenants
 * subgraph announces changes (status, slug, domains): the Redis entry is deleted and every gateway
 * drops its in-process copy on the announcement. A miss in flight is shared by concurrent requests.
 */
export function createOrganizationCache(options: OrganizationCacheOptions) {
  const ttlMs = options.ttlSeconds * 1000;
  const local = new TtlMap<unknown>();
  const inFlight = new Map<string, Promise<unknown>>();
  const { redis, logger } = options;

  // SUBSCRIBE takes a connection over: a connection of its own.
  const subscriber = redis?.duplicate({
    connectionName: "gateway-organization-state",
    enableOfflineQueue: true,
  });
  subscriber?.on("error", (err) => logger.debug({ err }, "organization state subscriber: redis error"));
  subscriber?.on("message", (_channel, message) => {
    try {
      const change = JSON.parse(message) as OrganizationStateChange;
      if (change.tenantId) local.delete(organizationStateKey(change.tenantId));
      for (const host of change.hosts ?? []) local.delete(hostKey(host));
    } catch (err) {
      logger.warn({ err }, "organization state: unreadable announcement");
    }
  });
  const subscribed = subscriber?.subscribe(ORGANIZATION_STATE_CHANNEL).catch((err) => {
    logger.warn({ err }, "organization state: not subscribed; cached entries expire on their own");
  });

  async function cached<V>(key: string, load: () => Promise<V>): Promise<V> {
    const hit = local.get(key);
    if (hit !== undefined) return hit as V;
    let pending = inFlight.get(key) as Promise<V> | undefined;
    if (!pending) {
      pending = (async () => {
        const shared = await redis?.get(key).catch(() => null);
        if (shared) return JSON.parse(shared) as V;
        const value = await load();
        await redis?.set(key, JSON.stringify(value), "PX", jittered(ttlMs)).catch(() => {});
        return value;
      })();
      inFlight.set(key, pending);
      pending
        .then((value) => local.set(key, value, jittered(ttlMs)))
        .catch(() => {})
        .finally(() => inFlight.delete(key));
    }
    return pending;
  }

  return {
    stateOf: (tenantId: string) => cached(organizationStateKey(tenantId), () => options.fetchState(tenantId)),
    /** `{ tenantId }` rather than the id itself, so "no tenant" is cached too. */
    tenantOfHost: async (host: HostName) =>
      (await cached(hostKey(host), async () => ({ tenantId: await options.fetchHost(host) }))).tenantId,
    /** Resolves once announcements are being received (tests wait for it). */
    ready: async () => {
      await subscribed;
    },
    close: async () => {
      subscriber?.disconnect();
    },
  };
}
export type OrganizationCache = ReturnType<typeof createOrganizationCache>;
