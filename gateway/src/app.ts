import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, Server } from "node:http";
import { ApolloGateway } from "@apollo/gateway";
import {
  checkReadiness,
  createLogger,
  drainingCheck,
  INTERNAL_CONTEXT_HEADER,
  type Logger,
  type Principal,
  REQUEST_ID_HEADER,
  type ReadinessCheck,
  readinessResponse,
  requestIdOf,
  useRequestId,
} from "@app/common";
import { createServiceMetrics, instrumentRedis, useMetrics } from "@app/common/metrics";
import { useTracing } from "@app/common/tracing";
import { useApolloFederation } from "@envelop/apollo-federation";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { GraphQLError } from "graphql";
import { createYoga, maskError, type Plugin } from "graphql-yoga";
import type { JWTVerifyGetKey } from "jose";
import { createAdmission } from "./admission.ts";
import { createCredentials } from "./auth/credentials.ts";
import { useScopes } from "./auth/scopes.ts";
import { type GatewayContext, signedContextOf } from "./context.ts";

export type { GatewayContext };

import type { GatewayConfig } from "./env.ts";
import { corsOptions, useVaryOrigin } from "./http/cors.ts";
import { useCsrfPrevention } from "./http/csrf.ts";
import { useRetryAfter } from "./http/retry-after.ts";
import { graphiqlWithCsp, useSecurityHeaders } from "./http/security-headers.ts";
import { websocketOriginAllowed } from "./http/websocket-origin.ts";
import { useQueryLimits } from "./limits/query-limits.ts";
import { countWebSockets } from "./observability/websockets.ts";
import { createGatewayRedis } from "./redis.ts";
import { DedupingDataSource } from "./subgraphs/data-source.ts";
import { createSubgraphAgent, createSubgraphFetcher } from "./subgraphs/fetcher.ts";
import { createFederatedSubscribe } from "./subscriptions/federated.ts";
import { attachWebSocketServer } from "./subscriptions/websocket.ts";
import { createTenancy } from "./tenancy/tenancy.ts";
import { createSubscriptionSlots } from "./usage/subscription-slots.ts";
import { createGatewayPlanLimits, useUsageMetering } from "./usage/usage-metering.ts";

/** How long a subgraph's /healthz may take before the gateway's /readyz counts it as down. */
const SUBGRAPH_PROBE_MS = 1_500;

/** Subgraph URL overrides from the environment, by subgraph name. */
function urlOverrides(config: GatewayConfig): Record<string, string | undefined> {
  return {
    tenants: config.TENANTS_URL,
    identity: config.IDENTITY_URL,
    projects: config.PROJECTS_URL,
    billing: config.BILLING_URL,
  };
}

/**
 * What the client sees of an error. Apollo's executor hands over two kinds yoga's default masking gets
 * wrong: an error a subgraph answered with (it keeps the subgraph's JSON as `originalError`, which yoga
 * takes for an unexpected error and masks, so every NOT_FOUND or BAD_USER_INPUT became "Unexpected
 * error."), and a failed fetch (a GraphQLError whose `response` holds the subgraph's URL and body, which
 * yoga would show as is).
 */
function gatewayMaskError(logger: Logger) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    if (error instanceof GraphQLError) {
      const { serviceName, response, ...extensions } = error.extensions;
      if (response !== undefined) {
        logger.error({ err: error }, "subgraph fetch failed");
        return new GraphQLError(message, { path: error.path, extensions: { code: "INTERNAL_SERVER_ERROR" } });
      }
      // Subgraphs mask their own unexpected errors: what reaches us is meant for the client.
      if (typeof serviceName === "string")
        return new GraphQLError(error.message, { path: error.path, extensions });
    }
    const masked = maskError(error, message, isDev);
    if (masked !== error) logger.error({ err: error }, "unexpected error");
    return masked;
  };
}

function apolloLogger(logger: Logger) {
  return {
    debug: (message: unknown) => logger.debug(String(message)),
    info: (message: unknown) => logger.info(String(message)),
    warn: (message: unknown) => logger.warn(String(message)),
    error: (message: unknown) => logger.error(String(message)),
  };
}

/**
 * Builds the gateway: @apollo/gateway's query planner and executor, hosted on graphql-yoga. `index.ts`
 * listens; tests serve it on port 0. `keys` replaces the remote JWKS (tests of forged tokens).
 */
