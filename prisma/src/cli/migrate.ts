// `npm run db:migrate`: applies prisma/migrations to DATABASE_URL (creating the database if needed).

import { parseEnv, postgresUrl } from "@app/common/env";
import { z } from "zod";
import { ensureDatabase, migrate } from "../migrate.ts";

const env = parseEnv(z.object({ DATABASE_URL: postgresUrl }));
await ensureDatabase(env.DATABASE_URL);
const { applied, alreadyApplied } = await migrate(env.DATABASE_URL);
console.log(
  applied.length
    ? `applied ${applied.length} migration(s): ${applied.join(", ")}`
    : `database is up to date (${alreadyApplied.length} migration(s) applied before)`,
);
