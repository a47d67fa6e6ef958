import { AsyncLocalStorage } from "node:async_hooks";
import pg from "pg";

/**
 * Row-level security needs every tenant-scoped transaction to begin with the literal
 * `SET LOCAL app.tenant_id = '<uuid>'` (Citus propagates nothing else to its workers). Sent as a statement
 * of its own, through Prisma, that is a round trip more per transaction, and a lone query needs a Prisma
 * interactive transaction around it: BEGIN, SET, query, COMMIT, with Prisma's transaction bookkeeping.
 *
 * Instead, the tenant-scoped client runs each operation in `asTenant(...)`, and the pool Prisma's pg
 * adapter uses reads the tenant from the async context:
 * - a transaction opened there (the caller's interactive one, or the one a lone write gets) sends
 *   `BEGIN; SET LOCAL app.tenant_id = '...'` as one simple-protocol message;
 * - a query sent outside a transaction there (a lone read) runs on one connection as
 *   `BEGIN READ ONLY; SET LOCAL ...`, the query, `COMMIT`, written at once (pg's pipeline mode) and
 *   answered in order: one round trip, as the query alone, and no Prisma transaction.
 *
 * Only Prisma's own code may run inside `asTenant`: a caller's callback runs through `notAsTenant`, so
 * another client's queries never pick up the tenant.
 */
export interface TenantScope {
  /** The `SET LOCAL app.tenant_id = '<uuid>'` statement, built by `setTenantSql` from a validated uuid. */
  readonly setTenant: string;
  /** Set once a transaction of this scope began with the tenant: callers set it themselves otherwise. */
  applied: boolean;
}

const current = new AsyncLocalStorage<TenantScope>();

/**
 * Runs a Prisma operation with the tenant of `scope`. Prisma's promises are lazy and start in the async
 * context that first awaits them, so `then` is called here, inside the scope.
 */
export function asTenant<T>(scope: TenantScope, operation: () => PromiseLike<T>): Promise<T> {
  return current.run(scope, () => new Promise<T>((resolve, reject) => operation().then(resolve, reject)));
}

/** Runs a caller's code outside any tenant scope (see the module comment). */
export function notAsTenant<T>(callback: () => T): T {
  return current.exit(callback);
}

/** The adapter opens a transaction with exactly this statement (`@prisma/adapter-pg`'s startTransaction). */
const BEGIN = "BEGIN";

/** A pool connection that, in a tenant scope, names the tenant in the message that begins a transaction. */
class TenantConnection extends pg.Client {}
const sendQuery = pg.Client.prototype.query;
TenantConnection.prototype.query = function (this: pg.Client, config: unknown, ...rest: unknown[]) {
  const scope = current.getStore();
  if (scope && (config as pg.QueryConfig | undefined)?.text === BEGIN) {
    scope.applied = true;
    config = { ...(config as pg.QueryConfig), text: `${BEGIN}; ${scope.setTenant}` };
  }
  return Reflect.apply(sendQuery, this, [config, ...rest]);
} as typeof sendQuery;

/** Clients created with a tenant-aware pool; the tenant-scoped client relies on it for lone reads. */
const tenantAwareClients = new WeakSet<object>();

/** Notes that `client`'s adapter uses a pool from {@link createTenantAwarePool}. */
export function markTenantAware(client: object): void {
  tenantAwareClients.add(client);
}

/** Whether lone reads on `client` can run through the pool's tenant transaction. */
export function isTenantAware(client: object): boolean {
  return tenantAwareClients.has(client);
}

/** A pg pool for Prisma's adapter that sets the tenant of the current scope (see the module comment). */
export function createTenantAwarePool(config: pg.PoolConfig): pg.Pool {
  // Pipeline mode sends a query without waiting for the answer to the one before; Prisma's adapter waits
  // for each answer anyway, so only the lone reads below (and callers that query concurrently) gain.
  const pool = new pg.Pool({ ...config, Client: TenantConnection, pipeline: true });
  const query = pool.query.bind(pool);
  // The adapter sends a query outside a transaction as `pool.query(config)` and awaits the promise.
  pool.query = ((config: pg.QueryConfig, ...rest: unknown[]) => {
    const scope = current.getStore();
    if (!scope || rest.length > 0) return Reflect.apply(query, pool, [config, ...rest]);
    return loneRead(pool, scope, config);
  }) as typeof pool.query;
  return pool;
}

async function loneRead(pool: pg.Pool, scope: TenantScope, config: pg.QueryConfig): Promise<pg.QueryResult> {
  const connection = await pool.connect();
  // A broken connection also fails the query below, which releases it; this only keeps the event handled.
  const ignore = () => {};
  connection.on("error", ignore);
  try {
    // READ ONLY: the scoped client sends only reads this way, and a write would fail rather than commit.
    // If BEGIN failed, the query would run without the tenant and find nothing: all three must succeed.
    scope.applied = true;
    const [, result] = await Promise.all([
      connection.query(`BEGIN READ ONLY; ${scope.setTenant}`),
      connection.query(config),
      connection.query("COMMIT"),
    ]);
    connection.release();
    return result;
  } catch (error) {
    // As pg's own pool.query does: a connection whose query failed is closed, never reused mid-transaction.
    connection.release(error as Error);
    throw error;
  } finally {
    connection.removeListener("error", ignore);
  }
}
