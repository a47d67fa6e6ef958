import { createPrismaClient, emitEvent, newId, type PrismaClient, tenantClient } from "@app/db";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../test/eventually.ts";
import { startRedisServer } from "../../test/redis.ts";
import { createScratchDatabase } from "../../test/scratch-db.ts";
import { createWorkerApp, type WorkerApp } from "../src/app.ts";
import { workerEnv } from "../src/env.ts";
import { createRedisSink, tenantStreamKey } from "../src/outbox/redis-sink.ts";

const redisUrl = inject("redisUrl");
let databaseUrl: string;
let prisma: PrismaClient;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;

// A database of its own: only one relay leads per database, and it must be ours.
beforeAll(async () => {
  scratch = await createScratchDatabase(inject("databaseUrl"));
  databaseUrl = scratch.url;
  prisma = createPrismaClient({ connectionString: databaseUrl, poolSize: 4 });
});
afterAll(async () => {
  await prisma?.$disconnect();
  await scratch?.drop();
});

async function seedTenant(): Promise<string> {
  const id = newId();
  await prisma.organization.create({ data: { id, name: "Outbox Co", slug: `outbox-${id}` } });
  return id;
}

/** Commits one change and its announcement, as a service does. */
async function changeAndAnnounce(tenantId: string, n: number) {
  const db = tenantClient(prisma, tenantId);
  await db.$transaction(async (tx) => {
    await tx.project.create({ data: { tenantId, id: newId(), name: `p${n}` } });
    await emitEvent(tx, tenantId, { topic: "project.created", payload: { n } });
  });
}

function config(overrides: Record<string, string> = {}) {
  return workerEnv.parse({
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    ...overrides,
  });
}

async function streamOf(redis: Redis, tenantId: string) {
  const entries = await redis.xrange(tenantStreamKey(tenantId), "-", "+");
  return entries.map(([id, fields]) => ({
    id,
    event: JSON.parse(fields[1]!) as { seq: string; payload: { n: number } },
  }));
}

const pending = (tenantId: string) => prisma.outboxEvent.count({ where: { tenantId, deliveredAt: null } });

