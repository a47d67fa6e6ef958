/**
 * Proves the wasm schema-engine wrapper and its two CLIs are not a false success (the native
 * `prisma migrate diff` with a stub binary exits 0 with empty output). Needs a PostgreSQL server:
 * TEST_PG_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres. Creates and drops a
 * scratch database named coditect_scratch_*. Fails (never skips) when the server is unreachable.
 *
 * Run: npx vitest run prisma/src/schema-engine.test.ts   (from the repo root)
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDrift, isEmptySql, sqlFromSchema } from "./schema-engine.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");
const adminUrl = process.env.TEST_PG_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const dbName = `coditect_scratch_drift_${process.pid}_${randomBytes(3).toString("hex")}`;
const dbUrl = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

/** Runs one of our CLIs the way CI does (tsx, fresh process) and returns its exit code and output. */
async function runCli(script: string, args: string[] = [], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", path.join(here, "cli", script), ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, maxBuffer: 10 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof err.code !== "number") throw e;
    return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describe("schema engine (wasm): sql-from-schema and drift", { timeout: 120_000 }, () => {
  let ddl = "";
  let created = false;

  beforeAll(async () => {
    await sql(adminUrl, `CREATE DATABASE "${dbName}"`);
    created = true;
  });

  afterAll(async () => {
    if (created) await sql(adminUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  });

  it("sql-from-schema prints the full DDL without a database", async () => {
    const out = await runCli("sql-from-schema.ts");
    expect(out.code, out.stderr).toBe(0);
    ddl = out.stdout;
    // Not an empty "success": every model's table, enum, index and foreign key is there.
    for (const table of [
      "plans",
      "subscriptions",
      "users",
      "user_emails",
      "memberships",
      "projects",
      "tasks",
      "organizations",
      "organization_slugs",
    ]) {
      expect(ddl).toContain(`CREATE TABLE "${table}" (`);
    }
    expect(ddl).toContain(`CREATE TYPE "organization_status" AS ENUM ('ACTIVE', 'SUSPENDED', 'DELETED');`);
    expect(ddl).toContain(`CREATE INDEX "memberships_user_id_idx" ON "memberships"("user_id");`);
    expect(ddl).toMatch(
      /ADD CONSTRAINT "tasks_tenant_id_project_id_fkey" FOREIGN KEY \("tenant_id", "project_id"\)/,
    );
    expect(isEmptySql(ddl)).toBe(false);
  });

  it("offline DDL equals the DDL computed against a real server", async () => {
    expect(await sqlFromSchema({ connectionString: adminUrl })).toBe(await sqlFromSchema());
  });

  it("(a) a database built from that DDL has no drift", async () => {
    await sql(dbUrl, ddl);
    const result = await checkDrift({ connectionString: dbUrl });
    expect(result).toEqual({ drift: false, sql: "-- This is an empty migration.\n", engineExitCode: 0 });

    const cli = await runCli("drift.ts", [], { DATABASE_URL: dbUrl });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.trim()).toBe("no drift");
  });

  it("ignores _migrations, RLS policies and functions, but only because of the external-table filter for _migrations", async () => {
    await sql(
      dbUrl,
      `CREATE TABLE _migrations (id serial PRIMARY KEY, name text NOT NULL UNIQUE, applied_at timestamptz NOT NULL DEFAULT now());
       ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
       ALTER TABLE projects FORCE ROW LEVEL SECURITY;
       CREATE POLICY tenant_isolation ON projects USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
       CREATE FUNCTION app_current_tenant() RETURNS uuid LANGUAGE sql STABLE
         AS $$ SELECT current_setting('app.tenant_id', true)::uuid $$;`,
    );
    expect((await checkDrift({ connectionString: dbUrl })).drift).toBe(false);
    const cli = await runCli("drift.ts", [], { DATABASE_URL: dbUrl });
    expect(cli.code, cli.stderr).toBe(0);

    // The engine itself does NOT ignore `_migrations` (it only skips `_prisma_migrations`):
    const unfiltered = await checkDrift({ connectionString: dbUrl, externalTables: [] });
    expect(unfiltered.drift).toBe(true);
    expect(unfiltered.sql).toContain(`DROP TABLE "_migrations";`);
  });

  it("(b) detects an added column", async () => {
    await sql(dbUrl, "ALTER TABLE projects ADD COLUMN bogus int");
    const result = await checkDrift({ connectionString: dbUrl });
    expect(result.drift).toBe(true);
    expect(result.engineExitCode).toBe(2);
    expect(result.sql).toContain(`ALTER TABLE "projects" DROP COLUMN "bogus";`);

    const cli = await runCli("drift.ts", [], { DATABASE_URL: dbUrl });
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`ALTER TABLE "projects" DROP COLUMN "bogus";`);
    expect(cli.stdout).not.toContain("no drift");
  });

  it("(b) detects a dropped index and a changed foreign-key action", async () => {
    await sql(dbUrl, "ALTER TABLE projects DROP COLUMN bogus; DROP INDEX memberships_user_id_idx;");
    const dropped = await checkDrift({ connectionString: dbUrl });
    expect(dropped.drift).toBe(true);
    expect(dropped.sql).toContain(`CREATE INDEX "memberships_user_id_idx" ON "memberships"("user_id");`);

    // ON DELETE lives in pg_constraint.confdeltype, a "char" column: this proves the "char"
    // workaround reads catalog values correctly rather than just not crashing.
    await sql(
      dbUrl,
      `CREATE INDEX memberships_user_id_idx ON memberships(user_id);
       ALTER TABLE tasks DROP CONSTRAINT tasks_tenant_id_project_id_fkey;
       ALTER TABLE tasks ADD CONSTRAINT tasks_tenant_id_project_id_fkey FOREIGN KEY (tenant_id, project_id)
         REFERENCES projects(tenant_id, id) ON DELETE RESTRICT ON UPDATE RESTRICT;`,
    );
    const fk = await checkDrift({ connectionString: dbUrl });
    expect(fk.drift).toBe(true);
    expect(fk.sql).toContain("ON DELETE CASCADE ON UPDATE RESTRICT");
  });

  it("fails with exit code 2, not 0, when the database is unreachable", async () => {
    const cli = await runCli("drift.ts", [], { DATABASE_URL: "postgresql://postgres@127.0.0.1:1/none" });
    expect(cli.code).toBe(2);
    expect(cli.stdout).not.toContain("no drift");
  });

  it("isEmptySql only accepts comments and whitespace", () => {
    expect(isEmptySql("-- This is an empty migration.\n")).toBe(true);
    expect(isEmptySql("  /* x */\n-- y\n\n")).toBe(true);
    expect(isEmptySql("-- AlterTable\nALTER TABLE x DROP COLUMN y;\n")).toBe(false);
  });
});
