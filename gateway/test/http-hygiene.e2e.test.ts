import { createHash } from "node:crypto";
import { signInternalContext } from "@app/common";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, startGateway, startPlatform } from "../../test/platform.ts";

/** HTTP hygiene at the gateway: CSRF prevention, the CORS allow-list, security headers, request ids. */

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(() => platform?.close());

const PLANS = "{ plans { code } }";
const JSON_ACCEPT = { accept: "application/graphql-response+json" };

function get(url: string, query: string, headers: Record<string, string> = {}) {
  return fetch(`${url}?query=${encodeURIComponent(query)}`, { headers: { ...JSON_ACCEPT, ...headers } });
}

describe("CSRF prevention", () => {
  it.each([
    ["a GET without a preflight header", () => get(platform.gatewayUrl, PLANS)],
    [
      "a POST of text/plain (what a cross-site form can send)",
      () =>
        fetch(platform.gatewayUrl, {
          method: "POST",
          headers: { "content-type": "text/plain", ...JSON_ACCEPT },
          body: JSON.stringify({ query: PLANS }),
        }),
    ],
    [
      "a POST of a url-encoded form",
      () =>
        fetch(platform.gatewayUrl, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", ...JSON_ACCEPT },
          body: new URLSearchParams({ query: PLANS }).toString(),
        }),
    ],
  ])("refuses %s with 403 CSRF_PREVENTED, before any subgraph is called", async (_label, send) => {
    const before = platform.subgraphCalls.length;
    const res = await send();
    expect(res.status).toBe(403);
    const body = await res.json();
    expect(body.errors[0].extensions.code).toBe("CSRF_PREVENTED");
    expect(body.errors[0].message).toContain("x-graphql-yoga-csrf");
    expect(platform.subgraphCalls.length).toBe(before);
  });

  it.each([
    ["x-graphql-yoga-csrf", "1"],
    ["apollo-require-preflight", "true"],
  ])("answers a GET that carries %s", async (header, value) => {
    const res = await get(platform.gatewayUrl, PLANS, { [header]: value });
    expect(res.status).toBe(200);
    expect((await res.json()).data.plans.length).toBeGreaterThan(0);
  });

  it("answers a POST of application/json (the preflight already happened)", async () => {
    const res = await gql(platform.gatewayUrl, PLANS);
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
  });

  it("still serves GraphiQL to a browser's plain GET", async () => {
    const res = await fetch(platform.gatewayUrl, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("CODITECT Platform");
  });
});

