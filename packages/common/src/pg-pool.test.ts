import pg from "pg";
import { afterAll, expect, inject, it } from "vitest";
import type { Logger } from "./logger.ts";
import { createPool } from "./pg-pool.ts";

const admin = new pg.Client({ connectionString: inject("databaseUrl") });
await admin.connect();
afterAll(() => admin.end());

it("survives the server ending its idle connection, says so, and serves the next query", async () => {
  const warnings: Array<{ pool: string }> = [];
  const logger = { warn: (fields: { pool: string }) => warnings.push(fields) } as unknown as Logger;
  const name = `pool-test-${process.pid}`;
  const pool = createPool(name, { connectionString: inject("databaseUrl"), max: 1 }, logger);
  try {
    await pool.query("SELECT 1");
    // What a restart or failover does to the idle connection (without the listener: an uncaught error).
    const { rowCount } = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
      [name],
    );
    expect(rowCount).toBe(1);
    await expect.poll(() => warnings.length).toBe(1);
    expect(warnings[0]!.pool).toBe(name);
    expect((await pool.query<{ n: number }>("SELECT 2 AS n")).rows).toEqual([{ n: 2 }]);
  } finally {
    await pool.end();
  }
});
