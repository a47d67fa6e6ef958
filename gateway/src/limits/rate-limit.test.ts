import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createRateLimiter, type RateLimitRule } from "./rate-limit.ts";

/** The GCRA limiter against a real Redis, and its in-process fallback, which must agree with it. */

const redisUrl = inject("redisUrl");
const redis = redisUrl ? new Redis(redisUrl, { enableOfflineQueue: true }) : undefined;
afterAll(() => redis?.disconnect());

const rule = (scope: RateLimitRule["scope"], limit: number, periodMs = 60_000): RateLimitRule => ({
  scope,
  key: randomUUID(),
  limit,
  periodMs,
});

const limiters = {
  redis: () => createRateLimiter({ redis }),
  "in-process": () => createRateLimiter({}),
};

for (const [name, make] of Object.entries(limiters)) {
  describe.runIf(name !== "redis" || redis)(`GCRA (${name})`, () => {
    it("allows a burst of `limit`, then refuses with the wait until the next one", async () => {
      const limiter = make();
      const tenant = rule("tenant", 5);
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const decision = await limiter.check([tenant]);
        expect(decision.allowed).toBe(true);
        if (decision.allowed) remaining.push(decision.remaining);
      }
      expect(remaining).toEqual([4, 3, 2, 1, 0]);
      const refused = await limiter.check([tenant]);
      expect(refused.allowed).toBe(false);
      if (refused.allowed) return;
      expect(refused.rule).toBe(tenant);
      // One request's worth of the period (12 s) minus the moments the test took.
      expect(refused.retryAfterMs).toBeGreaterThan(10_000);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(12_000);
    });

    it("gives the room back at the rate it was set to", async () => {
      const limiter = make();
      // 2 per 2 s: one comes back every second, so a busy machine's slow checks cannot refill it early.
      const fast = rule("address", 2, 2_000);
      expect((await limiter.check([fast])).allowed).toBe(true);
      expect((await limiter.check([fast])).allowed).toBe(true);
      const refused = await limiter.check([fast]);
      expect(refused.allowed).toBe(false);
      await new Promise((r) => setTimeout(r, refused.allowed ? 0 : refused.retryAfterMs + 50));
      expect((await limiter.check([fast])).allowed).toBe(true);
    });

    it("charges all rules or none: a request refused by its key's limit spends none of its tenant's", async () => {
      const limiter = make();
      const tenant = rule("tenant", 3);
      const key = rule("apiKey", 1);
      expect((await limiter.check([tenant, key])).allowed).toBe(true);
      for (let i = 0; i < 5; i++) {
        const refused = await limiter.check([tenant, key]);
        expect(refused.allowed ? null : refused.rule.scope).toBe("apiKey");
      }
      // The tenant spent 1 of 3: two more for its other callers.
      expect((await limiter.check([tenant])).allowed).toBe(true);
      expect((await limiter.check([tenant])).allowed).toBe(true);
      expect((await limiter.check([tenant])).allowed).toBe(false);
    });

    it("keeps keys apart", async () => {
      const limiter = make();
      const one = rule("tenant", 1);
      const other = rule("tenant", 1);
      expect((await limiter.check([one])).allowed).toBe(true);
      expect((await limiter.check([one])).allowed).toBe(false);
      expect((await limiter.check([other])).allowed).toBe(true);
    });
  });
}

describe("when Redis cannot answer", () => {
  it("decides in this process, says so, and still limits", async () => {
    // A port nothing listens on; no offline queue, so each command fails at once.
    const down = new Redis("redis://127.0.0.1:1", {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 1_000,
    });
    down.on("error", () => {});
    const failures: unknown[] = [];
    const limiter = createRateLimiter({ redis: down, onFallback: (error) => failures.push(error) });
    const tenant = rule("tenant", 2);
    expect((await limiter.check([tenant])).allowed).toBe(true);
    expect((await limiter.check([tenant])).allowed).toBe(true);
    expect((await limiter.check([tenant])).allowed).toBe(false);
    expect(failures).toHaveLength(3);
    down.disconnect();
  });
});
