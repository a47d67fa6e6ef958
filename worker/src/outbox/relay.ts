import type { Logger } from "@app/common";
import pg from "pg";
import { v5 as uuidv5 } from "uuid";
import type { DeliverableEvent, EventSink } from "./redis-sink.ts";

/** Puts jobs on the queue; a job whose id exists already is ignored (pg-boss inserts ON CONFLICT DO NOTHING). */
export interface JobSink {
  insert(jobs: Array<{ id: string; name: string; data: object }>): Promise<unknown>;
}

export interface RelayOptions {
  databaseUrl: string;
  /** Realtime delivery: Redis, or PostgreSQL NOTIFY on a machine without Redis. */
  sink: EventSink;
  jobs: JobSink;
  /** Topic -> queues (see routes.ts). */
  routes: Readonly<Record<string, readonly string[]>>;
  logger: Logger;
  /** Tenants per scan and events per tenant per round. */
  batchSize?: number;
  /** How often to look when nothing woke the relay (the only trigger on Citus). */
  pollIntervalMs?: number;
  /** Longest wait between retries while Redis or the database fails. */
  maxBackoffMs?: number;
  /** Test seam: runs after delivery and before the events are marked delivered. */
  afterDeliver?: (events: DeliverableEvent[]) => void | Promise<void>;
  onDelivered?: (count: number, lagMs: number) => void;
}

// Only one relay delivers at a time, so a tenant's events go out in order; replicas wait as standbys.
const RELAY_LOCK_KEY = 7_301_942_212;

/** The realtime sink (Redis) refused or is unreachable: the database connection is fine and is kept. */
class SinkDeliveryError extends Error {
  constructor(cause: unknown) {
    super(`realtime delivery: ${(cause as Error)?.message ?? cause}`, { cause });
  }
}

/** A stable job id per (event, queue): the same event handed over twice is one job. */
const jobId = (eventId: string, queue: string) => uuidv5(queue, eventId);

/**
 * The outbox relay: reads committed, undelivered outbox rows across all tenants (a deliberate
 * cross-tenant read), hands each to its job queues and announces it on Redis, per tenant in `seq`
 * order, then marks it delivered. Delivery is idempotent on both sides, so a crash between delivering
 * and marking repeats nothing a consumer can see. While Redis or the database is down it retries with
 * backoff; the rows wait in the outbox.
 */
