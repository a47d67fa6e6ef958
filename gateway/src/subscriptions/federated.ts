import { operationFromDocument } from "@apollo/federation-internals";
import { type ApolloGateway, buildOperationContext, executeQueryPlan } from "@apollo/gateway";
import type { FetchNode, QueryPlan, QueryPlanner } from "@apollo/query-planner";
import { INTERNAL_CONTEXT_HEADER, type Logger } from "@app/common";
import { type ExecutionArgs, type ExecutionResult, GraphQLError, type GraphQLSchema } from "graphql";
import { createClient } from "graphql-sse";
import { Repeater } from "graphql-yoga";
import { type GatewayContext, signedContextOf } from "../context.ts";

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
 * any other request; for each event it sends, the rest of the plan runs through @apollo/gateway's own
 * executor, with the event standing in for the primary fetch's result.
 */
export function createFederatedSubscribe(options: FederatedSubscriptionOptions) {
  const { gateway, logger } = options;

  return async function subscribe(
    args: ExecutionArgs,
  ): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    const context = args.contextValue as GatewayContext;
    const { queryPlanner, schema, apiSchema, supergraphSchema, serviceMap } = internals(gateway);
    const operationName = args.operationName ?? undefined;
    const operationContext = buildOperationContext({
      schema,
      operationDocument: args.document,
      operationName,
    });
    const plan = queryPlanner.buildQueryPlan(
      operationFromDocument(apiSchema as never, args.document, { operationName }),
    );
    if (plan.node?.kind !== "Subscription") {
      return { errors: [new GraphQLError("Only subscription operations can be subscribed to.")] };
    }
    const { primary, rest } = plan.node;
    const variables = args.variableValues ?? {};
    const signed = await signedContextOf(context, options.internalSecret);

    const client = createClient({
      url: options.subgraphUrl(primary.serviceName),
      headers: { [INTERNAL_CONTEXT_HEADER]: signed },
      // A dropped subgraph stream ends the client's subscription (with an error); it resubscribes.
      retryAttempts: 0,
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
        // signed at subscribe time lives 60 s, and a subscription lives much longer.
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
        operationContext,
        supergraphSchema as never,
        apiSchema as never,
        undefined,
      );
      return result as ExecutionResult;
    }

    // A Repeater rather than an async generator: a client that leaves while no event is pending must
    // end the subgraph stream now, not when the next event would have arrived.
    return new Repeater<ExecutionResult>(async (push, stop) => {
      const pump = (async () => {
        for await (const event of upstream) await push(await resolveEvent(event as ExecutionResult));
      })();
      pump.then(
        () => stop(),
        (error) => {
          logger.warn(
            { err: error, requestId: context.requestId },
            "subscription stream from a subgraph failed",
          );
          void push({ errors: [new GraphQLError("The subscription was interrupted; subscribe again.")] });
          stop();
        },
      );
      await stop;
      await upstream.return?.();
      client.dispose();
    });
  };
}
