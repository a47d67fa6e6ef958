import type { Logger } from "@app/common";
import { tenantChannel } from "@app/common/events";
import { createPool } from "@app/common/pg-pool";
import { type DeliverableEvent, type EventSink, envelope } from "./redis-sink.ts";

/** NOTIFY payloads must stay under 8000 bytes; larger events go out as a reference to the outbox row. */
const MAX_NOTIFY_BYTES = 7_900;

/**
 * Realtime without Redis (the embedded default, one machine): NOTIFY on the tenant's channel, which the
 * subgraphs' PostgreSQL event bus LISTENs to. Not idempotent like the Redis stream: after a relay crash
 * an event may be announced twice, and the bus drops it by `seq`.
 */
export function createPostgresSink(
  databaseUrl: string,
  logger: Logger,
): EventSink & { close(): Promise<void> } {
  const pool = createPool("outbox-notify", { connectionString: databaseUrl, max: 1 }, logger);
  return {
    async announce(tenantId: string, events: DeliverableEvent[]) {
      const channel = tenantChannel(tenantId);
      for (const event of events) {
        let message = envelope(event);
        if (Buffer.byteLength(message) > MAX_NOTIFY_BYTES) {
          const { payload: _payload, ...head } = JSON.parse(message) as Record<string, unknown>;
          message = JSON.stringify({ ...head, ref: true });
        }
        await pool.query("SELECT pg_notify($1, $2)", [channel, message]);
      }
      return events.length;
    },
    close: () => pool.end(),
  };
}
