import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import {
  createLogger,
  INTERNAL_CONTEXT_HEADER,
  type InternalContext,
  type Logger,
  signInternalContext,
} from "@app/common";
import { useApolloFederation } from "@envelop/apollo-federation";
import { createYoga } from "graphql-yoga";
import type { JWTVerifyGetKey } from "jose";
import { createAccessTokenVerifier } from "./auth/access-token.ts";
import type { GatewayConfig } from "./env.ts";

/** What each gateway request carries; the data source turns it into the signed internal header. */
export interface GatewayContext extends InternalContext {
  /** Signed once per request, reused for every subgraph fetch of that request. */
  signedContext?: Promise<string>;
}

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

  const gateway = new ApolloGateway({
    supergraphSdl,
    logger: apolloLogger(logger),
    buildService: ({ name, url }) =>
      new RemoteGraphQLDataSource<GatewayContext>({
        url: overrides[name] ?? url,
        // Only this header reaches a subgraph: nothing the client sent is forwarded.
        willSendRequest({ request, context }) {
          const ctx = context as GatewayContext;
          ctx.signedContext ??= signInternalContext(secret, ctx);
          return ctx.signedContext.then((token) => {
            request.http?.headers.set(INTERNAL_CONTEXT_HEADER, token);
          });
        },
      }),
  });
  await gateway.load();

  const verifyAccessToken = createAccessTokenVerifier(
    { jwksUrl: config.JWKS_URL, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE },
    deps.keys,
  );

  const yoga = createYoga<Record<string, never>, GatewayContext>({
    graphqlEndpoint: "/graphql",
    landingPage: false,
    logging: false,
    graphiql: config.GRAPHIQL ? { title: "CODITECT Platform" } : false,
    plugins: [useApolloFederation({ gateway, logger: apolloLogger(logger) })],
    async context({ request }): Promise<GatewayContext> {
      const incoming = request.headers.get("x-request-id");
      const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      const principal = await verifyAccessToken(request.headers.get("authorization"));
      return { requestId, principal };
    },
  });

  return {
    yoga,
    logger,
    close: async () => {
      await gateway.stop();
    },
  };
}
