import type { Prisma } from "../generated/client.ts";
import { newId } from "./ids.ts";

/** The delegates an outbox write needs: a tenant client's transaction, or the raw one's (sign-up). */
export interface OutboxWriter {
  outboxSequence: {
    upsert(args: {
      where: { tenantId: string };
      create: { tenantId: string; seq: bigint };
      update: { seq: { increment: bigint } };
    }): PromiseLike<{ seq: bigint }>;
  };
  outboxEvent: {
    create(args: {
      data: {
        tenantId: string;
        seq: bigint;
        id: string;
        topic: string;
        payload: Prisma.InputJsonObject;
      };
      select: { id: true };
    }): PromiseLike<unknown>;
  };
}

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
 * Announces several events of one change, numbered in the order given: the sequence takes them all at
 * once, then an INSERT each. Not one createMany: Prisma caches the query plan of a create, but compiles
 * a createMany's anew every time (in its WebAssembly query compiler), which cost the realtime
 * benchmark's createTask more than the round trip it saves.
 */
export async function emitEvents(tx: OutboxWriter, tenantId: string, events: readonly OutboxEventInput[]) {
  const count = BigInt(events.length);
  const { seq: last } = await tx.outboxSequence.upsert({
    where: { tenantId },
    create: { tenantId, seq: count },
    update: { seq: { increment: count } },
  });
  const rows = events.map(({ topic, payload }, i) => ({
    tenantId,
    seq: last - count + 1n + BigInt(i),
    id: newId(),
    topic,
    payload,
  }));
  for (const data of rows) await tx.outboxEvent.create({ data, select: { id: true } });
  return rows.map(({ id, seq }) => ({ id, seq }));
}
