import { timingSafeEqual } from "node:crypto";
import { type GraphQLError, getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Redis } from "ioredis";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { annotateRequest } from "./request-id.ts";

/** Seconds; from a cached lookup (milliseconds) to a slow report (seconds). */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Distinct operation names one process labels its series with. Names come from clients: without a
 * bound, a client sending a new name per request would grow the registry (and Prometheus) without end.
 * Past it, new names are counted as `__other__`.
 */
const MAX_OPERATION_NAMES = 500;
const ANONYMOUS = "__anonymous__";
const OTHER = "__other__";

/** The routes an HTTP series is labelled with; anything else is `other` (paths come from clients). */
const ROUTES = new Set(["/graphql", "/healthz", "/readyz", "/metrics"]);

/** A registry whose series all carry `service`, with Node's process metrics (CPU, memory, event loop). */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * One service's Prometheus metrics, in a registry of its own (tests run several services in one
 * process): process metrics, GraphQL operations by name, HTTP responses, and the latency of what the
 * service waits on (subgraphs, the database, Redis). Every series carries `service`.
 */
export function createServiceMetrics(service: string) {
  const registry = createMetricsRegistry(service);

  const operationNames = new Set<string>();
  /** The label for an operation name: bounded, see {@link MAX_OPERATION_NAMES}. */
  const operationLabel = (name: string | null | undefined): string => {
    if (!name) return ANONYMOUS;
    if (operationNames.has(name)) return name;
    if (operationNames.size >= MAX_OPERATION_NAMES) return OTHER;
    operationNames.add(name);
    return name;
  };

  const requests = new Counter({
    name: "graphql_requests_total",
    help: "GraphQL operations executed (subscriptions: started), by operation name and type",
    labelNames: ["operation", "type"],
    registers: [registry],
  });
  const errors = new Counter({
    name: "graphql_errors_total",
    help: "GraphQL errors returned, by operation name and extensions.code",
    labelNames: ["operation", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "graphql_request_duration_seconds",
    help: "Time to execute a GraphQL operation (a subscription: to start it), by operation name and type",
    labelNames: ["operation", "type"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const http = new Counter({
    name: "http_responses_total",
    help: "HTTP responses by route and status (refusals before GraphQL runs: 400, 401, 413, 429...)",
    labelNames: ["route", "status"],
    registers: [registry],
  });
  const subgraphFetch = new Histogram({
    name: "subgraph_fetch_duration_seconds",
    help: "Gateway to subgraph fetches, by subgraph and outcome (ok, http_error, network_error)",
    labelNames: ["subgraph", "outcome"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const database = new Histogram({
    name: "db_query_duration_seconds",
    help: "SQL statements, by kind (select, insert, update, delete, other)",
    labelNames: ["statement"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const redis = new Histogram({
    name: "redis_command_duration_seconds",
    help: "Redis commands, by command and outcome (ok, error)",
    labelNames: ["command", "outcome"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const websockets = new Gauge({
    name: "websocket_connections",
    help: "Open WebSocket (graphql-ws) connections",
    registers: [registry],
  });

  return {
    registry,
    operationLabel,
    /** `seconds` undefined: refused before it ran (validation), counted but not timed. */
    operation(name: string, type: string, seconds: number | undefined, errorCodes: readonly string[]) {
      requests.inc({ operation: name, type });
      if (seconds !== undefined) duration.observe({ operation: name, type }, seconds);
      for (const code of errorCodes) errors.inc({ operation: name, code });
    },
    httpResponse(path: string, status: number) {
      http.inc({ route: ROUTES.has(path) ? path : "other", status: String(status) });
    },
    subgraphFetch(subgraph: string, outcome: "ok" | "http_error" | "network_error", seconds: number) {
      subgraphFetch.observe({ subgraph, outcome }, seconds);
    },
    databaseQuery(sql: string, seconds: number) {
      database.observe({ statement: statementKind(sql) }, seconds);
    },
    redisCommand(command: string, outcome: "ok" | "error", seconds: number) {
      redis.observe({ command: command.toLowerCase(), outcome }, seconds);
    },
    websockets,
    /** The `/metrics` answer, in Prometheus' text format. */
    async response(): Promise<Response> {
      return new Response(await registry.metrics(), {
        headers: { "content-type": registry.contentType, "cache-control": "no-store" },
      });
    },
  };
}
export type ServiceMetrics = ReturnType<typeof createServiceMetrics>;

const STATEMENTS = new Set(["select", "insert", "update", "delete"]);

/** select, insert, update, delete or other: the SQL's first word (Prisma's statements start with it). */
function statementKind(sql: string): string {
  const word = /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase() ?? "";
  return STATEMENTS.has(word) ? word : "other";
}

function errorCodes(errors: ReadonlyArray<GraphQLError> | undefined): string[] {
  return (errors ?? []).map((e) => {
    const code = e.extensions?.code;
    return typeof code === "string" && /^[A-Z_]{1,64}$/.test(code) ? code : "UNEXPECTED";
  });
}

export interface MetricsEndpointOptions {
  /**
   * When set, `/metrics` answers only `Authorization: Bearer <token>` (a gateway reachable from the
   * internet: operation names and traffic are not for everyone). Unset: open, for a port that only
   * the cluster reaches.
   */
  token?: string;
}

/**
 * Serves `/metrics`, counts and times every GraphQL operation by name, over HTTP and WebSocket alike
 * (envelop's execute and subscribe), and names the operation and tenant in the request's log lines.
 * Operations refused by validation count too, with their error codes.
 */
export function useMetrics(metrics: ServiceMetrics, options: MetricsEndpointOptions = {}): Plugin {
  const expected = options.token ? Buffer.from(`Bearer ${options.token}`) : undefined;
  const authorised = (header: string | null) => {
    if (!expected) return true;
    const given = Buffer.from(header ?? "");
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const begin = (args: {
    document: Parameters<typeof getOperationAST>[0];
    operationName?: string | null;
    contextValue: unknown;
  }) => {
    const operation = getOperationAST(args.document, args.operationName);
    const name = operation?.name?.value ?? args.operationName ?? undefined;
    const tenantId = (args.contextValue as { principal?: { tenantId?: string } | null }).principal?.tenantId;
    annotateRequest({ operationName: name, tenantId });
    return {
      label: metrics.operationLabel(name),
      type: operation?.operation ?? "unknown",
      started: performance.now(),
    };
  };
  return {
    async onRequest({ url, request, endResponse }) {
      if (url.pathname !== "/metrics") return;
      if (request.method !== "GET")
        endResponse(new Response(null, { status: 405, headers: { allow: "GET" } }));
      else if (!authorised(request.headers.get("authorization")))
        endResponse(new Response(null, { status: 401, headers: { "www-authenticate": "Bearer" } }));
      else endResponse(await metrics.response());
    },
    onValidate({ params }) {
      return ({ result }) => {
        if (result.length === 0) return;
        const operation = getOperationAST(params.documentAST);
        metrics.operation(
          metrics.operationLabel(operation?.name?.value),
          operation?.operation ?? "unknown",
          undefined,
          result.map(() => "GRAPHQL_VALIDATION_FAILED"),
        );
      };
    },
    onExecute({ args }) {
      const { label, type, started } = begin(args);
      return {
        onExecuteDone({ result }) {
          const single = Symbol.asyncIterator in result ? undefined : result;
          const seconds = (performance.now() - started) / 1000;
          metrics.operation(label, type, seconds, errorCodes(single?.errors));
        },
      };
    },
    onSubscribe({ args }) {
      const { label, type, started } = begin(args);
      return {
        onSubscribeResult({ result }) {
          const failed = Symbol.asyncIterator in result ? undefined : result;
          const seconds = (performance.now() - started) / 1000;
          metrics.operation(label, type, seconds, errorCodes(failed?.errors));
        },
      };
    },
    onResponse({ request, response }) {
      metrics.httpResponse(new URL(request.url).pathname, response.status);
    },
  };
}

/**
 * Times every command `redis` sends into `redis_command_duration_seconds` (by command: blocking reads
 * such as XREAD BLOCK stay apart from the quick ones). Wraps ioredis' one entry point for commands.
 */
export function instrumentRedis(redis: Redis, metrics: Pick<ServiceMetrics, "redisCommand">): Redis {
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((...args: Parameters<Redis["sendCommand"]>) => {
    const [command] = args;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    command.promise.then(
      () => metrics.redisCommand(command.name, "ok", seconds()),
      () => metrics.redisCommand(command.name, "error", seconds()),
    );
    return send(...args);
  }) as Redis["sendCommand"];
  return redis;
}