describe.skipIf(!redisUrl)("transactional outbox", () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisUrl);
  });
  afterAll(() => redis?.quit());

  it("announces nothing for a transaction that rolls back", async () => {
    const tenantId = await seedTenant();
    const db = tenantClient(prisma, tenantId);
    await expect(
      db.$transaction(async (tx) => {
        await tx.project.create({ data: { tenantId, id: newId(), name: "never" } });
        await emitEvent(tx, tenantId, { topic: "project.created", payload: { n: 0 } });
        throw new Error("business rule failed after the announcement was written");
      }),
    ).rejects.toThrow("business rule");
    expect(await prisma.outboxEvent.count({ where: { tenantId } })).toBe(0);
    expect(await prisma.outboxSequence.findUnique({ where: { tenantId } })).toBeNull();
  });

  it("numbers a tenant's events 1, 2, 3... in commit order, also under concurrent writers", async () => {
    const tenantId = await seedTenant();
    await Promise.all(Array.from({ length: 20 }, (_, n) => changeAndAnnounce(tenantId, n)));
    const rows = await prisma.outboxEvent.findMany({ where: { tenantId }, orderBy: { seq: "asc" } });
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  describe("the relay", () => {
    let worker: WorkerApp | undefined;
    afterAll(() => worker?.stop());

    async function startWorker() {
      if (worker) return;
      worker = await createWorkerApp(config({ REDIS_URL: redisUrl, RELAY_POLL_MS: "20" }));
      await worker.start(0);
    }

    it("announces a committed change exactly once, even when restarted in the middle of a batch", async () => {
      const tenantId = await seedTenant();
      for (let n = 1; n <= 5; n++) await changeAndAnnounce(tenantId, n);

      // The first relay delivers the batch and dies before it can mark it delivered.
      let crashed = false;
      const crashing = await createWorkerApp(config({ REDIS_URL: redisUrl, RELAY_POLL_MS: "20" }), {
        relay: {
          maxBackoffMs: 50,
          afterDeliver: (events) => {
            if (!crashed && events.some((e) => e.tenantId === tenantId)) {
              crashed = true;
              throw new Error("relay killed after delivering, before marking");
            }
          },
        },
      });
      await crashing.start(0);
      await eventually(async () => crashed, Boolean);
      await crashing.stop();
      // It had delivered all five; the outbox still says pending for the batch it did not mark.
      expect((await streamOf(redis, tenantId)).length).toBe(5);

      await startWorker();
      await eventually(
        () => pending(tenantId),
        (n) => n === 0,
      );
      const stream = await streamOf(redis, tenantId);
      expect(stream.map((e) => e.event.payload.n)).toEqual([1, 2, 3, 4, 5]);
      expect(stream.map((e) => e.id)).toEqual(["0-1", "0-2", "0-3", "0-4", "0-5"]);
    });

    it("publishes each event on the tenant's channel, and nothing of other tenants", async () => {
      await startWorker();
      const [mine, other] = [await seedTenant(), await seedTenant()];
      const subscriber = new Redis(redisUrl);
      const received: Array<{ channel: string; message: string }> = [];
      subscriber.on("message", (channel, message) => received.push({ channel, message }));
      await subscriber.subscribe(`events:${mine}`);
      await changeAndAnnounce(other, 1);
      await changeAndAnnounce(mine, 2);
      await eventually(
        async () => received.length,
        (n) => n >= 1,
      );
      await eventually(
        () => pending(other),
        (n) => n === 0,
      );
      await subscriber.quit();
      expect(received).toHaveLength(1);
      expect(JSON.parse(received[0]!.message)).toMatchObject({
        tenantId: mine,
        topic: "project.created",
        seq: "1",
      });
    });
  });

  it("delivers the other tenants of a round when one tenant's announcement fails, and that one later, in order", async () => {
    const [healthy, broken] = [await seedTenant(), await seedTenant()];
    const sinkRedis = new Redis(redisUrl);
    const sink = createRedisSink(sinkRedis);
    let failing = true;
    const worker = await createWorkerApp(config({ REDIS_URL: redisUrl, RELAY_POLL_MS: "20" }), {
      relay: {
        maxBackoffMs: 100,
        // The real sink, refusing one tenant's announcements for a while.
        sink: {
          announce: (tenantId, events) =>
            failing && tenantId === broken
              ? Promise.reject(new Error("Redis refused"))
              : sink.announce(tenantId, events),
        },
      },
    });
    try {
      for (let n = 1; n <= 3; n++) {
        await changeAndAnnounce(healthy, n);
        await changeAndAnnounce(broken, n);
      }
      await worker.start(0);
      await eventually(
        () => pending(healthy),
        (n) => n === 0,
      );
      expect(await pending(broken)).toBe(3);
      expect((await streamOf(redis, broken)).length).toBe(0);

      failing = false;
      await eventually(
        () => pending(broken),
        (n) => n === 0,
      );
      for (const tenantId of [healthy, broken]) {
        expect((await streamOf(redis, tenantId)).map((e) => e.event.payload.n)).toEqual([1, 2, 3]);
      }
    } finally {
      await worker.stop();
      await sinkRedis.quit();
    }
  });

  it("keeps committing while Redis is down and delivers in order per tenant when it returns", async () => {
    const redisServer = await startRedisServer();
    const worker = await createWorkerApp(config({ REDIS_URL: redisServer.url, RELAY_POLL_MS: "20" }), {
      relay: { maxBackoffMs: 200 },
    });
    await worker.start(0);
    const [a, b] = [await seedTenant(), await seedTenant()];
    try {
      await redisServer.stop();
      for (let n = 1; n <= 4; n++) {
        await changeAndAnnounce(a, n); // mutations succeed without Redis
        await changeAndAnnounce(b, n);
      }
      expect(await pending(a)).toBe(4);

      const back = await startRedisServer(redisServer.port);
      const client = new Redis(back.url);
      try {
        await eventually(
          async () => (await pending(a)) + (await pending(b)),
          (n) => n === 0,
          20_000,
        );
        for (const tenantId of [a, b]) {
          expect((await streamOf(client, tenantId)).map((e) => e.event.payload.n)).toEqual([1, 2, 3, 4]);
        }
      } finally {
        await client.quit();
        await worker.stop();
        await back.stop();
      }
    } finally {
      await redisServer.stop();
    }
  });
});
