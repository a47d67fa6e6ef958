import { createHmac } from "node:crypto";
import type pg from "pg";

/**
 * The database roles the services connect as (created by the row-level-security migration):
 * - `coditect_app`: every service's tenant pool. Owns nothing, has no BYPASSRLS; sees a tenant table's
 *   rows only for the tenant its transaction names (`SET LOCAL app.tenant_id`), none without one.
 * - `coditect_cross_tenant`: the named places that cross tenants on purpose (sign-up, log-in, platform
 *   administration); a policy of its own on every tenant table lets it through.
 * Migrations, the worker (pg-boss owns its schema) and tests' own seeding use the owner's URL.
 */
export const APP_ROLE = "coditect_app";
export const CROSS_TENANT_ROLE = "coditect_cross_tenant";
export type DatabaseRole = typeof APP_ROLE | typeof CROSS_TENANT_ROLE;

/**
 * A role's password, derived from the owner's: whoever holds the owner's URL (the launcher, the test
 * harness) can connect as the roles without another secret to store, and a role's password reveals
 * nothing of the owner's (HMAC-SHA256).
 */
function rolePassword(ownerPassword: string, role: DatabaseRole): string {
  return createHmac("sha256", ownerPassword).update(`coditect database role ${role}`).digest("base64url");
}

/**
 * The URL of `role` on the same server and database as the owner's URL. Without a password in the
 * owner's URL (trust, peer or certificate authentication: CI, docker-compose) the role's has none either.
 */
export function roleUrl(ownerUrl: string, role: DatabaseRole): string {
  const url = new URL(ownerUrl);
  const ownerPassword = decodeURIComponent(url.password);
  url.username = role;
  url.password = ownerPassword ? rolePassword(ownerPassword, role) : "";
  return url.toString();
}

/** Both roles' URLs for the database at `ownerUrl`. */
export function databaseRoleUrls(ownerUrl: string): { app: string; crossTenant: string } {
  return { app: roleUrl(ownerUrl, APP_ROLE), crossTenant: roleUrl(ownerUrl, CROSS_TENANT_ROLE) };
}

/**
 * Gives the roles their derived passwords when the owner connects with one (the migration runner calls
 * it on every run, so a changed owner password carries over). Roles are per cluster: every database of
 * a cluster must then be migrated with the same owner password.
 */
export async function setRolePasswords(client: pg.Client, ownerUrl: string): Promise<void> {
  const ownerPassword = decodeURIComponent(new URL(ownerUrl).password);
  if (!ownerPassword) return;
  for (const role of [APP_ROLE, CROSS_TENANT_ROLE] as const) {
    const { rowCount } = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
    if (!rowCount) continue; // migrations older than the roles (tests of the runner)
    // ALTER ROLE takes no parameters; the password is base64url, so it needs no quoting beyond ''.
    await client.query(`ALTER ROLE ${role} PASSWORD '${rolePassword(ownerPassword, role)}'`);
  }
}
