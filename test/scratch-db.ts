import { randomBytes } from "node:crypto";
import { ensureDatabase, migrate } from "@app/db";
import pg from "pg";

/**
 * A migrated database of its own, for tests of things that are single per database (the outbox relay's
 * leadership, job queues): they must not meet the relay of another test file in the shared one.
 */
export async function createScratchDatabase(
  baseUrl: string,
  /** Names the database `<prefix>_<random>`, so whoever made it can tell it apart on a shared server. */
  prefix = "coditect_scratch",
): Promise<{ url: string; drop(): Promise<void> }> {
  const url = new URL(baseUrl);
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  await migrate(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const admin = new URL(baseUrl);
      admin.pathname = "/postgres";
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