export function createRelay(options: RelayOptions) {
  const batchSize = options.batchSize ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const { logger } = options;
  // One connection holds the leadership lock, hears the wake-up NOTIFY and runs every query: when it
  // breaks, this relay stops delivering at once and another one can take over.
  let leader: pg.Client | null = null;
  let running = false;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  /**
   * One round: the oldest undelivered events of up to `batchSize` tenants, up to `batchSize` each, read
   * in one query, handed to their job queues in one insert, announced (each tenant's events in one
   * script, in `seq` order; the tenants' scripts sent together) and marked delivered in one update.
   * Four round trips a round however many tenants it serves: at 100 changes a second over 500 tenants
   * each round serves several, and one tenant's turn no longer waits for the others' round trips.
   * Resolves with how many were delivered.
   */
  async function drainOnce(): Promise<number> {
    const db = leader!;
    const { rows } = await db.query<{
      tenant_id: string;
      seq: string;
      id: string;
      topic: string;
      payload: unknown;
      created_at: Date;
    }>(
      // A cross-tenant read on purpose, as the relay's always was: the tenants with pending events,
      // then up to `batchSize` events of each (the window is partitioned by the distribution column).
      // Not tried on a Citus cluster here.
      `SELECT tenant_id, seq, id, topic, payload, created_at FROM (
         SELECT tenant_id, seq, id, topic, payload, created_at,
                row_number() OVER (PARTITION BY tenant_id ORDER BY seq) AS n
           FROM outbox_events
          WHERE delivered_at IS NULL
            AND tenant_id = ANY(ARRAY(SELECT DISTINCT tenant_id FROM outbox_events
                                       WHERE delivered_at IS NULL LIMIT $1))
       ) AS pending
       WHERE n <= $1
       ORDER BY tenant_id, seq`,
      [batchSize],
    );
    if (rows.length === 0) return 0;
    const events: DeliverableEvent[] = rows.map((r) => ({
      tenantId: r.tenant_id,
      seq: BigInt(r.seq),
      id: r.id,
      topic: r.topic,
      payload: r.payload,
      createdAt: r.created_at,
    }));
    // In `seq` order within each tenant, as read.
    const byTenant = new Map<string, DeliverableEvent[]>();
    for (const event of events) {
      const own = byTenant.get(event.tenantId);
      if (own) own.push(event);
      else byTenant.set(event.tenantId, [event]);
    }
    const jobs = events.flatMap((event) =>
      (options.routes[event.topic] ?? []).map((queue) => ({
        id: jobId(event.id, queue),
        name: queue,
        data: { eventId: event.id, tenantId: event.tenantId, topic: event.topic, payload: event.payload },
      })),
    );
    if (jobs.length) await options.jobs.insert(jobs);
    // A tenant whose announcement failed stays pending (and the round fails, to back off); the others
    // are marked delivered.
    const tenants = [...byTenant.entries()];
    const announced = await Promise.allSettled(
      tenants.map(([tenantId, events]) => options.sink.announce(tenantId, events)),
    );
    const deliveredByTenant = tenants.filter((_, i) => announced[i]!.status === "fulfilled");
    const delivered = deliveredByTenant.flatMap(([, events]) => events);
    if (delivered.length) {
      await options.afterDeliver?.(delivered);
      await db.query(
        `UPDATE outbox_events SET delivered_at = now()
          WHERE (tenant_id, seq) IN (SELECT * FROM unnest($1::uuid[], $2::bigint[]))`,
        [delivered.map((e) => e.tenantId), delivered.map((e) => e.seq.toString())],
      );
      for (const [, events] of deliveredByTenant)
        options.onDelivered?.(events.length, Date.now() - events[0]!.createdAt.getTime());
    }
    const failed = announced.find((a) => a.status === "rejected");
    if (failed) throw new SinkDeliveryError(failed.reason);
    return delivered.length;
  }

  async function becomeLeader(): Promise<void> {
    while (running && !leader) {
      const client = new pg.Client({
        connectionString: options.databaseUrl,
        application_name: "outbox-relay",
      });
      client.on("error", (error) => logger.warn({ err: error }, "outbox relay lost its database connection"));
      try {
        await client.connect();
        const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [
          RELAY_LOCK_KEY,
        ]);
        if (rows[0]?.ok) {
          // Marking delivered need not wait for the disk: a mark lost in a crash only repeats a
          // delivery, which both sinks and the job queue ignore.
          await client.query("SET synchronous_commit TO off");
          // The commit-time NOTIFY of the outbox trigger (plain PostgreSQL) wakes the relay at once.
          client.on("notification", () => wake?.());
          await client.query("LISTEN outbox_events");
          leader = client;
          logger.info("outbox relay is the leader");
          return;
        }
      } catch (error) {
        logger.warn({ err: error }, "outbox relay cannot reach the database");
      }
      await client.end().catch(() => {});
      await sleep(pollIntervalMs * 4);
    }
  }

  /** Drops a connection that failed; the next round reconnects (and re-takes the lock) first. */
  async function dropLeader(): Promise<void> {
    const client = leader;
    leader = null;
    await client?.end().catch(() => {});
  }

  async function run(): Promise<void> {
    let backoff = 100;
    while (running) {
      try {
        await becomeLeader();
        if (!running) break;
        const delivered = await drainOnce();
        backoff = 100;
        // A full round may have left more behind: go again at once; otherwise wait to be woken.
        if (delivered === 0) await sleep(pollIntervalMs);
      } catch (error) {
        logger.warn({ err: error, retryInMs: backoff }, "outbox relay could not deliver; will retry");
        // A database error may have broken the connection; reconnecting is cheap and always safe.
        if (!(error instanceof SinkDeliveryError)) await dropLeader();
        await sleep(backoff);
        backoff = Math.min(backoff * 2, maxBackoffMs);
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    /** Finishes the round in progress and gives up the leadership. */
    async stop() {
      running = false;
      wake?.();
      await loop;
      // Closing the session releases the advisory lock.
      await dropLeader();
    },
  };
}
export type Relay = ReturnType<typeof createRelay>;
