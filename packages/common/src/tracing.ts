import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-node";
import { PrismaInstrumentation } from "@prisma/instrumentation";
import { getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";

export interface TracingConfig {
  /** OTLP/HTTP collector base URL (Jaeger, an OpenTelemetry Collector); unset: tracing is off. */
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  /** Share of new traces recorded (0..1); a trace the caller sampled is always followed. */
  OTEL_TRACES_SAMPLE_RATIO: number;
}

export interface Tracing {
  enabled: boolean;
  /** Exports what is buffered now (tests; a service flushes on shutdown). */
  flush(): Promise<void>;
  /** Sends what is buffered and stops; a service calls it last on shutdown. */
  shutdown(): Promise<void>;
}

/** Set once a provider is registered: the plugins below cost nothing (no span, no header read) until then. */
let provider: NodeTracerProvider | undefined;

/** True once {@link startTracing} registered an exporter in this process. */
export function tracingEnabled(): boolean {
  return provider !== undefined;
}

/**
 * Starts OpenTelemetry tracing for this process when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans go in
 * batches to `<endpoint>/v1/traces` over OTLP/HTTP, the W3C `traceparent` header carries the trace
 * between services, and Prisma's spans (each operation and its SQL) join the request's trace. Also
 * lights up @apollo/gateway's own spans (plan, execute, fetch), which use the global API. Without the
 * setting nothing is registered and the OpenTelemetry API stays a no-op. Once per process: the first
 * caller names the service (in tests several services share one process, and one provider).
 */
export function startTracing(service: string, config: TracingConfig): Tracing {
  if (!config.OTEL_EXPORTER_OTLP_ENDPOINT)
    return { enabled: false, flush: async () => {}, shutdown: async () => {} };
  if (provider) {
    const shared = provider;
    return { enabled: true, flush: () => shared.forceFlush(), shutdown: async () => {} };
  }
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/*$/, "/");
  const registered = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": service }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLE_RATIO) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: new URL("v1/traces", base).href }))],
  });
  // The async-hooks context manager and the W3C trace-context + baggage propagators.
  registered.register();
  provider = registered;
  const prisma = new PrismaInstrumentation();
  prisma.setTracerProvider(registered);
  prisma.enable();
  return {
    enabled: true,
    flush: () => registered.forceFlush(),
    async shutdown() {
      prisma.disable();
      await registered.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
      provider = undefined;
    },
  };
}

const headerGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/** Probes and scrapes are not worth a trace each. */
const UNTRACED = new Set(["/healthz", "/readyz", "/metrics"]);

export interface TracingPluginOptions {
  /** The instrumentation scope naming this service's spans. */
  service: string;
  /**
   * Continue the caller's trace from its `traceparent`. Subgraphs do (only the gateway calls them); the
   * gateway does not: a public client could otherwise force sampling or pile its requests onto one
   * trace. Each gateway request starts a trace of its own.
   */
  trustIncoming: boolean;
}

/**
 * A server span per HTTP request (named by the GraphQL operation once known), with the request's
 * handling running inside it so every span it causes (subgraph fetches, Prisma) becomes its child.
 */
export function useTracing(options: TracingPluginOptions): Plugin {
  const spans = new WeakMap<Request, Span>();
  return {
    instrumentation: {
      request({ request }, wrapped) {
        const path = new URL(request.url).pathname;
        if (!provider || UNTRACED.has(path)) return wrapped();
        const parent: Context = options.trustIncoming
          ? propagation.extract(ROOT_CONTEXT, request.headers, headerGetter)
          : ROOT_CONTEXT;
        const span = trace.getTracer(options.service).startSpan(
          `${request.method} ${path}`,
          {
            kind: SpanKind.SERVER,
            attributes: { "http.request.method": request.method, "url.path": path },
          },
          parent,
        );
        spans.set(request, span);
        return runInSpan(parent, span, wrapped);
      },
      // Operations over graphql-ws come with no HTTP request: each gets a server span of its own.
      execute: (_payload, wrapped) => operationOverWebSocket(options.service, wrapped),
      subscribe: (_payload, wrapped) => operationOverWebSocket(options.service, wrapped),
    },
    onExecute({ args }) {
      nameSpan(trace.getActiveSpan(), args);
    },
    onSubscribe({ args }) {
      nameSpan(trace.getActiveSpan(), args);
    },
    onResponse({ request, response }) {
      const span = spans.get(request);
      if (!span) return;
      span.setAttribute("http.response.status_code", response.status);
      if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    },
  };
}

/** Runs `wrapped` with `span` active under `parent`, and ends the span when it is done. */
function runInSpan<T>(parent: Context, span: Span, wrapped: () => T): T {
  return context.with(trace.setSpan(parent, span), () => {
    try {
      const result = wrapped() as unknown;
      if (result instanceof Promise) return result.finally(() => span.end()) as T;
      span.end();
      return result as T;
    } catch (error) {
      span.end();
      throw error;
    }
  });
}

function operationOverWebSocket<T>(service: string, wrapped: () => T): T {
  // Over HTTP the request's span is active already.
  if (!provider || trace.getActiveSpan()) return wrapped();
  const span = trace
    .getTracer(service)
    .startSpan(
      "graphql-ws operation",
      { kind: SpanKind.SERVER, attributes: { "network.protocol.name": "websocket" } },
      ROOT_CONTEXT,
    );
  return runInSpan(ROOT_CONTEXT, span, wrapped);
}

function nameSpan(
  span: Span | undefined,
  args: { document: Parameters<typeof getOperationAST>[0]; operationName?: string | null },
) {
  if (!span) return;
  const operation = getOperationAST(args.document, args.operationName);
  if (!operation) return;
  const name = operation.name?.value;
  span.updateName(name ? `${operation.operation} ${name}` : operation.operation);
  span.setAttribute("graphql.operation.type", operation.operation);
  if (name) span.setAttribute("graphql.operation.name", name);
}

/** The active trace's `traceparent` (and baggage) as headers, for a call made outside {@link traceOutgoing}. */
export function traceHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  if (provider) propagation.inject(context.active(), headers);
  return headers;
}

/**
 * A client span around one call to another service, with its `traceparent` added to `headers`; the
 * callee continues the trace. Runs `call` as is when tracing is off.
 */
export async function traceOutgoing<T>(
  name: string,
  attributes: Record<string, string>,
  headers: Record<string, string>,
  call: () => Promise<T>,
  statusOf?: (result: T) => number,
): Promise<T> {
  if (!provider) return call();
  return trace
    .getTracer("coditect")
    .startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      propagation.inject(context.active(), headers);
      try {
        const result = await call();
        const status = statusOf?.(result);
        if (status !== undefined) {
          span.setAttribute("http.response.status_code", status);
          if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
        }
        return result;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
}
