import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { createLogger, INTERNAL_CONTEXT_HEADER, type Logger } from "@app/common";
import { useApolloFederation } from "@envelop/apollo-federation";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { GraphQLError } from "graphql";
import { createYoga, maskError, type Plugin } from "graphql-yoga";
import type { JWTVerifyGetKey } from "jose";
import { createAccessTokenVerifier } from "./auth/access-token.ts";
import { type GatewayContext, signedContextOf } from "./context.ts";

export type { GatewayContext };

import type { GatewayConfig } from "./env.ts";
import { createFederatedSubscribe } from "./subscriptions/federated.ts";
import { attachWebSocketServer } from "./subscriptions/websocket.ts";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

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
      return new RemoteGraphQLDataSource<GatewayContext>({
        url: subgraphUrls[name],
        // Only this header reaches a subgraph: nothing the client sent is forwarded.
        async willSendRequest({ request, context }) {
          const token = await signedContextOf(context as GatewayContext, secret);
          request.http?.headers.set(INTERNAL_CONTEXT_HEADER, token);
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
  const verifyAccessToken = createAccessTokenVerifier(
    { jwksUrl: config.JWKS_URL, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE },
    deps.keys,
  );

  const yoga = createYoga<Record<string, never>, GatewayContext>({
    graphqlEndpoint: "/graphql",
    healthCheckEndpoint: "/healthz",
    landingPage: false,
    logging: false,
    graphiql: config.GRAPHIQL ? { title: "CODITECT Platform" } : false,
    // GraphiQL's scripts inlined into the page, so the explorer works without reaching a CDN.
    renderGraphiQL,
    plugins: [
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
      // Over HTTP the request carries the token; over WebSocket connection_init did (websocket.ts).
      const { request, websocketPrincipal } = initial as {
        request?: Request;
        websocketPrincipal?: GatewayContext["principal"];
      };
      const incoming = request?.headers.get("x-request-id");
      const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      const principal =
        websocketPrincipal !== undefined
          ? websocketPrincipal
          : await verifyAccessToken(request?.headers.get("authorization") ?? null);
      return { requestId, principal };
    },
  });
  let websockets: ReturnType<typeof attachWebSocketServer> | null = null;

  return {
    yoga,
    logger,
    /** Serves graphql-ws on the same server and path as HTTP (call once it listens). */
    attach(server: Server) {
      websockets = attachWebSocketServer(server, { yoga, logger, authenticate: verifyAccessToken });
    },
    close: async () => {
      await websockets?.close();
      await gateway.stop();
    },
  };
}
