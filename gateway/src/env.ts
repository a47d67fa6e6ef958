import { fileURLToPath } from "node:url";
import { envBoolean, parseEnv, port } from "@app/common/env";
import { z } from "zod";

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
};

export const gatewayEnv = z
  .object(gatewayEnvShape)
  .transform((env) => ({ ...env, GRAPHIQL: env.GRAPHIQL ?? env.NODE_ENV !== "production" }));
export type GatewayConfig = z.infer<typeof gatewayEnv>;

export const loadEnv = () => parseEnv(gatewayEnv);
