import { randomUUID } from "node:crypto";
import { createLogger } from "@app/common";
import type { EventBus, EventEnvelope } from "@app/common/events";
import { MEMBERSHIP_REMOVED_TOPIC } from "@app/common/events";
import type { GraphQLError } from "graphql";
import { describe, expect, it } from "vitest";
import { MEMBERSHIP_REVOKED, SLOW_CONSUMER, watchTenantEvents } from "./watch.ts";

// The per-subscriber buffer of the projects subgraph. The bus is an in-process one: what is under test
// is what a subscriber does with the events the bus hands it (the Redis and PostgreSQL buses have
// tests of their own in packages/common and the platform's subscription tests).
function localBus() {
  const listeners = new Set<(event: EventEnvelope) => void>();
  let seq = 0;
  const bus: EventBus = {
    async listen(_tenantId, listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {},
  };
  return {
    bus,
    listeners,
    publish(topic: string, payload: unknown) {
      const event = {
        id: randomUUID(),
        tenantId: "t",
        seq: String(++seq),
        topic,
        payload,
        createdAt: new Date().toISOString(),
      };
      for (const listener of listeners) listener(event);
    },
  };
}

const principal = {
  tenantId: randomUUID(),
  userId: randomUUID(),
  roles: ["MEMBER" as const],
  credential: "user" as const,
  scopes: ["read" as const],
};
const ctx = { principal, requestId: "test", logger: createLogger("test", "silent") };

async function drain<P>(iterable: AsyncIterable<P>): Promise<{ received: P[]; error?: GraphQLError }> {
  const received: P[] = [];
  try {
    for await (const value of iterable) received.push(value);
    return { received };
  } catch (error) {
    return { received, error: error as GraphQLError };
  }
}

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe("watchTenantEvents", () => {
  it("ends a subscriber that falls too far behind with SLOW_CONSUMER, after what it had waiting", async () => {
    const { bus, listeners, publish } = localBus();
    const events = watchTenantEvents<{ n: number }>(ctx, bus, "task.changed", () => true, 8);
    const iterator = events[Symbol.asyncIterator]();
    const first = iterator.next(); // starts listening
    await until(() => listeners.size === 1);

    // Nobody reads: the ninth event finds eight waiting.
    for (let n = 0; n < 20; n++) publish("task.changed", { n });
    const { received, error } = await drain({ [Symbol.asyncIterator]: () => iterator });

    expect([(await first).value, ...received].map((e) => e.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(error?.extensions).toMatchObject({ code: "RATE_LIMITED", reason: SLOW_CONSUMER });
    expect(listeners.size).toBe(0);
  });

  it("keeps a subscriber that reads as fast as events come, however many", async () => {
    const { bus, listeners, publish } = localBus();
    const events = watchTenantEvents<{ n: number }>(ctx, bus, "task.changed", () => true, 8);
    const iterator = events[Symbol.asyncIterator]();
    const received: number[] = [];
    const reading = (async () => {
      for (;;) {
        const { value, done } = await iterator.next();
        if (done) return;
        received.push(value.n);
        if (received.length === 100) return;
      }
    })();
    await until(() => listeners.size === 1);
    for (let n = 0; n < 100; n++) {
      publish("task.changed", { n });
      await until(() => received.length > n); // a reader that keeps up
    }
    await reading;
    expect(received).toHaveLength(100);
    await iterator.return?.();
  });

  it("ends the subscription with MEMBERSHIP_REVOKED when the subscriber's membership is removed", async () => {
    const { bus, listeners, publish } = localBus();
    const events = watchTenantEvents(ctx, bus, "task.changed", () => true);
    const done = drain(events);
    await until(() => listeners.size === 1);
    publish(MEMBERSHIP_REMOVED_TOPIC, { userId: randomUUID() }); // someone else: no effect
    publish("task.changed", { n: 1 });
    publish(MEMBERSHIP_REMOVED_TOPIC, { userId: principal.userId });
    const { received, error } = await done;
    expect(received).toEqual([{ n: 1 }]);
    expect(error?.extensions).toMatchObject({ code: "FORBIDDEN", reason: MEMBERSHIP_REVOKED });
  });
});
