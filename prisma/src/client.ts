import { PrismaPg } from "@prisma/adapter-pg";
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
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  const client = new PrismaClient({
    adapter,
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