export async function createGatewayApp(config: GatewayConfig, deps: { keys?: JWTVerifyGetKey } = {}) {
  const logger = createLogger("gateway", config.LOG_LEVEL);
  const metrics = createServiceMetrics("gateway");
  // Keep-alive connections to the subgraphs (undici), shared by every data source.
  const subgraphAgent = createSubgraphAgent();
  const supergraphSdl = await readFile(config.SUPERGRAPH_PATH, "utf8");
  const overrides = urlOverrides(config);
  const secret = config.INTERNAL_CONTEXT_SECRET;

  // @apollo/gateway otherwise reports usage to Apollo over OTLP and probes cloud metadata endpoints
  // (169.254.169.254 and friends) when it is constructed. A platform's traffic is its own: opt out.
  process.env.APOLLO_TELEMETRY_DISABLED = "true";
  const subgraphUrls: Record<string, string> = {};
  const gateway = new ApolloGateway({
    supergraphSdl,
    logger: apolloLogger(logger),
    buildService({ name, url }) {
      subgraphUrls[name] = overrides[name] ?? url!;
      return new DedupingDataSource<GatewayContext>({
        url: subgraphUrls[name],
        fetcher: createSubgraphFetcher(name, subgraphAgent, metrics),
        // Only this header reaches a subgraph: nothing the client sent is forwarded.
        async willSendRequest({ request, context }) {
          const token = await signedContextOf(context as GatewayContext, secret);
          request.http?.headers.set(INTERNAL_CONTEXT_HEADER, token);
          // For proxies' and access logs; the subgraph itself trusts only the signed copy.
          request.http?.headers.set(REQUEST_ID_HEADER, (context as GatewayContext).requestId);
        },
      });
    },
  });
  await gateway.load();

  const subscribeFederated = createFederatedSubscribe({
    gateway,
    subgraphUrl: (name) => subgraphUrls[name]!,
    internalSecret: secret,
    logger,
  });
  // Access tokens, API keys and the external issuer's tokens: one Authorization, three verifiers.
  const credentials = createCredentials(config, {
    identityUrl: () => subgraphUrls.identity!,
    logger,
    keys: deps.keys,
  });
  // Rate limits and persisted operations (admission.ts), before any document is parsed.
  const redis = config.REDIS_URL
    ? instrumentRedis(await createGatewayRedis(config.REDIS_URL, logger), metrics)
    : undefined;
  // Plan limits and usage metering (usage/): the counts live in Redis, so only with it.
  const planLimits =
    redis && config.REDIS_URL
      ? createGatewayPlanLimits({
          billingUrl: () => subgraphUrls.billing!,
          internalSecret: secret,
          redisUrl: config.REDIS_URL,
          logger,
        })
      : null;
  const subscriptionSlots = redis ? createSubscriptionSlots(redis, logger) : null;
  // Suspended organizations' credentials refused; hosts resolved to organizations (tenancy/).
  const tenancy = createTenancy({
    baseDomain: config.BASE_DOMAIN,
    ttlSeconds: config.ORGANIZATION_CACHE_TTL_SECONDS,
    redis,
    tenantsUrl: () => subgraphUrls.tenants!,
    internalSecret: secret,
    logger,
  });
  const verifyAccessToken = tenancy.guard(async (authorization: string | null) => {
    const principal = await credentials.authenticate(authorization);
    // A tenant's first request in a while needs its organization's status (tenants, checked by the
    // guard) and its plan's limits (billing, for admission and metering): asked at once, not in turn.
    if (principal && planLimits) planLimits.get(principal.tenantId).catch(() => {});
    return principal;
  });
  const admission = await createAdmission({
    settings: config,
    redis,
    planCodeOf: planLimits ? async (tenantId) => (await planLimits.get(tenantId)).planCode : undefined,
    registry: metrics.registry,
    tenantsUrl: () => subgraphUrls.tenants!,
    logger,
  });

  let draining = false;
  const readiness: Record<string, ReadinessCheck> = {
    supergraph: async () => {
      if (!gateway.schema) throw new Error("the supergraph is not loaded");
    },
    ...Object.fromEntries(
      Object.entries(subgraphUrls).map(([name, url]) => [
        `subgraph:${name}`,
        () => probe(new URL("/healthz", url), SUBGRAPH_PROBE_MS),
      ]),
    ),
    accepting: drainingCheck(() => draining),
  };

  const graphiql = graphiqlWithCsp(renderGraphiQL);
  const yoga = createYoga<Record<string, never>, GatewayContext>({
    graphqlEndpoint: "/graphql",
    healthCheckEndpoint: "/healthz",
    landingPage: false,
    logging: false,
    // Subscriptions from the explorer over graphql-ws, as other clients'; the header editor's token goes
    // with each operation (subscriptions/websocket.ts).
    graphiql: config.GRAPHIQL ? { title: "CODITECT Platform", subscriptionsProtocol: "WS" } : false,
    // GraphiQL's scripts inlined into the page, so the explorer works without reaching a CDN.
    renderGraphiQL: graphiql.render,
    cors: corsOptions(config.CORS_ORIGINS),
    maxRequestBodySize: config.REQUEST_MAX_BODY_BYTES,
    // useQueryLimits refuses batches first, with a code saying why; this is the backstop.
    batching: config.REQUEST_MAX_BATCH > 0 ? { limit: config.REQUEST_MAX_BATCH } : false,
    plugins: [
      useRequestId(),
      // A public edge: each request starts a trace of its own (tracing.ts says why).
      useTracing({ service: "gateway", trustIncoming: false }),
      useMetrics(metrics, { token: config.METRICS_TOKEN }),
      useSecurityHeaders({ hstsMaxAge: config.HSTS_MAX_AGE, graphiqlScripts: graphiql.scriptHashes }),
      useVaryOrigin(),
      useAccessLog(logger),
      useRetryAfter(),
      tenancy.plugin,
      {
        async onRequest({ url, endResponse }) {
          if (url.pathname === "/readyz")
            endResponse(readinessResponse(await checkReadiness("gateway", readiness)));
        },
      },
      useCsrfPrevention(),
      // The token is verified before parsing: the introspection policy (validation) needs to know
      // whether the caller is authenticated. Over WebSocket connection_init did it (websocket.ts).
      {
        async onParams({ request, context }) {
          (context as { principal?: Principal | null }).principal = await verifyAccessToken(
            request.headers.get("authorization"),
          );
        },
      },
      admission.plugin,
      useScopes(),
      ...useQueryLimits({
        maxDepth: config.QUERY_MAX_DEPTH,
        maxAliases: config.QUERY_MAX_ALIASES,
        maxDirectives: config.QUERY_MAX_DIRECTIVES,
        maxTokens: config.QUERY_MAX_TOKENS,
        maxCost: config.QUERY_MAX_COST,
        maxBatch: config.REQUEST_MAX_BATCH,
        introspection: config.INTROSPECTION,
      }),
      ...(planLimits && subscriptionSlots && redis
        ? [useUsageMetering({ redis, limits: planLimits, slots: subscriptionSlots, logger })]
        : []),
      useApolloFederation({ gateway, logger: apolloLogger(logger) }),
      // @apollo/gateway does not execute subscriptions: they take the federated path (subscriptions/).
      {
        onSubscribe({ setSubscribeFn }: { setSubscribeFn(fn: unknown): void }) {
          setSubscribeFn(subscribeFederated);
        },
      } as Plugin,
    ],
    maskedErrors: { maskError: gatewayMaskError(logger) },
    async context(initial): Promise<GatewayContext> {
      const { request, principal, websocketPrincipal, req } = initial as {
        request?: Request;
        principal?: GatewayContext["principal"];
        websocketPrincipal?: GatewayContext["principal"];
        /** Node's request, when served by node:http (the TCP peer's address). */
        req?: IncomingMessage;
      };
      return {
        requestId: request ? requestIdOf(request) : randomUUID(),
        // Signed into the internal context: what identity's per-address log-in limits key on.
        clientAddress: admission.clientAddress(req),
        principal:
          websocketPrincipal !== undefined
            ? websocketPrincipal
            : principal !== undefined
              ? principal
              : await verifyAccessToken(request?.headers.get("authorization") ?? null),
        hostTenantId: await tenancy.hostTenantOf(request),
      };
    },
  });
  let websockets: ReturnType<typeof attachWebSocketServer> | null = null;
  let websocketsClosed: Promise<void> | undefined;
  // Once: drain closes them, close makes sure they are.
  const closeWebSockets = () => {
    websocketsClosed ??= websockets?.close() ?? Promise.resolve();
    return websocketsClosed;
  };

  return {
    yoga,
    logger,
    metrics,
    /** Serves graphql-ws on the same server and path as HTTP (call once it listens). */
    attach(server: Server) {
      websockets = attachWebSocketServer(server, {
        yoga,
        logger,
        authenticate: verifyAccessToken,
        keepAliveMs: config.WS_KEEP_ALIVE_MS,
        sendTimeoutMs: config.WS_SEND_TIMEOUT_MS,
        maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
        acceptHandshake: (request) => websocketOriginAllowed(config.CORS_ORIGINS, request),
        admit: (payload, principal, request) =>
          admission.admit(payload, {
            principal,
            requestId: randomUUID(),
            clientAddress: admission.clientAddress(request),
          }),
      });
      countWebSockets(websockets.wsServer, metrics);
    },
    /** Shutdown has begun: /readyz answers 503, WebSocket clients are told to go away (1001). */
    drain: async () => {
      draining = true;
      await closeWebSockets();
    },
    close: async () => {
      await closeWebSockets();
      await gateway.stop();
      await subgraphAgent.close();
      await credentials.close();
      await tenancy.close();
      await planLimits?.close();
      await subscriptionSlots?.close();
      redis?.disconnect();
    },
  };
}

/** GET `url`; resolves on a 2xx answer within `timeoutMs`. */
async function probe(url: URL, timeoutMs: number): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`${url.pathname} answered ${response.status}`);
}

/** One line per HTTP request: method, path, status and duration (the request id comes with the logger). */
function useAccessLog(logger: Logger): Plugin {
  const started = new WeakMap<Request, number>();
  return {
    onRequest({ request }) {
      started.set(request, performance.now());
    },
    onResponse({ request, response }) {
      const start = started.get(request);
      logger.info(
        {
          method: request.method,
          path: new URL(request.url).pathname,
          status: response.status,
          durationMs: start === undefined ? undefined : Math.round(performance.now() - start),
        },
        "request",
      );
    },
  };
}