describe("CORS allow-list (CORS_ORIGINS)", () => {
  const preflight = (url: string, origin: string) =>
    fetch(url, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
  const post = (url: string, origin: string) =>
    fetch(url, {
      method: "POST",
      headers: { origin, "content-type": "application/json", ...JSON_ACCEPT },
      body: JSON.stringify({ query: PLANS }),
    });

  it("outside production, allows pages served from localhost on any port, and nothing else", async () => {
    for (const origin of ["http://localhost:3000", "http://127.0.0.1:5173"]) {
      const res = await preflight(platform.gatewayUrl, origin);
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(origin);
      expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
      expect(res.headers.get("access-control-allow-methods")).toBe("GET, POST");
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
      const answer = await post(platform.gatewayUrl, origin);
      expect(answer.headers.get("access-control-allow-origin")).toBe(origin);
      expect(answer.headers.get("access-control-expose-headers")).toContain("x-request-id");
      expect(answer.headers.get("vary")).toContain("Origin");
    }
    for (const origin of ["https://evil.example", "http://localhost.evil.example", "null"]) {
      const res = await preflight(platform.gatewayUrl, origin);
      expect(res.headers.get("access-control-allow-origin"), origin).toBeNull();
      expect((await post(platform.gatewayUrl, origin)).headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("with CORS_ORIGINS, allows exactly those origins", async () => {
    const gateway = await startGateway(platform, {
      CORS_ORIGINS: "https://app.coditect.example, https://admin.coditect.example",
    });
    try {
      for (const origin of ["https://app.coditect.example", "https://admin.coditect.example"]) {
        expect((await preflight(gateway.url, origin)).headers.get("access-control-allow-origin")).toBe(
          origin,
        );
      }
      for (const origin of [
        "http://localhost:3000",
        "https://app.coditect.example.evil",
        "http://app.coditect.example",
      ]) {
        expect(
          (await preflight(gateway.url, origin)).headers.get("access-control-allow-origin"),
          origin,
        ).toBeNull();
      }
    } finally {
      await gateway.close();
    }
  });

  it("in production, allows no origin unless CORS_ORIGINS names it", async () => {
    const gateway = await startGateway(platform, { NODE_ENV: "production" });
    try {
      const res = await preflight(gateway.url, "http://localhost:3000");
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      // A server-side client (no Origin) is not a browser: CORS does not concern it.
      expect((await gql(gateway.url, PLANS)).errors).toBeUndefined();
    } finally {
      await gateway.close();
    }
  });
});

describe("security headers", () => {
  const BASELINE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };

  it("are on every API response, errors and health checks included, with a CSP that loads nothing", async () => {
    const responses = [
      await fetch(platform.gatewayUrl, {
        method: "POST",
        headers: { "content-type": "application/json", ...JSON_ACCEPT },
        body: JSON.stringify({ query: PLANS }),
      }),
      await get(platform.gatewayUrl, PLANS), // refused: CSRF
      await fetch(new URL("/healthz", platform.gatewayUrl)),
      await fetch(new URL("/readyz", platform.gatewayUrl)),
    ];
    for (const res of responses) {
      expect(Object.fromEntries(Object.keys(BASELINE).map((h) => [h, res.headers.get(h)])), res.url).toEqual(
        BASELINE,
      );
      expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      // Not served over HTTPS here: no HSTS unless configured.
      expect(res.headers.get("strict-transport-security")).toBeNull();
    }
  });

  it("give the GraphiQL page a CSP that lets exactly its own inline scripts run, from this origin only", async () => {
    const res = await fetch(platform.gatewayUrl, { headers: { accept: "text/html" } });
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const csp = Object.fromEntries(
      res.headers
        .get("content-security-policy")!
        .split(";")
        .map((d) => d.trim().split(/\s+/))
        .map(([name, ...values]) => [name, values]),
    ) as Record<string, string[]>;
    // The hashes of the page's inline scripts, as the browser computes them.
    const page = await res.text();
    const hashes = [...page.matchAll(/<script>([\s\S]*?)<\/script>/g)].map(
      ([, body]) => `'sha256-${createHash("sha256").update(body!).digest("base64")}'`,
    );
    expect(hashes.length).toBeGreaterThan(0);
    expect(csp["default-src"]).toEqual(["'self'"]);
    expect(csp["script-src"]).toEqual(["'self'", ...hashes, "blob:"]);
    expect(csp["connect-src"]).toEqual(["'self'"]);
    expect(csp["frame-ancestors"]).toEqual(["'none'"]);
    // The page needs nothing from elsewhere: no URL of another origin in any directive.
    expect(
      Object.values(csp)
        .flat()
        .filter((v) => /^https?:/.test(v)),
    ).toEqual([]);
  });

  it("add Strict-Transport-Security when HSTS_MAX_AGE is set", async () => {
    const gateway = await startGateway(platform, { HSTS_MAX_AGE: "31536000" });
    try {
      const res = await gql(gateway.url, PLANS);
      expect(res.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
    } finally {
      await gateway.close();
    }
  });
});

describe("request ids", () => {
  it("echoes a valid x-request-id and hands it to every subgraph the operation calls, signed", async () => {
    const before = platform.subgraphCalls.length;
    const res = await gql(platform.gatewayUrl, `{ plans { code } }`, {
      headers: { "x-request-id": "client-req.42" },
    });
    expect(res.headers.get("x-request-id")).toBe("client-req.42");
    const calls = platform.subgraphCalls.slice(before);
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(call.headers["x-request-id"]).toBe("client-req.42");
      // What the subgraph trusts: the id inside the context the gateway signed.
      expect(decodeJwt(String(call.headers["x-coditect-context"])).rid).toBe("client-req.42");
    }
  });

  it.each([
    ["with spaces", "not a valid id"],
    ["too long", "x".repeat(129)],
    ["with markup", "<script>alert(1)</script>"],
  ])("replaces an id %s by a UUID of its own", async (_label, id) => {
    const before = platform.subgraphCalls.length;
    const res = await fetch(platform.gatewayUrl, {
      method: "POST",
      headers: { "content-type": "application/json", ...JSON_ACCEPT, "x-request-id": id },
      body: JSON.stringify({ query: PLANS }),
    });
    const echoed = res.headers.get("x-request-id");
    expect(echoed).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    for (const call of platform.subgraphCalls.slice(before))
      expect(call.headers["x-request-id"]).toBe(echoed);
  });

  it("makes one when none is sent, and echoes it on every kind of response", async () => {
    const responses = [
      await fetch(platform.gatewayUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{",
      }),
      await get(platform.gatewayUrl, PLANS), // CSRF refusal
      await fetch(new URL("/healthz", platform.gatewayUrl)),
      await fetch(new URL("/readyz", platform.gatewayUrl)),
      await fetch(platform.gatewayUrl, { headers: { accept: "text/html" } }),
      await fetch(new URL("/nowhere", platform.gatewayUrl)),
    ];
    const ids = responses.map((res) => res.headers.get("x-request-id"));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("a subgraph answers with the id the gateway signed, not one a caller sends beside it", async () => {
    const context = await signInternalContext(platform.internalSecret, {
      requestId: "signed-id-7",
      principal: null,
    });
    const res = await fetch(platform.subgraphUrls.billing, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-coditect-context": context,
        "x-request-id": "forged-id",
      },
      body: JSON.stringify({ query: "{ plans { code } }" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("signed-id-7");
  });
});
