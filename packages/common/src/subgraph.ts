import { readdirSync, readFileSync } from "node:fs";
import type { RequestListener } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { type AuditScope, createPrismaClient, type PrismaClient } from "@app/db";
import { GraphQLError, GraphQLScalarType, parse } from "graphql";
import { createYoga, type Plugin } from "graphql-yoga";
import { unauthenticated } from "./errors.ts";
import {
  checkReadiness,
  drainingCheck,
  livenessResponse,
  type ReadinessCheck,
  readinessResponse,
} from "./health.ts";
import { runService } from "./http.ts";
import { INTERNAL_CONTEXT_HEADER, type InternalContext, verifyInternalContext } from "./internal-context.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createServiceMetrics, type ServiceMetrics, useMetrics } from "./metrics.ts";
import { adoptRequestId, useRequestId } from "./request-id.ts";
import { startTracing, type TracingConfig, useTracing } from "./tracing.ts";

const SCHEMA_ROOT = fileURLToPath(new URL("../../../schema/subgraphs", import.meta.url));

/** The SDL of one subgraph: every `.graphql` file under schema/subgraphs/<name>/, in name order. */
export function loadSubgraphSdl(name: string): string {
  const dir = join(SCHEMA_ROOT, name);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".graphql"))
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .join("\n");
}

function mergeResolverMaps(maps: ReadonlyArray<object>): Record<string, object> {
  const merged: Record<string, object> = {};
  for (const map of maps) {
    for (const [type, fields] of Object.entries(map)) {
      // Scalars are class instances, not field maps: keep them as they are.
      merged[type] = fields instanceof GraphQLScalarType ? fields : { ...merged[type], ...fields };
    }
  }
  if (merged.Mutation) merged.Mutation = auditedMutations(merged.Mutation as Record<string, unknown>);
  return merged;
}

type FieldResolver = (
  parent: unknown,
  args: unknown,
  context: unknown,
  info: { fieldName: string },
) => unknown;

/**
 * Every mutation field opens its audit scope before it runs (mutation fields run one after another), so
 * the tenant-scoped client writes one audit entry for it in its first writing transaction
 * (prisma/src/audit.ts).
 */
function auditedMutations(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([name, resolve]) => {
      if (typeof resolve !== "function") return [name, resolve];
      const audited: FieldResolver = (parent, args, context, info) => {
        (context as { audit?: AuditScope | null }).audit?.begin(info.fieldName);
        return (resolve as FieldResolver)(parent, args, context, info);
      };
      return [name, audited];
    }),
  );
}

/** Extra HTTP routes a subgraph serves beside /graphql (JWKS, webhooks). They skip the context check. */
export type Routes = Record<string, (request: Request) => Response | Promise<Response>>;

export interface SubgraphOptions<TContext> {
  name: string;
  /** Resolver maps of the subgraph's modules, merged type by type (a type may span modules). */
  resolvers: ReadonlyArray<object>;
  /** Shared with the gateway; verifies the signed internal context on every GraphQL request. */
  internalSecret: string;
  logger: Logger;
  /** Builds the per-request context (tenant-scoped db, loaders) from the verified internal context. */
  createContext(internal: InternalContext): TContext;
  routes?: Routes;
  /** What `/readyz` checks (the database...); each must answer within 2 s. */
  readiness?: Record<string, ReadinessCheck>;
  /** Served at `/metrics`, fed with every operation. */
  metrics?: ServiceMetrics;
}

/**
 * A graphql-yoga server for one subgraph. Every request to /graphql must carry a valid internal
 * context signed by the gateway, otherwise it is refused with 401 before parsing: a subgraph called
 * directly, with or without forged headers, serves nothing.
 */
export function createSubgraph<TContext extends object>(options: SubgraphOptions<TContext>) {
  const { logger } = options;
  const schema = buildSubgraphSchema({
    typeDefs: parse(loadSubgraphSdl(options.name)),
    resolvers: mergeResolverMaps(options.resolvers) as never,
  });
  const routes = options.routes ?? {};

  const internalContextPlugin: Plugin = {
    async onRequest({ request, url, endResponse, fetchAPI, serverContext }) {
      if (url.pathname === "/healthz") {
        endResponse(livenessResponse(options.name));
        return;
      }
      if (url.pathname === "/readyz") {
        endResponse(readinessResponse(await checkReadiness(options.name, options.readiness ?? {})));
        return;
      }
      const route = routes[url.pathname];
      if (route) {
        endResponse(await route(request));
        return;
      }
      const context = await verifyInternalContext(
        options.internalSecret,
        request.headers.get(INTERNAL_CONTEXT_HEADER),
      );
      if (!context) {
        const error = unauthenticated("This service only answers the gateway.");
        endResponse(
          fetchAPI.Response.json(
            { errors: [{ message: error.message, extensions: { code: error.extensions.code } }] },
            { status: 401, headers: { "content-type": "application/graphql-response+json; charset=utf-8" } },
          ),
        );
        return;
      }
      // Log lines and the response name the gateway's request id, not one made up here.
      adoptRequestId(request, context.requestId);
      // The server context is what yoga hands to the context factory for this same request.
      (serverContext as { internal?: InternalContext }).internal = context;
    },
  };

  return createYoga({
    schema,
    graphiql: false,
    landingPage: false,
    plugins: [
      useRequestId(),
      // Only the gateway reaches a subgraph: its trace is continued.
      useTracing({ service: options.name, trustIncoming: true }),
      ...(options.metrics ? [useMetrics(options.metrics)] : []),
      internalContextPlugin,
    ],
    logging: false,
    context: (initial) => {
      const { internal } = initial as { internal?: InternalContext };
      // Unreachable past the plugin; kept so a refactor that drops the plugin fails closed.
      if (!internal) throw unauthenticated();
      return options.createContext(internal);
    },
    maskedErrors: {
      maskError(error, message) {
        const located = error instanceof GraphQLError ? error : undefined;
        const original = located?.originalError ?? error;
        if (original instanceof GraphQLError && original.extensions?.code) {
          // Without `http`: a status such as unauthenticated()'s 401 (meant for the gateway's own answer)
          // would make this response non-2xx, which the gateway takes for a failed fetch: it drops the
          // body and shows the client "401: Unauthorized" with this service's URL. The path stays, so
          // the gateway can put the error on the client's field.
          const { http: _status, ...extensions } = original.extensions;
          return new GraphQLError(original.message, {
            nodes: located?.nodes,
            path: located?.path,
            extensions,
          });
        }
        logger.error({ err: original }, "unexpected error");
        return new GraphQLError(message, { extensions: { code: "INTERNAL_SERVER_ERROR" } });
      },
    },
  });
}

