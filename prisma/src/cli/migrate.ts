// `npm run db:migrate`: applies prisma/migrations to DATABASE_URL (creating the database if needed).
import { ensureDatabase, migrate } from "../migrate.ts";

const url = process.env.DATABASE_URL;
if (!url || !/^postgres(ql)?:\/\//.test(url)) {
  console.error("DATABASE_URL: must be a postgres:// URL of the database to migrate");
  process.exit(1);
}
await ensureDatabase(url);
const { applied, alreadyApplied } = await migrate(url);
console.log(
  applied.length
    ? `applied ${applied.length} migration(s): ${applied.join(", ")}`
    : `database is up to date (${alreadyApplied.length} migration(s) applied before)`,
);
