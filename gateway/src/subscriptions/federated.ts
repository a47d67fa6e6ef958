import http from "node:http";
import https from "node:https";
import { operationFromDocument } from "@apollo/federation-internals";
import { type ApolloGateway, buildOperationContext, executeQueryPlan } from "@apollo/gateway";
import type { FetchNode, QueryPlan, QueryPlanner, SubscriptionNode } from "@apollo/query-planner";
import { INTERNAL_CONTEXT_HEADER, type Logger } from "@app/common";
import { traceHeaders } from "@app/common/tracing";
import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  GraphQLError,
  type GraphQLSchema,
} from "graphql";
import { createClient } from "graphql-sse";
import { Repeater } from "graphql-yoga";
import { type GatewayContext, signedContextOf } from "../context.ts";
import { createAnswerSharing, sharingKeyOf } from "./shared-events.ts";

/** The pseudo-service that "fetches" the subscription event the subgraph just sent. */
const EVENT_SERVICE = "__subscription_event__";

/** What @apollo/gateway keeps private but a subscription needs: the planner and the two schemas. */
interface GatewayInternals {
  queryPlanner: QueryPlanner;
  /** The API schema as graphql-js sees it, and as federation's internals do. */
  schema: GraphQLSchema;
  apiSchema: unknown;
  supergraphSchema: unknown;
  serviceMap: Record<string, { url?: string; dataSource: unknown }>;
}

function internals(gateway: ApolloGateway): GatewayInternals {
  const g = gateway as unknown as GatewayInternals;
  if (!g.queryPlanner || !g.schema) throw new Error("the gateway has not loaded its supergraph yet");
  return g;
}

interface PlannedOperation {
  plan: QueryPlan;
  operationContext: ReturnType<typeof buildOperationContext>;
  /** The operation's events answered once per group of subscribers that get the same answer. */
  sharing: ReturnType<typeof createAnswerSharing<ExecutionResult>>;
  /** The operation's open subgraph streams, by {@link streamKeyOf}. */
  streams: Map<string, SubgraphStream>;
}

/** A subscriber of a shared subgraph stream: handed each answer, and the end (with a last result). */
interface Listener {
  next(result: ExecutionResult): void;
  end(last?: ExecutionResult): void;
}

/** One stream from the subgraph, fanned out to every subscriber with the same key. */
interface SubgraphStream {
  listeners: Set<Listener>;
  /** Ends the subgraph stream (when its last subscriber has left). */
  close(): void;
}

/**
 * Results a subscriber may have waiting before it counts as too slow and is ended (the subgraph's own
 * bound, subgraphs/projects' watch.ts). A stalled socket is normally closed sooner by websocket.ts.
 */
const MAX_PENDING_RESULTS = 256;

/**
 * Subscribers with the same key share one stream from the subgraph: the same operation, variables and
 * answer-deciding context (sharingKeyOf), and the same user, because the subgraph authorises and ends a
 * stream per user (its subscribe-time checks, a membership removal). A user's tabs, or the parts of a
 * page that watch one board, cost the subgraph and the gateway one stream: the subgraph sends each
 * event once and the gateway reads it once, however many of them there are.
 */
function streamKeyOf(context: GatewayContext, variables: Record<string, unknown>): string {
  return JSON.stringify([context.principal?.userId ?? null, sharingKeyOf(context, variables)]);
}

/**
 * Plans by planner (a new supergraph brings a new one), document and operation name. Yoga's parser
 * cache hands out one DocumentNode per query text, so the thousands of subscribers of one query share
 * one plan, planned once, instead of one plan each (planning costs milliseconds and kilobytes). Weak
 * keys: a document yoga's cache dropped takes its plans with it.
 */
const plans = new WeakMap<QueryPlanner, WeakMap<DocumentNode, Map<string, PlannedOperation>>>();

function planOf(
  { queryPlanner, schema, apiSchema }: GatewayInternals,
  document: DocumentNode,
  operationName: string | undefined,
): PlannedOperation {
  let byDocument = plans.get(queryPlanner);
  if (!byDocument) {
    byDocument = new WeakMap();
    plans.set(queryPlanner, byDocument);
  }
  let byName = byDocument.get(document);
  if (!byName) {
    byName = new Map();
    byDocument.set(document, byName);
  }
  let planned = byName.get(operationName ?? "");
  if (!planned) {
    planned = {
      operationContext: buildOperationContext({ schema, operationDocument: document, operationName }),
      plan: queryPlanner.buildQueryPlan(
        operationFromDocument(apiSchema as never, document, { operationName }),
      ),
      sharing: createAnswerSharing(),
      streams: new Map(),
    };
    byName.set(operationName ?? "", planned);
  }
  return planned;
}

/**
 * A connection per stream, closed when the stream ends: a stream lives long, so the handshake costs it
 * little, and a pooled idle connection could be one the subgraph is just closing (its keep-alive
 * timeout) as the next subscription is sent on it.
 */
