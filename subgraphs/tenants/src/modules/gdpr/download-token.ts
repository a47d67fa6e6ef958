import { isUuid } from "@app/db";
import { jwtVerify, SignJWT } from "jose";

/**
 * Signed download links for exports: `/downloads/exports/<token>` on the gateway, which passes it to this
 * subgraph's `/exports/download?token=`. The token (HS256 with a key derived from the internal secret,
 * a few minutes' life) names the tenant and the export; only an OWNER's query hands one out.
 */
const AUDIENCE = "coditect-export-download";

const keyOf = (secret: string) => new TextEncoder().encode(`${secret}:export-download`);

export function signDownloadToken(secret: string, tenantId: string, exportId: string, ttlSeconds: number) {
  return new SignJWT({ tid: tenantId, eid: exportId })
    .setProtectedHeader({ alg: "HS256" })
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(keyOf(secret));
}

/** The tenant and export a token names, or null when it is forged, expired or malformed. */
export async function verifyDownloadToken(secret: string, token: string) {
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), { algorithms: ["HS256"], audience: AUDIENCE });
    const { tid, eid } = payload;
    return isUuid(tid) && isUuid(eid) ? { tenantId: tid, exportId: eid } : null;
  } catch {
    return null;
  }
}
