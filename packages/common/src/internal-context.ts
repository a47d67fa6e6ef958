import { jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import { CREDENTIALS, type Principal, ROLES, SCOPES, userPrincipal } from "./roles.ts";

/**
 * The gateway vouches for each request to the subgraphs with this header: a short-lived HS256 JWT over
 * the tenant, user, roles and request id. Subgraphs trust nothing else a caller sends, so a direct call
 * to a subgraph with forged tenant headers gets no data.
 */
export const INTERNAL_CONTEXT_HEADER = "x-coditect-context";
const ISSUER = "coditect-gateway";
const AUDIENCE = "coditect-subgraphs";
/** Long enough for one federated operation, short enough that a leaked header is soon useless. */
const LIFETIME_SECONDS = 60;

export interface InternalContext {
  requestId: string;
  principal: Principal | null;
  /**
   * The active organization the request's Host names (`{slug}.{BASE_DOMAIN}` or a verified custom
   * domain), resolved by the gateway; for public, pre-login queries. Absent for any other host.
   */
  hostTenantId?: string;
  /**
   * The client's address as the gateway saw it (gateway/src/admission.ts clientAddressOf): what
   * per-address limits key on. Nothing the client sends can set it.
   */
  clientAddress?: string;
}

/** What may be signed: a principal without `credential`/`scopes` is a user's (tests build them so). */
export interface InternalContextInput {
  requestId: string;
  principal: (Omit<Principal, "credential" | "scopes"> & Partial<Principal>) | null;
  hostTenantId?: string;
  clientAddress?: string;
}

const claims = z.object({
  rid: z.string().min(1).max(200),
  tid: z.uuid().optional(),
  sub: z.uuid().optional(),
  roles: z.array(z.enum(ROLES)).optional(),
  cred: z.enum(CREDENTIALS).optional(),
  scp: z.array(z.enum(SCOPES)).optional(),
  htid: z.uuid().optional(),
  ip: z.string().min(1).max(64).optional(),
});

/**
 * The HMAC key of a secret, imported once: jose imports a raw secret again for every signature and
 * verification, which was a measurable share of each request's CPU (one signature per request at the
 * gateway, one verification per subgraph fetch).
 */
const keys = new Map<string, Promise<CryptoKey>>();
function key(secret: string): Promise<CryptoKey> {
  let imported = keys.get(secret);
  if (!imported) {
    imported = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    keys.set(secret, imported);
  }
  return imported;
}

export async function signInternalContext(secret: string, context: InternalContextInput): Promise<string> {
  const principal = context.principal && {
    ...context.principal,
    credential: context.principal.credential ?? "user",
    scopes: context.principal.scopes ?? SCOPES,
  };
  const jwt = new SignJWT({
    rid: context.requestId,
    ...(principal
      ? { tid: principal.tenantId, roles: principal.roles, cred: principal.credential, scp: principal.scopes }
      : {}),
    ...(context.hostTenantId ? { htid: context.hostTenantId } : {}),
    ...(context.clientAddress ? { ip: context.clientAddress } : {}),
  })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${LIFETIME_SECONDS}s`);
  if (principal) jwt.setSubject(principal.userId);
  return jwt.sign(await key(secret));
}

/** Returns the verified context, or null for anything missing, forged, expired or malformed. */
export async function verifyInternalContext(
  secret: string,
  token: string | null | undefined,
): Promise<InternalContext | null> {
  if (!token) return null;
  try {
    const { payload } = await jwtVerify(token, await key(secret), {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    const parsed = claims.safeParse(payload);
    if (!parsed.success) return null;
    const { rid, tid, sub, roles, cred, scp, htid, ip } = parsed.data;
    // Optional claims: the organization the Host names and the client's address.
    const extras = { ...(htid ? { hostTenantId: htid } : {}), ...(ip ? { clientAddress: ip } : {}) };
    // A principal is all or nothing: a tenant without a user (or the reverse) is not a valid claim.
    if ((tid === undefined) !== (sub === undefined)) return null;
    if (!tid || !sub) return { requestId: rid, principal: null, ...extras };
    // No `cred`: signed by a gateway from before API keys (a rolling deploy), which knew only users.
    const principal = userPrincipal({ tenantId: tid, userId: sub, roles: roles ?? [] });
    if (cred === "apiKey") {
      // A key's scopes are never implied: a key context without them is malformed.
      if (!scp) return null;
      return { requestId: rid, principal: { ...principal, credential: cred, scopes: scp }, ...extras };
    }
    return { requestId: rid, principal: scp ? { ...principal, scopes: scp } : principal, ...extras };
  } catch {
    return null;
  }
}