const agents = {
  "http:": new http.Agent({ keepAlive: false }),
  "https:": new https.Agent({ keepAlive: false }),
};

/**
 * The fetch graphql-sse opens each subgraph stream with, over node:http. graphql-sse reads a Node
 * stream as well as a web stream, and a gateway holds one open stream per subscription: without the
 * global fetch's Request, Response, Headers and web streams, each costs about 25 KB less
 * (bench/subscriptions.ts).
 */
function streamOverHttp(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
): Promise<{ ok: boolean; status: number; statusText: string; body: http.IncomingMessage }> {
  const { protocol } = new URL(url);
  const request = protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    if (init.signal?.aborted) return reject(new Error("aborted"));
    let incoming: http.IncomingMessage | undefined;
    const outgoing = request(
      url,
      { method: init.method, headers: init.headers, agent: agents[protocol as keyof typeof agents] },
      (response) => {
        incoming = response;
        // Cut short by the abort below: graphql-sse, which reads it, knows it aborted.
        response.on("error", () => {});
        const status = response.statusCode ?? 0;
        resolve({
          ok: status >= 200 && status < 300,
          status,
          statusText: response.statusMessage ?? "",
          body: response,
        });
      },
    );
    // Not `signal` on the request: graphql-sse also aborts once a stream has ended, and Node then
    // destroys the finished request's socket with an error no one listens to.
    const abort = () => {
      if (!incoming?.complete) outgoing.destroy();
    };
    init.signal?.addEventListener("abort", abort, { once: true });
    outgoing.once("close", () => init.signal?.removeEventListener("abort", abort));
    outgoing.on("error", reject); // after the first, settled: nothing left to tell
    outgoing.end(init.body);
  });
}

export interface FederatedSubscriptionOptions {
  gateway: ApolloGateway;
  /** Subgraph URL by name (the gateway's overrides applied). */
  subgraphUrl(name: string): string;
  internalSecret: string;
  logger: Logger;
}

/**
 * Executes a subscription across subgraphs, which @apollo/gateway does not: the federation query
 * planner splits it into a primary fetch (the subscription field, on the subgraph that owns it) and the
 * rest (fields other subgraphs own, e.g. `assignee { email }` from identity). The primary fetch is
 * opened as a GraphQL-over-SSE subscription to that subgraph, with the same signed internal context as
 * any other request, and shared by the subscribers with the same stream key (streamKeyOf); for each
 * event it sends, the rest of the plan runs through @apollo/gateway's own executor, with the event
 * standing in for the primary fetch's result, once per event for all the subscribers that must get the
 * same answer (shared-events.ts): the subscribers of a project ask identity once, whoever they are.
 */
