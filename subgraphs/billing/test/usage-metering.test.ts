import { flushUsage, USAGE_BATCHES_KEY, USAGE_PENDING_KEY, usagePeriod } from "@app/billing";
import { createStripe } from "@app/billing/stripe";
import { createLogger } from "@app/common";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../../test/eventually.ts";
import { gql, onPlan, signUpTenant } from "../../../test/platform.ts";
import { type BillingPlatform, startBillingPlatform, subscribedTenant } from "./helpers.ts";

const USAGE = `query($period: String) { usage(period: $period) { period operations reportedOperations limit } }`;
const PING = "{ currentOrganization { id } }";

// Whole flows through every service and the worker: generous on a busy machine.
describe.skipIf(!inject("redisUrl"))(
  "usage metering: gateway -> Redis -> usage records -> Stripe meter events",
  { timeout: 60_000 },
  () => {
    let env: BillingPlatform;
    let redis: Redis;
    beforeAll(async () => {
      env = await startBillingPlatform(12);
      redis = new Redis(env.redisUrl);
      // This file's Redis database only: nothing pending from an earlier run.
      await redis.flushdb();
    });
    afterAll(async () => {
      redis?.disconnect();
      await env?.close();
    });

    const flush = (crashAfter?: "snapshot" | "write") =>
      flushUsage({
        redis,
        prisma: env.platform.prisma,
        stripe: createStripe({ STRIPE_SECRET_KEY: "sk_test_stand_in", STRIPE_API_BASE: env.standIn.url }),
        meterEventName: "coditect_api_operations",
        logger: createLogger("usage-test", "silent"),
        crashAfter,
      });
    const recorded = async (tenantId: string) =>
      (await env.platform.prisma.usageRecord.aggregate({ where: { tenantId }, _sum: { operations: true } }))
        ._sum.operations ?? 0;
    const metered = (customerId: string) =>
      env.standIn.meterEvents
        .filter((e) => (e.payload as { stripe_customer_id: string }).stripe_customer_id === customerId)
        .reduce((sum, e) => sum + Number((e.payload as { value: string }).value), 0);
    const pendingFor = async (tenantId: string) =>
      Number((await redis.hget(USAGE_PENDING_KEY, `${tenantId}|${usagePeriod()}`)) ?? 0);

    it("counts every operation at the gateway and loses none when the flush dies between its steps", async () => {
      const tenant = await subscribedTenant(env, "usage");
      // Whatever the sign-up and checkout already counted, flushed by the real job in the worker.
      await env.platform.worker!.boss.send("usage.flush", {});
      await eventually(
        () => pendingFor(tenant.tenantId),
        (n) => n === 0,
      );
      const before = await eventually(
        () => recorded(tenant.tenantId),
        (n) => n > 0,
      );

      for (let i = 0; i < 7; i++) await gql(env.platform.gatewayUrl, PING, { token: tenant.token });
      expect(await pendingFor(tenant.tenantId)).toBe(7);

      // Killed right after the snapshot: the batch stays listed in Redis, nothing was written.
      await expect(flush("snapshot")).rejects.toThrow(/crash injected/);
      expect(await redis.scard(USAGE_BATCHES_KEY)).toBe(1);
      expect(await recorded(tenant.tenantId)).toBe(before);

      // Counting goes on meanwhile, into a fresh pending hash.
      for (let i = 0; i < 3; i++) await gql(env.platform.gatewayUrl, PING, { token: tenant.token });
      expect(await pendingFor(tenant.tenantId)).toBe(3);

      // Killed after writing the batches but before deleting them: written, yet still listed.
      await expect(flush("write")).rejects.toThrow(/crash injected/);
      expect(await redis.scard(USAGE_BATCHES_KEY)).toBeGreaterThan(0);

      // The restarted job (the worker's, through pg-boss) writes nothing twice and reports everything.
      await env.platform.worker!.boss.send("usage.flush", {});
      await eventually(
        () => redis.scard(USAGE_BATCHES_KEY),
        (n) => n === 0,
      );
      await eventually(
        () =>
          env.platform.prisma.usageRecord.count({ where: { tenantId: tenant.tenantId, reportedAt: null } }),
        (n) => n === 0,
      );
      expect(await recorded(tenant.tenantId)).toBe(before + 10);
      expect(metered(tenant.customerId)).toBe(before + 10);
      // One meter event per record, each identifier once.
      const identifiers = env.standIn.meterEvents.map((e) => e.identifier);
      expect(new Set(identifiers).size).toBe(identifiers.length);
      const meterRequests = env.standIn.requests.filter((r) => r.path === "/v1/billing/meter_events");
      expect(meterRequests.every((r) => r.idempotencyKey === r.params.identifier)).toBe(true);

      const usage = await gql(env.platform.gatewayUrl, USAGE, { token: tenant.token });
      expect(usage.data!.usage).toEqual({
        period: usagePeriod(),
        operations: before + 10,
        reportedOperations: before + 10,
        limit: 1_000_000,
      });
    });

    it("refuses operations beyond the plan's monthly limit with PLAN_LIMIT, at the gateway", async () => {
      const tenant = await subscribedTenant(env, "quota");
      // Pro allows a million a month: put this tenant's month at the edge.
      await redis.set(`usage:month:${tenant.tenantId}:${usagePeriod()}`, "999999");
      const last = await gql(env.platform.gatewayUrl, PING, { token: tenant.token });
      expect(last.errors).toBeUndefined();
      const calls = env.platform.subgraphCalls.length;
      const refused = await gql(env.platform.gatewayUrl, PING, { token: tenant.token });
      expect(refused.errors?.[0]).toMatchObject({
        extensions: { code: "PLAN_LIMIT", limit: "operations", max: 1_000_000, plan: "PRO" },
      });
      expect(refused.errors?.[0]?.message).toMatch(/1,000,000 API operations per month.*upgrade/);
      // Refused before any subgraph was asked, and not counted.
      expect(env.platform.subgraphCalls.length).toBe(calls);
      expect(await redis.get(`usage:month:${tenant.tenantId}:${usagePeriod()}`)).toBe("1000000");
    });

    it("holds an organization to its plan's open subscriptions, and frees a slot when one ends", async () => {
      const code = `SUBS_${Date.now().toString(36).toUpperCase()}`;
      await env.platform.prisma.plan.create({
        data: {
          code,
          name: "Subs",
          monthlyPriceCents: 0,
          yearlyPriceCents: 0,
          maxSubscriptionConnections: 1,
        },
      });
      const tenant = await signUpTenant(env.platform.gatewayUrl, "subs");
      await onPlan(env.platform, tenant.tenantId, code);
      const created = await gql(
        env.platform.gatewayUrl,
        `mutation { createProject(input: { name: "Live" }) { project { id } } }`,
        { token: tenant.token },
      );
      const projectId = created.data!.createProject.project.id as string;
      /** Opens a subscription over server-sent events and reads what arrives within a second. */
      const open = async () => {
        const abort = new AbortController();
        const response = await fetch(env.platform.gatewayUrl, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "text/event-stream",
            authorization: `Bearer ${tenant.token}`,
          },
          body: JSON.stringify({
            query: "subscription($projectId: ID!) { taskChanged(projectId: $projectId) { kind } }",
            variables: { projectId },
          }),
          signal: abort.signal,
        });
        const reader = response.body!.getReader();
        let text = "";
        const reading = (async () => {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            text += new TextDecoder().decode(value);
          }
        })().catch(() => {});
        await Promise.race([reading, new Promise((r) => setTimeout(r, 1_000))]);
        return { text: () => text, close: () => abort.abort() };
      };
      const first = await open();
      expect(first.text()).not.toContain("PLAN_LIMIT");
      const second = await open();
      second.close();
      expect(second.text()).toContain("PLAN_LIMIT");
      expect(second.text()).toContain("1 open realtime subscription at once");
      first.close();
      const third = await eventually(
        async () => {
          const attempt = await open();
          attempt.close();
          return attempt.text();
        },
        (text) => !text.includes("PLAN_LIMIT"),
      );
      expect(third).not.toContain("PLAN_LIMIT");
    });

    it("rejects a malformed period naming the field", async () => {
      const tenant = await subscribedTenant(env, "period");
      const res = await gql(env.platform.gatewayUrl, USAGE, {
        token: tenant.token,
        variables: { period: "2026-13" },
      });
      expect(res.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT", field: "period" } });
    });
  },
);
