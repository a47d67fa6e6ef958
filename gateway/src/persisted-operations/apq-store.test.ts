import { randomUUID } from "node:crypto";
import { sha256Hex } from "@app/common/persisted-documents";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createApqStore } from "./apq-store.ts";

const redisUrl = inject("redisUrl");
const redis = redisUrl ? new Redis(redisUrl) : undefined;
afterAll(() => redis?.disconnect());

const entry = () => {
  const document = `query Q { plans { code } } # ${randomUUID()}`;
  return { document, hash: sha256Hex(document) };
};

describe("the APQ store", () => {
  it.runIf(redisUrl)("shares entries through Redis, each with the configured lifetime", async () => {
    const one = createApqStore({ redis, ttlSeconds: 120, localEntries: 10 });
    const other = createApqStore({ redis, ttlSeconds: 120, localEntries: 10 });
    const { document, hash } = entry();
    expect(await other.get(hash)).toBeNull();
    await one.set(hash, document);
    expect(await other.get(hash)).toBe(document);
    const ttl = await redis!.ttl(`coditect:apq:${hash}`);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
  });

  it("without Redis keeps at most `localEntries` documents in memory", async () => {
    const store = createApqStore({ ttlSeconds: 60, localEntries: 2 });
    const [a, b, c] = [entry(), entry(), entry()];
    for (const e of [a, b, c]) await store.set(e.hash, e.document);
    expect(await store.get(a.hash)).toBeNull();
    expect(await store.get(b.hash)).toBe(b.document);
    expect(await store.get(c.hash)).toBe(c.document);
  });

  it("when Redis cannot answer, serves from memory and says so", async () => {
    const down = new Redis("redis://127.0.0.1:1", {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 1_000,
    });
    down.on("error", () => {});
    const failures: unknown[] = [];
    const store = createApqStore({
      redis: down,
      ttlSeconds: 60,
      localEntries: 10,
      onRedisError: (error) => failures.push(error),
    });
    const { document, hash } = entry();
    await store.set(hash, document);
    expect(await store.get(hash)).toBe(document);
    expect(await store.get(entry().hash)).toBeNull();
    expect(failures).toHaveLength(2);
    down.disconnect();
  });
});
