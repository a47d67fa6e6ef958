import { createLogger } from "@app/common";
import type { Plan } from "@app/db";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../../test/eventually.ts";
import { checkLimit, effectivePlan, limitsOf, overridesOf, type PlanLimits } from "./limits.ts";
import {
  createPlanLimitsCache,
  invalidateAllPlanLimits,
  invalidatePlanLimits,
  type PlanLimitsSource,
} from "./limits-cache.ts";

const limits = (planCode: string, validUntil: number | null = null): PlanLimits => ({
  planCode,
  planName: planCode,
  maxProjects: 3,
  maxSeats: 5,
  maxOperationsPerMonth: 10,
  maxSubscriptionConnections: 1,
  validUntil,
  overridden: [],
});

describe("effectivePlan", () => {
  const now = new Date("2026-11-24T12:00:00Z");
  const later = new Date("2026-11-25T12:00:00Z");
  it("is the subscription's plan while active, and while past due within the grace period only", () => {
    expect(effectivePlan(null, now).planCode).toBe("FREE");
    expect(effectivePlan({ planCode: "PRO", status: "ACTIVE", graceEndsAt: null }, now).planCode).toBe("PRO");
    expect(effectivePlan({ planCode: "PRO", status: "PAST_DUE", graceEndsAt: later }, now)).toEqual({
      planCode: "PRO",
      validUntil: later,
    });
    expect(effectivePlan({ planCode: "PRO", status: "PAST_DUE", graceEndsAt: now }, now).planCode).toBe(
      "FREE",
    );
    expect(effectivePlan({ planCode: "PRO", status: "INCOMPLETE", graceEndsAt: null }, now).planCode).toBe(
      "FREE",
    );
    expect(effectivePlan({ planCode: "PRO", status: "CANCELED", graceEndsAt: null }, now).planCode).toBe(
      "FREE",
    );
  });
});

describe("organization overrides", () => {
  const free = { code: "FREE", name: "Free", maxProjects: 3, maxSeats: 5 } as Plan;
  const enterprise = { code: "ENTERPRISE", name: "Enterprise", maxProjects: null, maxSeats: null } as Plan;

  it("replace the plan's number, higher or lower, an unlimited one included; null keeps the plan's", () => {
    const raised = limitsOf(free, null, overridesOf({ limits: { maxProjects: 10, maxCustomDomains: 2 } }));
    expect(raised).toMatchObject({
      planCode: "FREE",
      maxProjects: 10,
      maxSeats: 5,
      overridden: ["projects"],
    });
    const capped = limitsOf(enterprise, null, overridesOf({ limits: { maxProjects: 0, maxMembers: 2 } }));
    expect(capped).toMatchObject({ maxProjects: 0, maxSeats: 2, overridden: ["projects", "seats"] });
    expect(limitsOf(free, null, overridesOf({ featureFlags: [] }))).toMatchObject({
      maxProjects: 3,
      overridden: [],
    });
  });

  it("are ignored when the stored value does not parse, rather than read as a limit", () => {
    for (const settings of [null, "x", { limits: { maxProjects: -1 } }, { limits: { maxMembers: "9" } }])
      expect(overridesOf(settings), JSON.stringify(settings)).toEqual({
        maxProjects: null,
        maxMembers: null,
      });
  });

  it("refuse with PLAN_LIMIT that says who set the limit and where to ask", () => {
    const limits = limitsOf(free, null, overridesOf({ limits: { maxProjects: 4 } }));
    expect(() => checkLimit("projects", limits, 4)).toThrow(/support team.*Ask support/);
    expect(() => checkLimit("seats", limits, 5)).toThrow(/Free plan allows 5 members.*upgrade/);
  });
});

