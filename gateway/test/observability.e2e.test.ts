import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startTracing, type Tracing } from "@app/common/tracing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import WebSocket from "ws";
import { createBillingApp } from "../../subgraphs/billing/src/app.ts";
import { billingEnv } from "../../subgraphs/billing/src/env.ts";
import { gql, type Platform, signUpTenant, startGateway, startPlatform } from "../../test/platform.ts";

/**
 * Metrics and traces as an operator sees them: `/metrics` on the gateway and on a subgraph names the
 * operation just run; a trace exported over OTLP/HTTP (to a collector stand-in on port 0) follows one
 * operation from the gateway into the subgraphs and their database queries.
 */

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  scope: string;
}

/** An OTLP/HTTP (JSON) trace receiver: what the services export, flattened to spans. */
async function startCollector() {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{
            scopeSpans: Array<{ scope: { name: string }; spans: Array<Omit<ExportedSpan, "scope">> }>;
          }>;
        };
        for (const resource of payload.resourceSpans)
          for (const scoped of resource.scopeSpans)
            for (const span of scoped.spans) spans.push({ ...span, scope: scoped.scope.name });
      }
      res.setHeader("content-type", "application/json");
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const OVERVIEW = /* GraphQL */ `
  query OrganizationOverview {
    currentOrganization { name subscription { plan { code } } }
  }
`;

