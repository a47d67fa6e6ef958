import { createSigner, createVerifier } from "fast-jwt";
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
 * Signer and verifier per secret, built once. fast-jwt computes HS256 with node:crypto's HMAC in the
 * calling thread; jose (Web Crypto only since v6) sends each HMAC to the thread pool and back, which the
 * realtime benchmark's profile showed as 18% of the gateway's CPU (one signature per subgraph fetch) and
 * again in every subgraph (one verification per request).
 */
const signers = new Map<string, (payload: Record<string, unknown>) => string>();
const verifiers = new Map<string, (token: string) => Record<string, unknown>>();

function signerOf(secret: string) {
  let sign = signers.get(secret);
  if (!sign) {
    sign = createSigner({
      key: secret,
      algorithm: "HS256",
      iss: ISSUER,
      aud: AUDIENCE,
      expiresIn: LIFETIME_SECONDS * 1000,
    });
    signers.set(secret, sign);
  }
  return sign;
}

function verifierOf(secret: string) {
  let verify = verifiers.get(secret);
  if (!verify) {
    verify = createVerifier({
      key: secret,
      algorithms: ["HS256"],
      allowedIss: ISSUER,
      allowedAud: AUDIENCE,
      // Every context this gateway signs has them; one without is not ours.
      requiredClaims: ["iss", "aud", "iat", "exp"],
    });
    verifiers.set(secret, verify);
  }
  return verify;
}

/** Async for its callers' sake (the signature was computed off-thread before); the work is synchronous. */
export async function signInternalContext(secret: string, context: InternalContextInput): Promise<string> {
  const principal = context.principal && {
    ...context.principal,
    credential: context.principal.credential ?? "user",
    scopes: context.principal.scopes ?? SCOPES,
  };
  return signerOf(secret)({
    rid: context.requestId,
    ...(principal
      ? {
          sub: principal.userId,
          tid: principal.tenantId,
          roles: principal.roles,
          cred: principal.credential,
          scp: principal.scopes,
        }
      : {}),
    ...(context.hostTenantId ? { htid: context.hostTenantId } : {}),
    ...(context.clientAddress ? { ip: context.clientAddress } : {}),
  });
}

/** Returns the verified context, or null for anything missing, forged, expired or malformed. */
export async function verifyInternalContext(
  secret: string,
  token: string | null | undefined,
): Promise<InternalContext | null> {
  if (!token) return null;
  try {
    const payload = verifierOf(secret)(token);
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