/** Settings every subgraph app reads (its env.ts extends `subgraphEnv`). */
export interface SubgraphAppConfig {
  LOG_LEVEL: string;
  DATABASE_URL: string;
  DATABASE_CROSS_TENANT_URL?: string;
  DATABASE_POOL_SIZE: number;
  INTERNAL_CONTEXT_SECRET: string;
}

/**
 * One subgraph's app: logger, Prisma client (or the one a test shares), and the yoga server. Its
 * `index.ts` listens; tests serve `yoga` on port 0. `close` releases the database pool.
 */
export function createSubgraphApp<TContext extends object>(options: {
  name: string;
  config: SubgraphAppConfig;
  prisma?: PrismaClient;
  /** The cross-tenant role's client a test shares; otherwise built from DATABASE_CROSS_TENANT_URL. */
  crossTenant?: PrismaClient;
  /**
   * Connections of a pool of their own for subscription events' reads (`realtime` below), so that
   * requests queued for the main pool do not hold up delivery. Unset, or with a shared `prisma`
   * (tests): the main pool.
   */
  realtimePoolSize?: number;
  resolvers: ReadonlyArray<object>;
  /**
   * `prisma` connects as the application role, held to one tenant by row-level security: contexts turn
   * it into the tenant-scoped client. `crossTenant` is for the named places that cross tenants on
   * purpose (test/raw-client-guard.test.ts lists them). `realtime` is the same role on the realtime
   * pool (`realtimePoolSize`).
   */
  createContext(
    prisma: PrismaClient,
    logger: Logger,
    crossTenant: PrismaClient,
    realtime: PrismaClient,
  ): (internal: InternalContext) => TContext;
  routes?: Routes;
  /** What `/readyz` checks besides the database (Redis...). */
  readiness?: Record<string, ReadinessCheck>;
  /** Releases what the subgraph opened besides the database pool (an event bus...). */
  onClose?: () => Promise<void>;
}) {
  const { name, config } = options;
  const logger = createLogger(name, config.LOG_LEVEL);
  const metrics = createServiceMetrics(name);
  const pool = (poolSize: number) =>
    createPrismaClient({
      connectionString: config.DATABASE_URL,
      poolSize,
      onQuery: (sql, ms) => metrics.databaseQuery(sql, ms / 1000),
    });
  const prisma = options.prisma ?? pool(config.DATABASE_POOL_SIZE);
  const ownRealtime = !options.prisma && options.realtimePoolSize !== undefined;
  const realtime = ownRealtime ? pool(options.realtimePoolSize!) : prisma;
  // Cross-tenant work is rare (sign-up, log-in, administration): a small pool of its own.
  const ownCrossTenant = !options.crossTenant && config.DATABASE_CROSS_TENANT_URL !== undefined;
  const crossTenant =
    options.crossTenant ??
    (config.DATABASE_CROSS_TENANT_URL
      ? createPrismaClient({ connectionString: config.DATABASE_CROSS_TENANT_URL, poolSize: 2 })
      : prisma);
  let draining = false;
  const yoga = createSubgraph({
    name,
    resolvers: options.resolvers,
    internalSecret: config.INTERNAL_CONTEXT_SECRET,
    logger,
    createContext: options.createContext(prisma, logger, crossTenant, realtime),
    routes: options.routes,
    metrics,
    readiness: {
      // The raw client on purpose: a liveness probe of the pool, no tenant's data.
      database: () => prisma.$queryRaw`SELECT 1`,
      ...options.readiness,
      accepting: drainingCheck(() => draining),
    },
  });
  return {
    yoga,
    logger,
    metrics,
    prisma,
    /** Shutdown has begun: /readyz answers 503 from now on. */
    async drain() {
      draining = true;
    },
    async close() {
      await options.onClose?.();
      await prisma.$disconnect();
      if (ownCrossTenant) await crossTenant.$disconnect();
      if (ownRealtime) await realtime.$disconnect();
    },
  };
}

/** What `runSubgraph` needs of a subgraph app (`createSubgraphApp`'s result, or one built on it). */
interface RunnableApp {
  yoga: RequestListener;
  logger: Logger;
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A subgraph's `index.ts`: tracing first, so the app's clients and servers are traced from the first
 * request, then the app, served on `PORT` with `runService`'s graceful shutdown.
 */
export async function runSubgraph<Env extends TracingConfig & { PORT: number }>(
  name: string,
  env: Env,
  createApp: (env: Env) => RunnableApp | Promise<RunnableApp>,
): Promise<void> {
  const tracing = startTracing(name, env);
  const app = await createApp(env);
  await runService({
    name,
    handler: app.yoga,
    port: env.PORT,
    logger: app.logger,
    drain: () => app.drain(),
    close: () => app.close(),
    tracing,
  });
}
