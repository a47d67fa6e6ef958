import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlQuery } from "@prisma/driver-adapter-utils";
import { Prisma, PrismaClient } from "../generated/client.ts";
import { createTenantAwarePool, markTenantAware } from "./tenant-pool.ts";

export type { PrismaClient };

/** Options for {@link createPrismaClient}. */
export interface PrismaClientOptions {
  /** PostgreSQL connection string. */
  connectionString: string;
  /** Pool size per process; PostgreSQL's connection limit is shared by every service. Default 10. */
  poolSize?: number;
  /** Called with each SQL statement Prisma sends and how long it took; tests count queries, services time them. */
  onQuery?: (sql: string, durationMs: number) => void;
}

/** The most distinct statements one client keeps prepared on each of its connections. */
const MAX_PREPARED_STATEMENTS = 500;

/**
 * `*` in a select list (`SELECT *`, `t.*`, `RETURNING *`): a migration that adds a column changes such
 * a statement's result type, which PostgreSQL refuses under a prepared statement ("cached plan must not
 * change result type") until the connection closes. Prisma's own statements name their columns; raw
 * SQL may not.
 */
const SELECTS_STAR = /(?:\b(?:SELECT|RETURNING)\s+|\.)\*/i;

/**
 * Names statements so that PostgreSQL keeps them prepared on each connection (the pg adapter's
 * `statementNameGenerator`, pg's named statements): run again on a connection, a statement skips
 * parsing and analysis, and from its sixth run planning too (a generic plan), a fifth of PostgreSQL's
 * CPU per createTask. pg takes "" as no name, for:
 * - statements without parameters: BEGIN, COMMIT, and the `BEGIN; SET LOCAL ...` the tenant pool makes
 *   of BEGIN, two statements in one simple-protocol message, which a prepared statement cannot hold;
 * - statements that select `*` ({@link SELECTS_STAR});
 * - texts past the first {@link MAX_PREPARED_STATEMENTS}: Prisma writes an `IN` list with a placeholder
 *   per value, so the distinct texts have no bound of their own.
 */
function statementNames(): (query: SqlQuery) => string {
  const names = new Map<string, string>();
  return ({ sql, args }) => {
    if (args.length === 0) return "";
    let name = names.get(sql);
    if (name === undefined && names.size < MAX_PREPARED_STATEMENTS) {
      name = SELECTS_STAR.test(sql) ? "" : `prisma_${names.size}`;
      names.set(sql, name);
    }
    return name ?? "";
  };
}

/**
 * The raw client crosses tenants. Import it only in prisma/ and in the named places that must cross
 * tenants on purpose (sign-up, log-in, platform administration); everything else uses `forTenant`.
 */
export function createPrismaClient(options: PrismaClientOptions): PrismaClient {
  // The pool names the tenant of a tenant-scoped operation itself (prisma/src/tenant-pool.ts).
  const pool = createTenantAwarePool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
  });
  const adapter = new PrismaPg(pool, { disposeExternalPool: true, statementNameGenerator: statementNames() });
  const client = new PrismaClient({
    adapter,
    // The other formats capture a stack trace (`new Error()`) for every operation, to point a failed
    // one's message at the calling line: a tenth of a createTask's Prisma time, for a message our
    // services log with its own stack anyway.
    errorFormat: "minimal",
    log: options.onQuery ? [{ emit: "event", level: "query" }] : [],
  });
  if (options.onQuery) {
    const onQuery = options.onQuery;
    (
      client as unknown as { $on(e: "query", cb: (ev: { query: string; duration: number }) => void): void }
    ).$on("query", (ev) => onQuery(ev.query, ev.duration));
  }
  markTenantAware(client);
  return client;
}

/** A unique constraint refused the write (Prisma's P2002): a taken e-mail, slug, key or position. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002";
}
