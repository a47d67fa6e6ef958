import { Prisma } from "../generated/client.ts";
import { newId } from "./ids.ts";
import { rawTransactionOf } from "./raw-transaction.ts";

/**
 * The transaction an announcement is written in: a tenant-scoped client's (`db.$transaction(async (tx)
 * => ...)`) or a raw client's (sign-up, the cross-tenant paths). A client outside a transaction is
 * refused.
 */
export type OutboxWriter = object;

export interface OutboxEventInput {
  /** `<entity>.<verb>`, e.g. `task.created`; the relay routes by it. */
  topic: string;
  payload: Prisma.InputJsonObject;
}

/**
 * Announces a change: call it inside the transaction that makes the change, so the announcement commits
 * or rolls back with it. Numbering takes the tenant's sequence row lock until commit, so a tenant's
 * events are numbered in commit order with no gaps (the relay delivers them in that order).
 */
export async function emitEvent(tx: OutboxWriter, tenantId: string, event: OutboxEventInput) {
  return (await emitEvents(tx, tenantId, [event]))[0]!;
}

/**
 * Announces several events of one change, numbered in the order given, in two statements: the sequence
 * takes them all at once, then one INSERT writes them. Raw SQL: through Prisma's client the same took an
 * upsert and a `create` per event (a createMany's query plan is compiled anew on every call), about
 * 0.9 ms of CPU more per `createTask` in an in-process measure (docs/BENCHMARKS.md). Both statements name the tenant, so on Citus each goes
 * to the tenant's shard (not tried on a cluster).
 */
export async function emitEvents(tx: OutboxWriter, tenantId: string, events: readonly OutboxEventInput[]) {
  const raw = rawTransactionOf(tx);
  raw.checkTenant(tenantId);
  if (events.length === 0) return [];
  const count = BigInt(events.length);
  const [numbered] = await raw.$queryRaw<Array<{ seq: bigint }>>(Prisma.sql`
    INSERT INTO "outbox_sequences" ("tenant_id", "seq") VALUES (${tenantId}::uuid, ${count})
    ON CONFLICT ("tenant_id") DO UPDATE SET "seq" = "outbox_sequences"."seq" + EXCLUDED."seq"
    RETURNING "seq"`);
  const last = numbered!.seq;
  const rows = events.map(({ topic, payload }, i) => ({
    seq: last - count + 1n + BigInt(i),
    id: newId(),
    topic,
    payload,
  }));
  await raw.$executeRaw(Prisma.sql`
    INSERT INTO "outbox_events" ("tenant_id", "seq", "id", "topic", "payload") VALUES ${Prisma.join(
      rows.map(
        (row) =>
          Prisma.sql`(${tenantId}::uuid, ${row.seq}, ${row.id}::uuid, ${row.topic}, ${JSON.stringify(row.payload)}::jsonb)`,
      ),
    )}`);
  raw.noteWrite("OutboxEvent");
  return rows.map(({ id, seq }) => ({ id, seq }));
}
