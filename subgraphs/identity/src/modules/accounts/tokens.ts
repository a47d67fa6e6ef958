import type { Role } from "@app/common";
import { newId } from "@app/db";
import { SignJWT } from "jose";
import type { SigningKeys } from "../keys/keys.service.ts";
import { SIGNING_ALGORITHM } from "../keys/keys.service.ts";

export interface TokenSettings {
  keys: SigningKeys;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** Claim names the gateway reads; kept in one place on both sides of the wire. */
export const TENANT_CLAIM = "tid";
export const ROLES_CLAIM = "roles";

export async function issueAccessToken(
  settings: TokenSettings,
  subject: { userId: string; tenantId: string; roles: Role[] },
): Promise<string> {
  return new SignJWT({ [TENANT_CLAIM]: subject.tenantId, [ROLES_CLAIM]: subject.roles })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: settings.keys.current.kid, typ: "at+jwt" })
    .setSubject(subject.userId)
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setIssuedAt()
    .setExpirationTime(`${settings.ttlSeconds}s`)
    .setJti(newId())
    .sign(settings.keys.current.key);
}
