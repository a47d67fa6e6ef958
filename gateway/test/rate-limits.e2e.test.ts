import { randomInt } from "node:crypto";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { CurrentOrganizationDocument } from "../../schema/operations/generated/graphql.ts";
import { gqlDocument } from "../../test/persisted.ts";
import { gql, type Platform, signUpTenant, startGateway, startPlatform } from "../../test/platform.ts";
import { startRedisServer } from "../../test/redis.ts";

/**
 * Rate limits at the gateway: per organization (at its plan's rate), per API key and per address for
 * anonymous calls, shared through Redis; 429 with Retry-After and RATE_LIMITED; other tenants unaffected;
 * and a gateway whose Redis goes away keeps serving, limiting in-process and counting the fallback.
 */

const redisUrl = inject("redisUrl");
type Tenant = Awaited<ReturnType<typeof signUpTenant>>;

const ME = "{ me { id } }";
const CREATE_KEY = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }`;
const codes = (res: { errors?: Array<{ extensions?: { code?: string } }> }) =>
  res.errors?.map((e) => e.extensions?.code);

/** Limits small enough to reach in a test; the FREE plan's rate is the tenant's (organizations start on FREE). */
const LIMITS = {
  RATE_LIMITS: "true",
  RATE_LIMIT_PLANS: "FREE=6,PRO=1000",
  RATE_LIMIT_TENANT_PER_MINUTE: "1000",
  RATE_LIMIT_API_KEY_PER_MINUTE: "2",
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: "3",
};

/**
 * POSTs from a loopback address of its own (127.x.y.z), so the anonymous limit counts this test's
 * calls alone, whatever else on the machine talks to the gateway from 127.0.0.1.
 */
function postFrom(localAddress: string, url: string, query: string, headers: Record<string, string> = {}) {
  return new Promise<{
    status: number;
    retryAfter?: string;
    body: { errors?: Array<{ extensions?: { code?: string } }> };
  }>((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", localAddress, headers: { "content-type": "application/json", ...headers } },
      (res) => {
        let text = "";
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            retryAfter: res.headers["retry-after"],
            body: JSON.parse(text),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ query }));
  });
}

describe.runIf(redisUrl)("rate limits through Redis", () => {
  let platform: Platform;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    // Sign-ups go through the platform's own gateway (no limits); the limited one stands beside it.
    platform = await startPlatform(inject("databaseUrl"), { redisUrl });
    [a, b] = await Promise.all([
      signUpTenant(platform.gatewayUrl, "rl-a"),
      signUpTenant(platform.gatewayUrl, "rl-b"),
    ]);
    gateway = await startGateway(platform, LIMITS);
  });
  afterAll(async () => {
    await gateway?.close();
    await platform?.close();
  });

  it("an organization over its plan's rate gets 429 with Retry-After; another is unaffected", async () => {
    for (let i = 0; i < 6; i++) {
      const res = await gql(gateway.url, ME, { token: a.token });
      expect(res.errors, `request ${i + 1}`).toBeUndefined();
    }
    const calls = platform.subgraphCalls.length;
    const refused = await gql(gateway.url, ME, { token: a.token });
    expect(refused.status).toBe(429);
    expect(codes(refused)).toEqual(["RATE_LIMITED"]);
    expect(refused.errors?.[0]?.message).toContain("this organization may make 6 requests per minute");
    expect(refused.errors?.[0]?.extensions).toMatchObject({ scope: "tenant", limit: 6 });
    // One request's share of the minute is 10 s.
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(refused.errors?.[0]?.extensions?.retryAfter).toBe(retryAfter);
    // Refused before anything reached a subgraph.
    expect(platform.subgraphCalls.length).toBe(calls);

    const other = await gql(gateway.url, ME, { token: b.token });
    expect(other.errors).toBeUndefined();
    expect(other.data?.me.id).toBe(b.userId);

    // Counted in Redis, so another gateway refuses the organization too.
    const second = await startGateway(platform, LIMITS);
    try {
      expect(codes(await gql(second.url, ME, { token: a.token }))).toEqual(["RATE_LIMITED"]);
    } finally {
      await second.close();
    }
  });

  it("an API key is limited on its own, within its organization's rate", async () => {
    const c = await signUpTenant(platform.gatewayUrl, "rl-c");
    const created = await gql(platform.gatewayUrl, CREATE_KEY, {
      token: c.token,
      variables: { input: { name: "partner", scopes: ["READ"] } },
    });
    const key = created.data!.createApiKey.secret as string;
    // Keys run persisted operations only: a trusted document, by its hash.
    const byKey = () => gqlDocument(gateway.url, CurrentOrganizationDocument, { token: key });
    expect((await byKey()).errors).toBeUndefined();
    expect((await byKey()).errors).toBeUndefined();
    const refused = await byKey();
    expect(refused.status).toBe(429);
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: "RATE_LIMITED",
      scope: "apiKey",
      limit: 2,
    });
    // The organization's users still have room.
    expect((await gql(gateway.url, ME, { token: c.token })).errors).toBeUndefined();
  });

  it("anonymous calls are limited per client address", async () => {
    const mine = `127.${randomInt(1, 255)}.${randomInt(0, 255)}.${randomInt(1, 255)}`;
    const plans = "{ plans { code } }";
    for (let i = 0; i < 3; i++) expect((await postFrom(mine, gateway.url, plans)).status).toBe(200);
    const refused = await postFrom(mine, gateway.url, plans);
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", scope: "address" });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    // Another address is not affected.
    const neighbour = mine.replace(/\.\d+$/, (last) => `.${(Number(last.slice(1)) % 254) + 1}`);
    expect((await postFrom(neighbour, gateway.url, plans)).status).toBe(200);
    // Without trusted proxies X-Forwarded-For is ignored: naming another address does not get round it.
    const forged = await postFrom(mine, gateway.url, plans, { "x-forwarded-for": "203.0.113.7" });
    expect(forged.status).toBe(429);
  });

  it("behind a trusted proxy, the address it saw counts; what a client writes in front of it does not", async () => {
    const proxied = await startGateway(platform, { ...LIMITS, TRUSTED_PROXY_HOPS: "1" });
    try {
      const client = `198.51.${randomInt(0, 255)}.${randomInt(1, 255)}`;
      const plans = "{ plans { code } }";
      const via = (xff: string) => postFrom("127.0.0.1", proxied.url, plans, { "x-forwarded-for": xff });
      for (let i = 0; i < 3; i++) expect((await via(client)).status).toBe(200);
      expect((await via(client)).status).toBe(429);
      // The client prepends an address of its choosing: the proxy's entry (the last) still counts.
      expect((await via(`203.0.113.9, ${client}`)).status).toBe(429);
      // Another client behind the same proxy has its own allowance.
      expect((await via(`198.51.100.${randomInt(1, 255)}`)).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });
});

describe("when Redis goes away", () => {
  it("the gateway keeps serving, limits in-process and says so in its metrics", async () => {
    const redis = await startRedisServer();
    const platform = await startPlatform(inject("databaseUrl"));
    const gateway = await startGateway(platform, {
      ...LIMITS,
      REDIS_URL: redis.url,
      RATE_LIMIT_PLANS: "FREE=4",
    });
    try {
      const tenant = await signUpTenant(platform.gatewayUrl, "rl-down");
      expect((await gql(gateway.url, ME, { token: tenant.token })).errors).toBeUndefined();
      await redis.stop();

      const served = await gql(gateway.url, ME, { token: tenant.token });
      expect(served.errors).toBeUndefined();
      expect(served.data?.me.id).toBe(tenant.userId);
      // The in-process limiter starts its own count: 4 more, then 429.
      for (let i = 0; i < 3; i++)
        expect((await gql(gateway.url, ME, { token: tenant.token })).errors).toBeUndefined();
      expect(codes(await gql(gateway.url, ME, { token: tenant.token }))).toEqual(["RATE_LIMITED"]);

      const metrics = await gateway.app.metrics.registry.metrics();
      const fallbacks = /gateway_redis_fallback_total\{use="rate_limit"[^}]*\} (\d+)/.exec(metrics);
      expect(Number(fallbacks?.[1])).toBeGreaterThanOrEqual(5);
    } finally {
      await gateway.close();
      await platform.close();
      await redis.stop();
    }
  });
});
