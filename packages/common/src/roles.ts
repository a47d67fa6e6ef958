import { forbidden, unauthenticated } from "./errors.ts";

export const ROLES = ["OWNER", "ADMIN", "MEMBER", "VIEWER"] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { OWNER: 4, ADMIN: 3, MEMBER: 2, VIEWER: 1 };

/** What a credential may do: `read` runs queries and subscriptions, `write` also runs mutations. */
export const SCOPES = ["read", "write"] as const;
export type Scope = (typeof SCOPES)[number];

/** How the caller authenticated: a user's access token (ours or the external issuer's), or a partner API key. */
export const CREDENTIALS = ["user", "apiKey"] as const;
export type Credential = (typeof CREDENTIALS)[number];

/** Who is calling, as the gateway vouched for it. Present only for authenticated requests. */
export interface Principal {
  tenantId: string;
  /** The acting user; for an API key, the key's own id (the key acts, not the person who created it). */
  userId: string;
  roles: Role[];
  credential: Credential;
  /** A user holds every scope (their roles decide); an API key holds the scopes it was created with. */
  scopes: Scope[];
}

/** A signed-in user's principal: every scope, limited by their roles. */
export function userPrincipal(subject: { tenantId: string; userId: string; roles: Role[] }): Principal {
  return { ...subject, credential: "user", scopes: [...SCOPES] };
}

/** True when the principal may run mutations (the gateway refuses them to read-only keys). */
export function canWrite(principal: Principal): boolean {
  return principal.scopes.includes("write");
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
