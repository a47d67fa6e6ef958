import { z } from "zod";

/** Thrown by {@link parseEnv} when `exit: false`; lists every problem, not just the first. */
export class EnvError extends Error {
  override name = "EnvError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

export interface ParseEnvOptions {
  /** Where settings come from. Default: the process environment. */
  source?: Record<string, string | undefined>;
  /** Print every problem and exit(1) (services at start), or throw an {@link EnvError} (tests). */
  exit?: boolean;
}

/**
 * Parses settings with a zod schema at start. Empty strings count as unset, so `FOO=` in a shell or a
 * compose file falls back to the default instead of failing a format check.
 */
export function parseEnv<S extends z.ZodType>(schema: S, options: ParseEnvOptions = {}): z.infer<S> {
  // The one place that reads process.env: every service's env.ts goes through here.
  const source = options.source ?? process.env;
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join(".") || "(environment)";
    return `${key}: ${issue.message}`;
  });
  const error = new EnvError(problems);
  if (options.exit === false) throw error;
  console.error(error.message);
  process.exit(1);
}

/** Boolean settings written the way people write them in shells and compose files. */
export const envBoolean = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

export const postgresUrl = z.url({ protocol: /^postgres(ql)?$/, error: "must be a postgres:// URL" });
export const redisUrl = z.url({ protocol: /^rediss?$/, error: "must be a redis:// URL" });
export const port = z.coerce.number().int().min(0).max(65535);

/** Tracing settings every service reads (tracing.ts); unset endpoint: tracing is off. */
export const tracingEnvShape = {
  /** OTLP/HTTP collector base URL, e.g. http://jaeger:4318 (spans go to <url>/v1/traces). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  /** Share of new traces recorded, 0..1; a trace the caller sampled is always followed. */
  OTEL_TRACES_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
};

/** Settings every subgraph reads; each subgraph's env.ts extends this object. */
export const subgraphEnv = z.object({
  ...tracingEnvShape,
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  DATABASE_URL: postgresUrl,
  /**
   * The cross-tenant role's URL (`coditect_cross_tenant`), for the named places that cross tenants on
   * purpose (sign-up, log-in, platform administration). Unset: DATABASE_URL serves them too, which works
   * only when that role is not held to one tenant by row-level security.
   */
  DATABASE_CROSS_TENANT_URL: postgresUrl.optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  INTERNAL_CONTEXT_SECRET: z.string().min(32, "must be at least 32 characters (shared with the gateway)"),
});
