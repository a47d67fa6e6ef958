import { forbidden, unauthenticated } from "./errors.ts";

export const ROLES = ["OWNER", "ADMIN", "MEMBER", "VIEWER"] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { OWNER: 4, ADMIN: 3, MEMBER: 2, VIEWER: 1 };

/** Who is calling, as the gateway vouched for it. Present only for authenticated requests. */
export interface Principal {
  tenantId: string;
  userId: string;
  roles: Role[];
}

/** True when one of the principal's roles is at least `minimum`. */
export function hasRole(principal: Principal, minimum: Role): boolean {
  return principal.roles.some((role) => RANK[role] >= RANK[minimum]);
}

/** The one authorisation check every service uses: authenticated, and at least `minimum`. */
export function requireRole(principal: Principal | null, minimum: Role): Principal {
  if (!principal) throw unauthenticated();
  if (!hasRole(principal, minimum)) throw forbidden(`This needs the ${minimum} role or higher.`);
  return principal;
}
