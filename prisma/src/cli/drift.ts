/**
 * Drift check: compares the database at DATABASE_URL (migrated by our own SQL migrations) with the
 * Prisma schema (prisma/schema/*.prisma), using the schema engine's `diff` from the live database
 * to the datamodel, in script mode.
 *
 * Usage: DATABASE_URL=postgresql://... npm run drift -w @app/db [-- --schema-dir DIR]
 *
 * Exit codes (CI relies on them, so an engine failure is never a success):
 *   0  "no drift": the engine's script holds only comments/whitespace and the engine agrees;
 *   1  drift: the SQL that would make the database match the schema is printed on stdout;
 *   2  error (no DATABASE_URL, connection or engine failure).
 * Ignored by design: the `_migrations` bookkeeping table (see DEFAULT_EXTERNAL_TABLES), and what
 * the engine does not model at all (RLS policies, functions, grants).
 */
import { parseArgs } from "node:util";
import { checkDrift } from "../schema-engine.ts";

try {
  const { values } = parseArgs({ options: { "schema-dir": { type: "string" } } });
  const connectionString = process.env.DATABASE_URL;
  if (!connectionString) throw new Error("DATABASE_URL is not set");
  const result = await checkDrift({ connectionString, schemaDir: values["schema-dir"] });
  if (result.drift) {
    console.error("drift: the database does not match the Prisma schema; SQL that would fix it:");
    process.stdout.write(result.sql);
    process.exitCode = 1;
  } else {
    console.log("no drift");
  }
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 2;
}
