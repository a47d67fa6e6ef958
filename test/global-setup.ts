import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDatabase, migrate } from "@app/db";
import { startEmbeddedPostgres } from "@app/db/embedded";
import type { TestProject } from "vitest/node";
import { hasRedisServer, startRedisServer } from "./redis.ts";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    /** Empty when there is no Redis: tests that need one are skipped, and say so. */
    redisUrl: string;
  }
}

/**
 * One migrated database for the whole run. TEST_DATABASE_URL points at a real PostgreSQL (CI uses the
 * machine's); without it, an embedded PostgreSQL starts in a temporary folder, so `npm test` needs no
 * service on a fresh machine. Tests seed their own tenants and never truncate, so they run in parallel.
 */
export default async function setup(project: TestProject) {
  let url = process.env.TEST_DATABASE_URL;
  let stop = async () => {};
  if (!url) {
    const dir = await mkdtemp(join(tmpdir(), "coditect-test-pg-"));
    // As root, PostgreSQL runs as OS user `postgres`, which must be able to enter the folder.
    await chmod(dir, 0o755);
    // Below Linux's ephemeral range (32768-60999), where the client side of any connection may sit.
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const embedded = await startEmbeddedPostgres({
      dataDir: join(dir, "pg"),
      port,
      database: "coditect_test",
    });
    url = embedded.url;
    stop = async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  await ensureDatabase(url);
  await migrate(url);
  project.provide("databaseUrl", url);

  // TEST_REDIS_URL (CI: the machine's Redis), else a throw-away redis-server if one is installed.
  let redisUrl = process.env.TEST_REDIS_URL ?? "";
  if (!redisUrl && hasRedisServer()) {
    const redis = await startRedisServer();
    redisUrl = redis.url;
    const stopDatabase = stop;
    stop = async () => {
      await redis.stop();
      await stopDatabase();
    };
  }
  if (!redisUrl)
    console.warn(
      "\n[tests] no Redis (set TEST_REDIS_URL or install redis-server): Redis tests are skipped\n",
    );
  project.provide("redisUrl", redisUrl);
  return stop;
}
