import { forbidden, type Principal, requireRole } from "@app/common";
import type { Context } from "../../context.ts";

/**
 * OWNER, signed in as a user: an API key acts for the organization, never for its owner, so it can
 * neither export everything nor delete the organization.
 */
export function requireOwnerUser(ctx: Context): Principal {
  const principal = requireRole(ctx.principal, "OWNER");
  if (principal.credential !== "user") throw forbidden("Only an OWNER, signed in, can do this.");
  return principal;
}
