import { type Role, SCOPES } from "@app/common";
import { newId } from "@app/db";
import { SignJWT } from "jose";
import type { SigningKeys } from "../keys/keys.service.ts";
import { SIGNING_ALGORITHM } from "../keys/keys.service.ts";

export interface TokenSettings {
  keys: SigningKeys;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /** How long a session (refresh-token family) lives from log-in. */
  refreshTtlSeconds: number;
}

/** Claim names the gateway reads; kept in one place on both sides of the wire. */
export const TENANT_CLAIM = "tid";
export const ROLES_CLAIM = "roles";
/** The session (refresh-token family) the token belongs to: ending the session refuses the token. */
export const SESSION_CLAIM = "sid";

export async function issueAccessToken(
  settings: TokenSettings,
  subject: { userId: string; tenantId: string; roles: Role[]; sessionId: string },
): Promise<string> {
  return new SignJWT({
    [TENANT_CLAIM]: subject.tenantId,
    [ROLES_CLAIM]: subject.roles,
    [SESSION_CLAIM]: subject.sessionId,
    // A user's token holds every scope; their roles decide what they may do (RFC 8693 `scope`).
    scope: SCOPES.join(" "),
  })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: settings.keys.current.kid, typ: "at+jwt" })
    .setSubject(subject.userId)
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setIssuedAt()
    .setExpirationTime(`${settings.ttlSeconds}s`)
    .setJti(newId())
    .sign(settings.keys.current.key);
}
