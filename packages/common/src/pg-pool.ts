import pg from "pg";
import type { Logger } from "./logger.ts";

/**
 * A pg pool that outlives losing an idle connection. pg emits `error` on the pool when a connection
 * waiting idle in it fails (the server restarted, an administrator or a failover ended it, a network
 * drop), and an `error` event with no listener is thrown: it ended the whole process (seen when a
 * benchmark dropped its database under the worker). The pool has already discarded that connection and
 * opens another on its next use, so a warning is all the event needs. The name is the connections'
 * `application_name`, which also tells them apart in `pg_stat_activity`.
 */
export function createPool(name: string, config: pg.PoolConfig, logger: Logger): pg.Pool {
  const pool = new pg.Pool({ ...config, application_name: name });
  pool.on("error", (error) =>
    logger.warn({ err: error, pool: name }, "an idle database connection was lost; the pool opens another"),
  );
  return pool;
}
