import { fileURLToPath } from "node:url";
import { envBoolean, parseEnv, port, tracingEnvShape } from "@app/common/env";
import { z } from "zod";
import { checkCredentialsEnv, credentialsEnvShape } from "./auth/env.ts";
import { rateLimitEnvShape } from "./limits/rate-limit-env.ts";
import { persistedOperationsEnvShape } from "./persisted-operations/env.ts";
import { tenancyEnvShape } from "./tenancy/env.ts";

/** A positive whole number. */
const count = z.coerce.number().int().min(1);

const DEFAULT_SUPERGRAPH = fileURLToPath(new URL("../../schema/supergraph.graphql", import.meta.url));

/** One key per setting the gateway reads (docker-compose.yml's test checks the compose file against it). */
export const gatewayEnvShape = {
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  PORT: port.default(4000),
  /** The composed supergraph (`npm run compose`). */
  SUPERGRAPH_PATH: z.string().min(1).default(DEFAULT_SUPERGRAPH),
  /** Subgraph URLs; each overrides the URL composed into the supergraph (laptop defaults). */
  TENANTS_URL: z.url().optional(),
  IDENTITY_URL: z.url().optional(),
  PROJECTS_URL: z.url().optional(),
  BILLING_URL: z.url().optional(),
  INTERNAL_CONTEXT_SECRET: z.string().min(32, "must be at least 32 characters (shared with the subgraphs)"),
  /** Where the access-token signing keys are published: identity's /.well-known/jwks.json. */
  JWKS_URL: z.url().default("http://localhost:4002/.well-known/jwks.json"),
  JWT_ISSUER: z.url().default("http://localhost:4002"),
  JWT_AUDIENCE: z.string().min(1).default("coditect-platform"),
  /** GraphiQL at GET /graphql; default on except in production. */
  GRAPHIQL: envBoolean.optional(),

  /** Query limits (limits/): checked before any subgraph is called. */
  QUERY_MAX_DEPTH: count.default(12),
  QUERY_MAX_ALIASES: count.default(15),
  QUERY_MAX_DIRECTIVES: count.default(50),
  QUERY_MAX_TOKENS: count.default(2_000),
  /** Objects an operation may ask for, lists counted at their `first`/`last` (or default) size. */
  QUERY_MAX_COST: count.default(50_000),
  REQUEST_MAX_BODY_BYTES: count.default(262_144),
  /** Operations in one batched (JSON array) request; 0 turns batching off. */
  REQUEST_MAX_BATCH: z.coerce.number().int().min(0).max(100).default(0),
  /** Who may introspect: default `always` in development, `authenticated` in production. */
  INTROSPECTION: z.enum(["always", "authenticated", "never"]).optional(),

  /** Browser origins allowed to call the API, comma separated; default localhost in development, none in production. */
  CORS_ORIGINS: z
    .string()
    .transform((value) =>
      value
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.url().refine((o) => new URL(o).origin === o, "must be an origin: scheme://host[:port], no path"),
      ),
    )
    .optional(),
  /** graphql-ws keep-alive: a ping this often; a client that has not answered by the next is dropped. */
  WS_KEEP_ALIVE_MS: count.default(12_000),
  /** A WebSocket client that reads none of its waiting events for this long is closed with 4413. */
  WS_SEND_TIMEOUT_MS: count.default(10_000),
  /** ...or lets more than this many bytes wait for it. */
  WS_MAX_BUFFERED_BYTES: count.default(1_048_576),
  /** When set, GET /metrics needs `Authorization: Bearer <token>`; unset, it is open (keep it off the public ingress). */
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  ...tracingEnvShape,
  /** Strict-Transport-Security max-age in seconds, for a gateway served over HTTPS; 0 sends none. */
  HSTS_MAX_AGE: z.coerce.number().int().min(0).default(0),
  ...credentialsEnvShape,
  ...persistedOperationsEnvShape,
  ...rateLimitEnvShape,
  ...tenancyEnvShape,
};

export const gatewayEnv = z
  .object(gatewayEnvShape)
  .superRefine(checkCredentialsEnv)
  .transform((env) => {
    const production = env.NODE_ENV === "production";
    return {
      ...env,
      GRAPHIQL: env.GRAPHIQL ?? !production,
      INTROSPECTION: env.INTROSPECTION ?? (production ? "authenticated" : "always"),
      /** `localhost`: any http(s) origin on localhost, 127.0.0.1 or [::1], whatever the port. */
      CORS_ORIGINS: env.CORS_ORIGINS ?? (production ? [] : ("localhost" as const)),
      RATE_LIMITS: env.RATE_LIMITS ?? production,
    };
  });
export type GatewayConfig = z.infer<typeof gatewayEnv>;

export const loadEnv = () => parseEnv(gatewayEnv);
