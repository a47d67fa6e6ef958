import type { PrismaClient } from "@app/db";

/**
 * Granting and revoking the platform-admin role: by e-mail, from the command line only
 * (`npm run admin:grant -- <email>`, cli/admin.ts), never through the API, so no tenant role and no
 * token can make anyone a platform administrator. Takes effect on the administrator's next request.
 */
export async function grantPlatformAdmin(db: PrismaClient, email: string) {
  const address = email.trim().toLowerCase();
  const lookup = await db.userEmail.findUnique({ where: { email: address } });
  if (!lookup) throw new Error(`no user has the e-mail address ${address}`);
  return db.platformAdmin.upsert({
    where: { userId: lookup.userId },
    create: { userId: lookup.userId, email: address },
    update: { email: address },
  });
}

export async function revokePlatformAdmin(db: PrismaClient, email: string): Promise<boolean> {
  const { count } = await db.platformAdmin.deleteMany({ where: { email: email.trim().toLowerCase() } });
  return count > 0;
}

export function listPlatformAdmins(db: PrismaClient) {
  return db.platformAdmin.findMany({ orderBy: { grantedAt: "asc" } });
}
