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
      data: { tenantId: string; seq: bigint; id: string; topic: string; payload: Prisma.InputJsonObject };
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
  const { seq } = await tx.outboxSequence.upsert({
    where: { tenantId },
    create: { tenantId, seq: 1n },
    update: { seq: { increment: 1n } },
  });
  const id = newId();
  await tx.outboxEvent.create({ data: { tenantId, seq, id, topic: event.topic, payload: event.payload } });
  return { id, seq };
}
