import { Redis } from "ioredis";
import type { Logger } from "./logger.ts";

/**
 * What the gateway caches about organizations (gateway/src/tenancy), and how the tenants subgraph,
 * which owns them, tells it they changed. Entries live in Redis (shared by every gateway) and in each
 * gateway's memory; a change deletes the Redis entries and is published on one channel, on which every
 * gateway drops its in-memory copies. Without Redis each gateway keeps its own copies for the cache
 * lifetime: a change is seen within that lifetime instead of at once.
 */

/** A host the gateway resolves to a tenant: `{slug}.{BASE_DOMAIN}` or a verified custom domain. */
export interface HostName {
  kind: "slug" | "domain";
  name: string;
}

/** The state the gateway needs on every request: whether the organization may be used at all. */
export interface OrganizationState {
  status: "ACTIVE" | "SUSPENDED" | "DELETED";
}

export interface OrganizationStateChange {
  tenantId?: string;
  hosts?: HostName[];
}

export const ORGANIZATION_STATE_CHANNEL = "coditect:organization-state";
export const organizationStateKey = (tenantId: string) => `coditect:org:state:${tenantId}`;
export const hostKey = (host: HostName) => `coditect:org:host:${host.kind}:${host.name}`;

/** The tenants subgraph's side: announce a change of status or of the hosts that name a tenant. */
export interface OrganizationStateNotifier {
  changed(change: OrganizationStateChange): Promise<void>;
  close(): Promise<void>;
}

/**
 * Deletes the shared entries and publishes the change. A Redis failure is logged, not thrown: the change
 * has committed, and every cached copy expires within the cache lifetime anyway.
 */
export function createOrganizationStateNotifier(
  redisUrl: string | undefined,
  logger: Logger,
): OrganizationStateNotifier {
  if (!redisUrl) return { changed: async () => {}, close: async () => {} };
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: "organization-state",
  }).on("error", (err) => logger.debug({ err }, "organization state: redis error"));
  return {
    async changed(change) {
      const keys = [
        ...(change.tenantId ? [organizationStateKey(change.tenantId)] : []),
        ...(change.hosts ?? []).map(hostKey),
      ];
      try {
        if (redis.status === "wait") await redis.connect();
        if (keys.length) await redis.del(...keys);
        await redis.publish(ORGANIZATION_STATE_CHANNEL, JSON.stringify(change));
      } catch (err) {
        logger.warn(
          { err, change },
          "organization state: could not announce a change; caches expire on their own",
        );
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}
