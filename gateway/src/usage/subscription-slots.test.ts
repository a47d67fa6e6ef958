import { randomUUID } from "node:crypto";
import { createLogger } from "@app/common";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../../test/eventually.ts";
import { createGatewayRedis } from "../redis.ts";
import { createSubscriptionSlots } from "./subscription-slots.ts";

const redisUrl = inject("redisUrl");
const logger = createLogger("slots-test", "silent");

describe.skipIf(!redisUrl)("subscription slots in Redis", () => {
  let observer: Redis;
  beforeAll(() => {
    observer = new Redis(redisUrl!);
  });
  afterAll(() => observer?.quit());
  const open = (tenantId: string) => observer.zcard(`subscriptions:open:${tenantId}`);

  it("frees the slots of subscriptions that end together, every tenant's, in one batch", async () => {
    const redis = await createGatewayRedis(redisUrl!, logger);
    const slots = createSubscriptionSlots(redis, logger);
    const tenants = [randomUUID(), randomUUID()];
    try {
      const taken = await Promise.all(
        tenants.flatMap((tenantId) => [1, 2, 3].map(() => slots.take(tenantId, 3))),
      );
      expect(taken.every(Boolean)).toBe(true);
      expect(await slots.take(tenants[0]!, 3)).toBeNull();
      for (const slot of taken) slots.release(slot!);
      await eventually(async () => (await open(tenants[0]!)) + (await open(tenants[1]!)) === 0);
      expect(await slots.take(tenants[0]!, 3)).not.toBeNull();
    } finally {
      await slots.close();
      redis.disconnect();
    }
  });

  it("keeps a release Redis could not take and makes it at the next refresh", async () => {
    const redis = await createGatewayRedis(redisUrl!, logger);
    const slots = createSubscriptionSlots(redis, logger, { refreshMs: 300 });
    const tenantId = randomUUID();
    try {
      const slot = await slots.take(tenantId, 1);
      expect(slot).not.toBeNull();
      // Redis unreachable when the slot is released: the gateway's client fails the command at once.
      redis.disconnect();
      slots.release(slot!);
      await new Promise((r) => setTimeout(r, 150));
      expect(await open(tenantId)).toBe(1);
      await redis.connect();
      await eventually(async () => (await open(tenantId)) === 0);
    } finally {
      await slots.close();
      redis.disconnect();
    }
  });
});
