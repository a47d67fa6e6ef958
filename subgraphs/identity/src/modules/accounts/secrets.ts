import { createHash, randomBytes } from "node:crypto";
import { isUuid } from "@app/db";

/** 256 random bits, base64url: the secret part of every token identity hands out besides JWTs. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * SHA-256 of a secret, as stored. A fast hash is right here (unlike passwords): the secret has 256
 * random bits, so there is nothing to guess, and lookups stay one index probe.
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url");
}

const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** True for something shaped like {@link newSecret}'s output (checked before any lookup). */
export const isSecret = (value: string) => SECRET.test(value);

/**
 * Splits `<id>.<id>...<secret>` (refresh tokens name their family, invitations their tenant and id, so
 * a lookup goes to one shard). Null for anything else, so malformed input never reaches the database.
 */
export function parseCompositeToken(token: string, ids: number): { ids: string[]; secret: string } | null {
  const parts = token.split(".");
  if (parts.length !== ids + 1) return null;
  const secret = parts.pop()!;
  if (!isSecret(secret) || !parts.every(isUuid)) return null;
  return { ids: parts, secret };
}