export function createFederatedSubscribe(options: FederatedSubscriptionOptions) {
  const { gateway, logger } = options;

  /**
   * Opens the subgraph stream of `key` for its first subscriber (`context`; `headers`: its signed context
   * and trace), and lists it under `key` until it ends.
   */
  function openStream(
    gatewayInternals: GatewayInternals,
    planned: PlannedOperation,
    key: string,
    context: GatewayContext,
    headers: Record<string, string>,
    variables: Record<string, unknown>,
    operationName: string | undefined,
  ): SubgraphStream {
    const { apiSchema, supergraphSchema, serviceMap } = gatewayInternals;
    const { primary, rest } = planned.plan.node as SubscriptionNode;
    const shared = planned.sharing.subscriber(sharingKeyOf(context, variables));

    const client = createClient({
      url: options.subgraphUrl(primary.serviceName),
      headers,
      // A dropped subgraph stream ends the client's subscription (with an error); it resubscribes.
      retryAttempts: 0,
      // Its events are shared with the group once the subgraph has accepted the stream.
      fetchFn: async (url: string, init: Parameters<typeof streamOverHttp>[1]) => {
        const response = await streamOverHttp(url, init);
        if (response.ok) shared.join();
        return response;
      },
    });
    const upstream = client.iterate({
      query: primary.operation,
      operationName: primary.operationName ?? undefined,
      variables: Object.fromEntries(
        (primary.variableUsages ?? [])
          .filter((name) => name in variables)
          .map((name) => [name, variables[name]]),
      ),
    });

    // The event replaces the primary fetch: same selections, served from memory.
    const eventFetch: FetchNode = { ...primary, serviceName: EVENT_SERVICE };
    const eventPlan = (): QueryPlan => ({
      kind: "QueryPlan",
      node: rest ? { kind: "Sequence", nodes: [eventFetch, rest] } : eventFetch,
    });
    const dataSources = Object.fromEntries(
      Object.entries(serviceMap).map(([name, { dataSource }]) => [name, dataSource]),
    );

    async function resolveEvent(event: ExecutionResult): Promise<ExecutionResult> {
      // Errors arrive as JSON: make them GraphQLErrors from that subgraph again, so they reach the
      // client as the subgraph meant them (the gateway's masking passes a subgraph's errors through).
      const errors = event.errors?.map(
        (e) =>
          new GraphQLError(e.message, {
            path: e.path,
            extensions: { ...e.extensions, serviceName: primary.serviceName },
          }),
      );
      if (!event.data) return { errors };
      const requestContext = {
        request: { query: "", variables, operationName },
        // Each event's fetches (identity for `assignee`...) sign a context of their own: the one
        // signed at subscribe time lives 60 s, and a subscription lives much longer. The first
        // subscriber's context stands for all: they share the user and what decides the answer.
        context: { ...context, signedContext: undefined } satisfies GatewayContext,
        metrics: {},
        logger: {
          debug() {},
          info() {},
          warn: (m: unknown) => logger.warn(String(m)),
          error: (m: unknown) => logger.error(String(m)),
        },
        cache: undefined,
        overallCachePolicy: {},
      };
      const result = await executeQueryPlan(
        eventPlan(),
        {
          ...dataSources,
          [EVENT_SERVICE]: { process: async () => ({ data: event.data, errors }) },
        } as never,
        requestContext as never,
        planned.operationContext,
        supergraphSchema as never,
        apiSchema as never,
        undefined,
      );
      return result as ExecutionResult;
    }

    let closed = false;
    const stream: SubgraphStream = {
      listeners: new Set(),
      close() {
        if (closed) return;
        closed = true;
        // From now on a new subscriber opens a stream of its own.
        if (planned.streams.get(key) === stream) planned.streams.delete(key);
        shared.leave();
        void upstream.return?.();
        client.dispose();
      },
    };
    planned.streams.set(key, stream);
    (async () => {
      for await (const event of upstream) {
        const answer = await shared.answer(JSON.stringify(event), () =>
          resolveEvent(event as ExecutionResult),
        );
        // Handed over without waiting: a subscriber that reads slowly queues its own results.
        for (const listener of stream.listeners) listener.next(answer);
      }
    })().then(
      () => {
        for (const listener of [...stream.listeners]) listener.end();
        stream.close();
      },
      (error) => {
        logger.warn(
          { err: error, requestId: context.requestId },
          "subscription stream from a subgraph failed",
        );
        const interrupted = {
          errors: [new GraphQLError("The subscription was interrupted; subscribe again.")],
        };
        for (const listener of [...stream.listeners]) listener.end(interrupted);
        stream.close();
      },
    );
    return stream;
  }

  return async function subscribe(
    args: ExecutionArgs,
  ): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    const context = args.contextValue as GatewayContext;
    const gatewayInternals = internals(gateway);
    const operationName = args.operationName ?? undefined;
    const planned = planOf(gatewayInternals, args.document, operationName);
    if (planned.plan.node?.kind !== "Subscription") {
      return { errors: [new GraphQLError("Only subscription operations can be subscribed to.")] };
    }
    const variables = args.variableValues ?? {};
    const key = streamKeyOf(context, variables);
    // Read now, in the request's trace: the Repeater below starts later, in its reader's context. A
    // stream joins the trace of the request that opened it.
    const trace = traceHeaders();

    // A Repeater rather than an async generator: a client that leaves while no event is pending must
    // leave the stream now (and end it, if it was the last), not when the next event would have arrived.
    // The stream is found or opened once the client reads (the Repeater starts then), so it cannot end
    // between the two for want of subscribers.
    return new Repeater<ExecutionResult>(async (push, stop) => {
      let stream = planned.streams.get(key);
      if (!stream) {
        const headers = {
          [INTERNAL_CONTEXT_HEADER]: await signedContextOf(context, options.internalSecret),
          ...trace,
        };
        // Another subscriber of the key may have opened it while this one signed.
        stream =
          planned.streams.get(key) ??
          openStream(gatewayInternals, planned, key, context, headers, variables, operationName);
      }
      let pending = 0;
      const listener: Listener = {
        next(answer) {
          if (pending >= MAX_PENDING_RESULTS) {
            logger.warn({ requestId: context.requestId }, "ending a subscriber that fell too far behind");
            void push({ errors: [slowConsumer()] });
            stop();
            return;
          }
          pending++;
          // A copy of its own: what a plugin sets on one subscriber's result stays with it.
          void push({ ...answer }).then(() => {
            pending--;
          });
        },
        end(last) {
          if (last) void push(last);
          stop();
        },
      };
      stream.listeners.add(listener);
      await stop;
      stream.listeners.delete(listener);
      if (stream.listeners.size === 0) stream.close();
    });
  };
}

/** Ends a subscriber that fell behind: websocket.ts closes its connection with 4413. */
function slowConsumer(): GraphQLError {
  return new GraphQLError("Too many events waiting for this subscriber; subscribe again.", {
    extensions: { code: "RATE_LIMITED", reason: "SLOW_CONSUMER" },
  });
}
