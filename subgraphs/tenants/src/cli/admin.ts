// `npm run admin:grant -- <email>` / `npm run admin:revoke -- <email>` / `npm run admin:list`:
// the platform-admin role (the support team), outside every tenant. Reads DATABASE_URL (the owner's).
import { parseEnv, postgresUrl } from "@app/common/env";
import { createPrismaClient } from "@app/db";
import { z } from "zod";
import { grantPlatformAdmin, listPlatformAdmins, revokePlatformAdmin } from "../modules/platform/admins.ts";

const USAGE = `usage: npm run admin:grant -- <email> | npm run admin:revoke -- <email> | npm run admin:list
(reads DATABASE_URL; with npm start's embedded database: DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:54329/coditect)`;

const [command, email] = process.argv.slice(2);
if (!command || !["grant", "revoke", "list"].includes(command) || (command !== "list" && !email)) {
  console.log(USAGE);
  process.exit(command === "--help" || command === "-h" ? 0 : 1);
}
const env = parseEnv(z.object({ DATABASE_URL: postgresUrl }));
const db = createPrismaClient({ connectionString: env.DATABASE_URL, poolSize: 1 });
try {
  if (command === "grant") {
    const admin = await grantPlatformAdmin(db, email!);
    console.log(`${admin.email} (${admin.userId}) is a platform administrator`);
  } else if (command === "revoke") {
    console.log(
      (await revokePlatformAdmin(db, email!))
        ? `${email} is no longer a platform administrator`
        : `${email} was not one`,
    );
  } else {
    for (const admin of await listPlatformAdmins(db))
      console.log(`${admin.email}  ${admin.userId}  since ${admin.grantedAt.toISOString()}`);
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await db.$disconnect();
}
