import { setTenantSql } from "@app/db";
import { Redis } from "ioredis";
import pg from "pg";
import type { Logger } from "./logger.ts";
import { createPool } from "./pg-pool.ts";

/** What the outbox relay announces for every committed event (worker/src/outbox/redis-sink.ts). */
export interface EventEnvelope {
  id: string;
  tenantId: string;
  /** Per-tenant, increasing in commit order (a decimal string: it is a bigint). */
  seq: string;
  topic: string;
  payload: unknown;
  createdAt: string;
  /** Set by the PostgreSQL transport when the event was too large for NOTIFY: read it from the outbox. */
  ref?: true;
}

/**
 * Announced by identity, in the transaction that ends a membership (a member leaves or is removed):
 * payload `{ userId }`. The projects subgraph ends that user's open subscriptions in the organization at
 * once, which the gateway turns into a 4403 close of the socket.
 */
export const MEMBERSHIP_REMOVED_TOPIC = "membership.removed";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The channel a tenant's events are published on, in Redis and in PostgreSQL alike. */
export function tenantChannel(tenantId: string): string {
  // Also quoted into LISTEN statements: only ever a canonical uuid.
  if (!UUID.test(tenantId)) throw new Error(`not a tenant id: ${tenantId}`);
  return `events:${tenantId}`;
}

type Listener = (event: EventEnvelope) => void;

/**
 * Realtime events of each tenant, for the subscriptions of one process: one connection to the
 * transport, one channel subscription per tenant that has listeners here (counted, dropped when the
 * last one leaves), and fan-out to every local listener. A tenant's channel carries only that tenant's
 * events, so a listener can never receive another tenant's. Duplicates (a relay replaying after a
 * crash) are dropped by `seq`.
 */
export interface EventBus {
  /** Calls `listener` for each event of the tenant until the returned function is called. */
  listen(tenantId: string, listener: Listener): Promise<() => void>;
  close(): Promise<void>;
}

interface Transport {
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  close(): Promise<void>;
}

function createBus(
  open: (deliver: (channel: string, message: string) => void) => Transport,
  resolve: (event: EventEnvelope) => Promise<EventEnvelope>,
  logger: Logger,
): EventBus {
  const listeners = new Map<string, Set<Listener>>();
  const lastSeq = new Map<string, bigint>();
  const transport = open((channel, message) => {
    const set = listeners.get(channel);
    if (!set?.size) return;
    let event: EventEnvelope;
    try {
      event = JSON.parse(message) as EventEnvelope;
    } catch {
      logger.warn({ channel }, "dropped a malformed event");
      return;
    }
    const seq = BigInt(event.seq);
    if (seq <= (lastSeq.get(channel) ?? 0n)) return;
    lastSeq.set(channel, seq);
    void resolve(event).then(
      (full) => {
        for (const listener of set) listener(full);
      },
      (error) => logger.warn({ err: error, eventId: event.id }, "could not read an event from the outbox"),
    );
  });
  return {
    async listen(tenantId, listener) {
      const channel = tenantChannel(tenantId);
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        await transport.subscribe(channel);
      }
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0 && listeners.get(channel) === set) {
          listeners.delete(channel);
          lastSeq.delete(channel);
          void transport.unsubscribe(channel).catch(() => {});
        }
      };
    },
    close: () => transport.close(),
  };
}

/** Redis pub/sub: what several gateway and subgraph replicas share. */
export function createRedisEventBus(redisUrl: string, logger: Logger): EventBus {
  return createBus(
    (deliver) => {
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
      redis.on("error", (error) => logger.debug({ err: error }, "event bus redis error"));
      redis.on("message", deliver);
      return {
        subscribe: async (channel) => void (await redis.subscribe(channel)),
        unsubscribe: async (channel) => void (await redis.unsubscribe(channel)),
        close: async () => redis.disconnect(),
      };
    },
    async (event) => event,
    logger,
  );
}

/**
 * PostgreSQL LISTEN/NOTIFY: realtime on one machine without Redis (the embedded default). An event too
 * large for NOTIFY arrives as a reference and is read from the outbox by (tenant, seq).
 */
export function createPostgresEventBus(databaseUrl: string, logger: Logger): EventBus {
  const reader = createPool("event-bus", { connectionString: databaseUrl, max: 2 }, logger);
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  const channels = new Set<string>();
  let deliverTo: (channel: string, message: string) => void = () => {};

  // One LISTEN connection, reconnected (and re-subscribed) when it drops.
  const connection = (): Promise<pg.Client> => {
    if (client) return Promise.resolve(client);
    connecting ??= (async () => {
      const c = new pg.Client({ connectionString: databaseUrl, application_name: "event-bus" });
      c.on("notification", (n) => n.payload && deliverTo(n.channel, n.payload));
      c.on("error", (error) => {
        logger.warn({ err: error }, "event bus lost its database connection");
        client = null;
        setTimeout(() => void connection().catch(() => {}), 1_000).unref();
      });
      await c.connect();
      for (const channel of channels) await c.query(`LISTEN "${channel}"`);
      client = c;
      return c;
    })().finally(() => {
      connecting = null;
    });
    return connecting;
  };

  return createBus(
    (deliver) => {
      deliverTo = deliver;
      return {
        async subscribe(channel) {
          channels.add(channel);
          await (await connection()).query(`LISTEN "${channel}"`);
        },
        async unsubscribe(channel) {
          channels.delete(channel);
          await client?.query(`UNLISTEN "${channel}"`);
        },
        async close() {
          await client?.end().catch(() => {});
          await reader.end();
        },
      };
    },
    async (event) => {
      if (!event.ref) return event;
      // The application role sees a tenant's rows only inside a transaction that names the tenant.
      const client = await reader.connect();
      try {
        await client.query("BEGIN");
        await client.query(setTenantSql(event.tenantId));
        const { rows } = await client.query<{ payload: unknown }>(
          "SELECT payload FROM outbox_events WHERE tenant_id = $1 AND seq = $2",
          [event.tenantId, event.seq],
        );
        await client.query("COMMIT");
        return { ...event, payload: rows[0]?.payload, ref: undefined };
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    logger,
  );
}
