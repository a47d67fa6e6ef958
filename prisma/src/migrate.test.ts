/**
 * The SQL migration runner against fresh scratch databases (`coditect_scratch_migrate_*`) on the test
 * server: applies everything once, is idempotent and safe to run concurrently, and refuses a changed
 * applied migration, a failing migration (rolled back whole) and a migration it does not know.
 * Every scratch database is dropped at the end.
 */
import { randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { MIGRATIONS_DIR, migrate, readMigrations } from "./migrate.ts";

const serverUrl = new URL(inject("databaseUrl"));
const adminUrl = (() => {
  const u = new URL(serverUrl);
  u.pathname = "/postgres";
  return u.toString();
})();
const prefix = `coditect_scratch_migrate_${process.pid}_${randomBytes(3).toString("hex")}`;
const databases: string[] = [];
const tempDirs: string[] = [];

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A new empty database; returns its URL. */
async function scratchDatabase(): Promise<string> {
  const name = `${prefix}_${databases.length}`;
  await query(adminUrl, `CREATE DATABASE "${name}"`);
  databases.push(name);
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A copy of prisma/migrations that a test may change, plus extra migrations (name -> SQL). */
async function migrationsCopy(extra: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "coditect-migrations-"));
  tempDirs.push(dir);
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  for (const [name, sql] of Object.entries(extra)) await writeMigration(dir, name, sql);
  return dir;
}

async function writeMigration(dir: string, name: string, sql: string) {
  await mkdir(join(dir, name), { recursive: true });
  await writeFile(join(dir, name, "migration.sql"), sql);
}

const bookkeeping = (url: string) =>
  query<{ name: string; checksum: string }>(url, "SELECT name, checksum FROM _migrations ORDER BY name");

const tableExists = async (url: string, table: string) =>
  (await query<{ t: string | null }>(url, "SELECT to_regclass($1)::text AS t", [table]))[0]?.t != null;

afterAll(async () => {
  for (const name of databases) await query(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  const left = await query(adminUrl, "SELECT datname FROM pg_database WHERE datname LIKE $1", [`${prefix}%`]);
  expect(left).toEqual([]);
});

describe("migrate", () => {
  it("applies every migration to a fresh database, then nothing on a second run", async () => {
    const url = await scratchDatabase();
    const migrations = await readMigrations();
    const names = migrations.map((m) => m.name);
    expect(names.length).toBeGreaterThan(0);

    expect(await migrate(url)).toEqual({ applied: names, alreadyApplied: [] });
    expect(await bookkeeping(url)).toEqual(migrations.map(({ name, checksum }) => ({ name, checksum })));
    for (const table of ["organizations", "projects", "tasks", "users", "plans"]) {
      expect(await tableExists(url, table), table).toBe(true);
    }
    const plans = await query<{ code: string }>(url, "SELECT code FROM plans ORDER BY code");
    expect(plans.map((p) => p.code)).toEqual(["ENTERPRISE", "FREE", "PRO"]);

    expect(await migrate(url)).toEqual({ applied: [], alreadyApplied: names });
    expect((await bookkeeping(url)).length).toBe(names.length);
  });

  it("applies each migration exactly once when three processes migrate at the same time", async () => {
    const url = await scratchDatabase();
    // Non-idempotent migrations: a second application would fail or add a second row. The sleep keeps
    // the first runner inside the lock long enough for the others to queue up.
    const dir = await migrationsCopy({
      "20990101000000_runs":
        "CREATE TABLE runs (n int NOT NULL); SELECT pg_sleep(0.3); INSERT INTO runs VALUES (1);",
      "20990101000001_more_runs": "INSERT INTO runs VALUES (2);",
    });
    const names = (await readMigrations(dir)).map((m) => m.name);

    const results = await Promise.all([migrate(url, dir), migrate(url, dir), migrate(url, dir)]);
    expect(results.flatMap((r) => r.applied).sort()).toEqual(names);
    for (const r of results) expect([...r.applied, ...r.alreadyApplied].sort()).toEqual(names);
    expect((await bookkeeping(url)).map((r) => r.name)).toEqual(names);
    expect(await query(url, "SELECT n FROM runs ORDER BY n")).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it("refuses an applied migration whose file has changed", async () => {
    const url = await scratchDatabase();
    const dir = await migrationsCopy({ "20990101000000_widgets": "CREATE TABLE widgets (id int);" });
    await migrate(url, dir);
    const before = await bookkeeping(url);

    await writeMigration(dir, "20990101000000_widgets", "CREATE TABLE widgets (id int, name text);");
    await writeMigration(dir, "20990101000001_gadgets", "CREATE TABLE gadgets (id int);");
    await expect(migrate(url, dir)).rejects.toThrow(
      "migration 20990101000000_widgets was changed after it was applied; add a new migration instead",
    );
    // Nothing after the changed migration was applied either.
    expect(await bookkeeping(url)).toEqual(before);
    expect(await tableExists(url, "gadgets")).toBe(false);
  });

  it("rolls a failing migration back whole and records nothing; a fixed file then applies", async () => {
    const url = await scratchDatabase();
    const initial = (await readMigrations()).map((m) => m.name);
    const broken = "20990101000000_broken";
    const dir = await migrationsCopy({
      [broken]: `CREATE TABLE half_applied (id int);
        INSERT INTO half_applied VALUES (1);
        INSERT INTO plans (code, name, monthly_price_cents, yearly_price_cents) VALUES ('HALF', 'Half', 1, 1);
        SELECT * FROM no_such_table;`,
    });

    await expect(migrate(url, dir)).rejects.toThrow(
      `migration ${broken} failed: relation "no_such_table" does not exist`,
    );
    // The migrations before it are committed; nothing of the broken one is.
    expect((await bookkeeping(url)).map((r) => r.name)).toEqual(initial);
    expect(await tableExists(url, "half_applied")).toBe(false);
    expect(await query(url, "SELECT code FROM plans WHERE code = 'HALF'")).toEqual([]);

    // The lock was released and the failed migration is still pending.
    await writeMigration(dir, broken, "CREATE TABLE half_applied (id int);");
    expect(await migrate(url, dir)).toEqual({ applied: [broken], alreadyApplied: initial });
    expect(await tableExists(url, "half_applied")).toBe(true);
  });

  it("refuses a database that has a migration this code does not know", async () => {
    const url = await scratchDatabase();
    await migrate(url);
    await query(url, "INSERT INTO _migrations (name, checksum) VALUES ($1, $2)", [
      "20990101000000_from_newer_code",
      "0".repeat(64),
    ]);
    const dir = await migrationsCopy({ "20990101000001_pending": "CREATE TABLE pending (id int);" });

    await expect(migrate(url, dir)).rejects.toThrow(
      "database has migrations this code does not know: 20990101000000_from_newer_code",
    );
    expect(await tableExists(url, "pending")).toBe(false);
  });
});
