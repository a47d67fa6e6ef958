// Credentials the benchmarks mint themselves, with the platform's own keys and code, so a large seeded
// data set can be driven without signing every tenant up through the gateway.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Role, signInternalContext } from "@app/common";
import { newId } from "@app/db";
import { decodeJwt, SignJWT } from "jose";
import { issueAccessToken } from "../../subgraphs/identity/src/modules/accounts/tokens.ts";
import { loadSigningKeys } from "../../subgraphs/identity/src/modules/keys/keys.service.ts";
import type { Platform } from "./platform.ts";

/** Identity's audience default (subgraphs/identity/src/env.ts), which `npm start` leaves as it is. */
const AUDIENCE = "coditect-platform";

export interface Subject {
  tenantId: string;
  userId: string;
  roles: Role[];
}

/**
 * Access tokens as identity issues them at log-in (same claims, `kid`, issuer and audience), signed
 * with the platform's current key from its data folder (`npm start` creates it on first start).
 */
export async function accessTokenMinter(platform: Platform, dataDir: string, ttlSeconds = 86_400) {
  const keys = await loadSigningKeys(join(dataDir, "keys"));
  const issuer = `http://localhost:${new URL(platform.subgraphUrls.identity).port}`;
  const settings = { keys, issuer, audience: AUDIENCE, ttlSeconds, refreshTtlSeconds: ttlSeconds };
  return (subject: Subject) => {
    // A session of its own per token, as each log-in starts one (never revoked, so never refused).
    const claims = { ...subject, sessionId: newId() };
    return issueAccessToken(settings, claims);
  };
}

/** The secret `npm start` generated for the gateway's signed internal context. */
export async function internalContextSecret(dataDir: string): Promise<string> {
  const secrets = JSON.parse(await readFile(join(dataDir, "secrets.json"), "utf8"));
  return secrets.INTERNAL_CONTEXT_SECRET as string;
}

/**
 * The gateway's signed internal context (x-coditect-context) for one principal, made to last the whole
 * benchmark instead of the gateway's 60 s: signed by the platform's own signInternalContext, then its
 * claims re-signed with a later expiry. Other gateways forward it as is, so they skip the per-request
 * signing ours does (which the comparison says).
 */
export async function longLivedInternalContext(
  secret: string,
  subject: Subject,
  lifetimeSeconds: number,
): Promise<string> {
  const claims = decodeJwt(await signInternalContext(secret, { requestId: "bench", principal: subject }));
  return new SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) + lifetimeSeconds })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(secret));
}