describe.skipIf(!inject("redisUrl"))("the plan-limits cache (in-process and Redis)", () => {
  const redisUrl = `${inject("redisUrl")}/14`;
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(redisUrl);
  });
  afterAll(() => redis?.disconnect());
  const logger = createLogger("limits-cache-test", "silent");
  const tenant = () => crypto.randomUUID();

  /** Two replicas' caches over one loader that counts its loads and answers the plan the test sets. */
  async function withTwoCaches(
    run: (caches: {
      one: PlanLimitsSource;
      two: PlanLimitsSource;
      setPlan: (code: string) => void;
      loads: () => number;
    }) => Promise<void>,
  ) {
    let plan = "FREE";
    let loads = 0;
    const load = async () => {
      loads++;
      return limits(plan);
    };
    const one = createPlanLimitsCache({ redisUrl, load, logger });
    const two = createPlanLimitsCache({ redisUrl, load, logger });
    try {
      await run({ one, two, setPlan: (code) => (plan = code), loads: () => loads });
    } finally {
      await one.close();
      await two.close();
    }
  }

  const planBecomes = (cache: PlanLimitsSource, tenantId: string, code: string) =>
    eventually(
      async () => (await cache.get(tenantId)).planCode,
      (planCode) => planCode === code,
    );

  it("loads once, shares the entry between processes, and reloads after an invalidation reaches them", async () => {
    const t = tenant();
    await withTwoCaches(async ({ one, two, setPlan, loads }) => {
      expect((await one.get(t)).planCode).toBe("FREE");
      expect((await one.get(t)).planCode).toBe("FREE");
      expect((await two.get(t)).planCode).toBe("FREE");
      expect(loads()).toBe(1);
      setPlan("PRO");
      await invalidatePlanLimits(redis, t);
      await planBecomes(one, t, "PRO");
      await planBecomes(two, t, "PRO");
    });
  });

  it("drops every tenant's entry, shared and in-process, when the plan catalogue changes", async () => {
    const [a, b] = [tenant(), tenant()];
    await withTwoCaches(async ({ one, two, setPlan, loads }) => {
      await one.get(a);
      await one.get(b);
      expect((await two.get(a)).planCode).toBe("FREE");
      expect(loads()).toBe(2);
      setPlan("FREE-2");
      await invalidateAllPlanLimits(redis);
      await planBecomes(one, a, "FREE-2");
      await planBecomes(two, b, "FREE-2");
    });
  });

  it("does not keep what a load read before an invalidation that overtook it", async () => {
    const t = tenant();
    let release: (value: PlanLimits) => void = () => {};
    let loads = 0;
    const cache = createPlanLimitsCache({
      redisUrl,
      logger,
      load: () => {
        loads++;
        return loads === 1
          ? new Promise<PlanLimits>((resolve) => (release = resolve))
          : Promise.resolve(limits("PRO"));
      },
    });
    try {
      const stale = cache.get(t);
      await eventually(
        () => loads,
        (n) => n === 1,
      );
      await invalidatePlanLimits(redis, t);
      release(limits("FREE"));
      expect((await stale).planCode).toBe("FREE");
      await new Promise((r) => setTimeout(r, 100));
      expect((await cache.get(t)).planCode).toBe("PRO");
      expect(await redis.get(`plan-limits:v2:${t}`)).toContain('"PRO"');
    } finally {
      await cache.close();
    }
  });

  it("reads the source when Redis is unreachable, rather than guess", async () => {
    const cache = createPlanLimitsCache({
      redisUrl: "redis://127.0.0.1:1",
      logger,
      load: async () => limits("PRO"),
    });
    try {
      expect((await cache.get(tenant())).planCode).toBe("PRO");
    } finally {
      await cache.close();
    }
  });

  it("never keeps limits past their validUntil (a grace period's end)", async () => {
    const t = tenant();
    let loads = 0;
    const cache = createPlanLimitsCache({
      redisUrl,
      logger,
      load: async () => (++loads === 1 ? limits("PRO", Date.now() + 300) : limits("FREE")),
    });
    try {
      expect((await cache.get(t)).planCode).toBe("PRO");
      await new Promise((r) => setTimeout(r, 400));
      expect((await cache.get(t)).planCode).toBe("FREE");
    } finally {
      await cache.close();
    }
  });
});