/** The samples of `metric` in Prometheus' text format whose labels include `labels`. */
function samples(text: string, metric: string, labels: Record<string, string>): number[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${metric}{`))
    .filter((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .map((line) => Number(line.slice(line.lastIndexOf(" ") + 1)));
}

let collector: Awaited<ReturnType<typeof startCollector>>;
let tracing: Tracing;
let platform: Platform;
beforeAll(async () => {
  collector = await startCollector();
  // One process runs every service here, so one provider (named after the first) exports them all;
  // the instrumentation scopes tell the services apart.
  tracing = startTracing("gateway", {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_TRACES_SAMPLE_RATIO: 1,
  });
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(async () => {
  await platform?.close();
  await tracing?.shutdown();
  await collector?.close();
});

describe("/metrics", () => {
  it("shows the operation just run, by name, on the gateway and on the subgraph that served it", async () => {
    const { token } = await signUpTenant(platform.gatewayUrl, "metrics");
    const answer = await gql(platform.gatewayUrl, OVERVIEW, { token });
    expect(answer.errors).toBeUndefined();
    const refused = await gql(platform.gatewayUrl, "query Broken { nope }", { token });
    expect(refused.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");

    const gateway = await fetch(new URL("/metrics", platform.gatewayUrl));
    expect(gateway.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await gateway.text();
    const labels = { service: "gateway", operation: "OrganizationOverview", type: "query" };
    expect(samples(text, "graphql_requests_total", labels)).toEqual([1]);
    expect(samples(text, "graphql_request_duration_seconds_count", labels)).toEqual([1]);
    expect(
      samples(text, "graphql_errors_total", { operation: "Broken", code: "GRAPHQL_VALIDATION_FAILED" }),
    ).toEqual([1]);
    expect(
      samples(text, "subgraph_fetch_duration_seconds_count", { subgraph: "tenants", outcome: "ok" })[0],
    ).toBeGreaterThan(0);
    expect(
      samples(text, "subgraph_fetch_duration_seconds_count", { subgraph: "billing", outcome: "ok" })[0],
    ).toBeGreaterThan(0);
    expect(samples(text, "http_responses_total", { route: "/graphql", status: "200" })[0]).toBeGreaterThan(0);
    expect(text).toContain("websocket_connections{");
    expect(text).toContain("process_cpu_seconds_total{");

    // The subgraph counts the operation the gateway planned for it, under the planner's name for it.
    const billing = await (await fetch(new URL("/metrics", platform.subgraphUrls.billing))).text();
    expect(
      samples(billing, "graphql_requests_total", { service: "billing", type: "query" }).reduce(
        (a, b) => a + b,
        0,
      ),
    ).toBeGreaterThan(0);
    expect(billing).toMatch(/graphql_requests_total\{[^}]*operation="OrganizationOverview__billing__\d+"/);
  });

  it("needs the token when METRICS_TOKEN is set, and labels at most 500 operation names", async () => {
    const gateway = await startGateway(platform, { METRICS_TOKEN: "a-long-enough-metrics-token" });
    try {
      const origin = gateway.origin;
      expect((await fetch(`${origin}/metrics`)).status).toBe(401);
      expect(
        (await fetch(`${origin}/metrics`, { headers: { authorization: "Bearer wrong-token-of-same-size" } }))
          .status,
      ).toBe(401);
      const ok = await fetch(`${origin}/metrics`, {
        headers: { authorization: "Bearer a-long-enough-metrics-token" },
      });
      expect(ok.status).toBe(200);
      // A client making up a new name per request must not grow the metrics without end.
      for (let i = 0; i < 510; i += 1) gateway.app.metrics.operationLabel(`Made_up_${i}`);
      expect(gateway.app.metrics.operationLabel("OneMore")).toBe("__other__");
    } finally {
      await gateway.close();
    }
  });

  it.skipIf(!inject("redisUrl"))("times the gateway's Redis commands", async () => {
    const gateway = await startGateway(platform, { REDIS_URL: inject("redisUrl"), RATE_LIMITS: "true" });
    try {
      const answer = await gql(gateway.url, "{ plans { code } }");
      expect(answer.errors).toBeUndefined();
      const text = await (await fetch(`${gateway.origin}/metrics`)).text();
      const counts = text
        .split("\n")
        .filter(
          (line) => line.startsWith("redis_command_duration_seconds_count{") && line.includes('outcome="ok"'),
        );
      expect(counts.length).toBeGreaterThan(0);
    } finally {
      await gateway.close();
    }
  });

  it("times database queries on a subgraph with its own client", async () => {
    const app = createBillingApp(
      billingEnv.parse({
        DATABASE_URL: inject("databaseUrl"),
        INTERNAL_CONTEXT_SECRET: platform.internalSecret,
      }),
    );
    try {
      const ready = await app.yoga.fetch("http://billing/readyz");
      expect(ready.status).toBe(200);
      const text = await (await app.yoga.fetch("http://billing/metrics")).text();
      expect(
        samples(text, "db_query_duration_seconds_count", { service: "billing", statement: "select" })[0],
      ).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  });
});

describe("traces", () => {
  it("follow one operation from the gateway into the subgraphs and their database queries", async () => {
    const { token } = await signUpTenant(platform.gatewayUrl, "traces");
    // A client's traceparent is not adopted: a public client does not choose the gateway's trace.
    const forged = "4bf92f3577b34da6a3ce929d0e0e4736";
    const answer = await gql(platform.gatewayUrl, OVERVIEW, {
      token,
      headers: { traceparent: `00-${forged}-00f067aa0ba902b7-01` },
    });
    expect(answer.errors).toBeUndefined();

    await tracing.flush();
    const root = collector.spans.find(
      (s) => s.scope === "gateway" && s.name === "query OrganizationOverview",
    );
    expect(root).toBeDefined();
    expect(root!.traceId).not.toBe(forged);
    expect(root!.parentSpanId ?? "").toBe("");
    const trace = collector.spans.filter((s) => s.traceId === root!.traceId);
    const scopes = new Set(trace.map((s) => s.scope));
    expect([...scopes]).toEqual(
      expect.arrayContaining(["gateway", "apollo/gateway-js", "coditect", "tenants", "billing"]),
    );
    const names = trace.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["subgraph tenants", "subgraph billing"]));
    // Each subgraph's server span is the child of the gateway's client span for it.
    const client = trace.find((s) => s.name === "subgraph billing")!;
    const billingServer = trace.find((s) => s.scope === "billing" && s.parentSpanId === client.spanId);
    expect(billingServer).toBeDefined();
    // ...and Prisma's spans (the SQL it sent) hang under the subgraph's.
    expect(trace.some((s) => s.name === "prisma:client:operation")).toBe(true);
    expect(trace.some((s) => s.name === "prisma:client:db_query")).toBe(true);
    expect(collector.spans.every((s) => s.traceId !== forged)).toBe(true);
  });

  it("follow a subscription over server-sent events into the subgraph stream it opens", async () => {
    const { token } = await signUpTenant(platform.gatewayUrl, "sse-trace");
    const project = await gql(
      platform.gatewayUrl,
      `mutation { createProject(input: { name: "Traced" }) { project { id } } }`,
      {
        token,
      },
    );
    const projectId = project.data!.createProject.project.id as string;
    const streams = platform.subgraphCalls.filter((c) => c.subgraph === "projects").length;
    const abort = new AbortController();
    const response = await fetch(platform.gatewayUrl, {
      method: "POST",
      signal: abort.signal,
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        query: `subscription TracedBoard { taskChanged(projectId: "${projectId}") { kind } }`,
      }),
    });
    expect(response.status).toBe(200);
    await expect
      .poll(() => platform.subgraphCalls.filter((c) => c.subgraph === "projects").length)
      .toBeGreaterThan(streams);
    const stream = platform.subgraphCalls.filter((c) => c.subgraph === "projects").at(-1)!;
    abort.abort();
    await response.body?.cancel().catch(() => {});

    await tracing.flush();
    const root = collector.spans.find((s) => s.scope === "gateway" && s.name === "subscription TracedBoard");
    expect(root).toBeDefined();
    expect(String(stream.headers.traceparent)).toContain(root!.traceId);
  });

  it("follow an operation sent over graphql-ws", async () => {
    const { token } = await signUpTenant(platform.gatewayUrl, "ws-trace");
    const answer = await new Promise<unknown>((resolve, reject) => {
      const socket = new WebSocket(platform.gatewayWsUrl, "graphql-transport-ws");
      socket.once("open", () =>
        socket.send(
          JSON.stringify({ type: "connection_init", payload: { Authorization: `Bearer ${token}` } }),
        ),
      );
      socket.on("message", (data) => {
        const message = JSON.parse(String(data));
        if (message.type === "connection_ack")
          socket.send(
            JSON.stringify({
              id: "1",
              type: "subscribe",
              payload: { query: "query OverWebSocket { currentOrganization { name } }" },
            }),
          );
        else {
          socket.close();
          resolve(message.payload);
        }
      });
      socket.once("error", reject);
    });
    expect(answer).toEqual({ data: { currentOrganization: { name: "ws-trace Inc" } } });

    await tracing.flush();
    const root = collector.spans.find((s) => s.scope === "gateway" && s.name === "query OverWebSocket");
    expect(root).toBeDefined();
    const trace = collector.spans.filter((s) => s.traceId === root!.traceId);
    expect(trace.map((s) => s.scope)).toEqual(expect.arrayContaining(["apollo/gateway-js", "tenants"]));
  });
});

describe.skipIf(!inject("redisUrl"))("/metrics of subgraphs that use Redis", () => {
  let withRedis: Platform;
  beforeAll(async () => {
    withRedis = await startPlatform(inject("databaseUrl"), { redisUrl: inject("redisUrl") });
  });
  afterAll(() => withRedis?.close());

  it("times identity's Redis commands (sessions, log-in limits)", async () => {
    await signUpTenant(withRedis.gatewayUrl, "redis-metrics");
    const text = await (await fetch(new URL("/metrics", withRedis.subgraphUrls.identity))).text();
    expect(
      samples(text, "redis_command_duration_seconds_count", { service: "identity", outcome: "ok" }).length,
    ).toBeGreaterThan(0);
  });
});
