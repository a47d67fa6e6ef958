/**
 * Prints the PostgreSQL DDL that creates the whole Prisma schema (prisma/schema/*.prisma) in an
 * empty database: the schema engine's `diff` from empty to the datamodel, in script mode.
 *
 * Usage: tsx prisma/src/cli/sql-from-schema.ts [--schema-dir DIR] [--database-url URL]
 *
 * No database is contacted unless --database-url is given (the output does not depend on it;
 * schema-engine.test.ts checks that both ways print the same DDL).
 * Exit codes: 0 printed, 2 error.
 */
import { parseArgs } from "node:util";
import { sqlFromSchema } from "../schema-engine.ts";

try {
  const { values } = parseArgs({
    options: { "schema-dir": { type: "string" }, "database-url": { type: "string" } },
  });
  const sql = await sqlFromSchema({
    schemaDir: values["schema-dir"],
    connectionString: values["database-url"],
  });
  process.stdout.write(sql);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 2;
}
