import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger } from "@app/common";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createGatewayPlanLimits } from "./usage-metering.ts";

/** billing's GET /internal/plan-limits, counting how often it is asked. */
let asked = 0;
const billing = createServer((_req, res) => {
  asked++;
  // Slow enough that the second ask comes while the first is unanswered, as in a request's two asks.
  setTimeout(() => {
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        planCode: "FREE",
        planName: "Free",
        maxProjects: 3,
        maxSeats: 5,
        maxOperationsPerMonth: 10_000,
        maxSubscriptionConnections: 5,
        validUntil: null,
        overridden: [],
      }),
    );
  }, 50);
});
let billingUrl: string;
beforeAll(async () => {
  await new Promise<void>((resolve) => billing.listen(0, "127.0.0.1", resolve));
  billingUrl = `http://127.0.0.1:${(billing.address() as AddressInfo).port}/graphql`;
});
afterAll(() => new Promise((resolve) => billing.close(resolve)));

describe.skipIf(!inject("redisUrl"))("plan limits at the gateway", () => {
  it("asks billing once for concurrent asks about one tenant", async () => {
    const limits = createGatewayPlanLimits({
      billingUrl: () => billingUrl,
      internalSecret: "s".repeat(32),
      redisUrl: `${inject("redisUrl")}/13`,
      logger: createLogger("usage-metering-test", "silent"),
    });
    try {
      const tenantId = randomUUID();
      const [early, late] = await Promise.all([limits.get(tenantId), limits.get(tenantId)]);
      expect(early.planCode).toBe("FREE");
      expect(late).toEqual(early);
      expect(asked).toBe(1);
    } finally {
      await limits.close();
    }
  });
});
