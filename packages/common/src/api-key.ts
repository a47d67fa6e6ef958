import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Partner API keys: `cdt_` + base64url(key id (16 bytes) || tenant id (16 bytes) || secret (32 bytes)),
 * 90 characters. The prefix makes a leaked key recognisable (secret scanners, logs); the ids in it let
 * identity find the row by primary key, on the tenant's shard, without a lookup table; the secret is
 * 256 random bits, so one SHA-256 is a sound stored hash (no password stretching needed) and cheap
 * enough to check on every request.
 */
export const API_KEY_PREFIX = "cdt_";
const ID_BYTES = 16;
const SECRET_BYTES = 32;
const ENCODED_LENGTH = Math.ceil(((2 * ID_BYTES + SECRET_BYTES) * 4) / 3);
const API_KEY_SHAPE = new RegExp(`^${API_KEY_PREFIX}[A-Za-z0-9_-]{${ENCODED_LENGTH}}$`);

export interface ParsedApiKey {
  keyId: string;
  tenantId: string;
  /** SHA-256 of the secret: what is stored and compared, never the secret itself. */
  secretHash: Buffer;
}

const uuidBytes = (uuid: string) => Buffer.from(uuid.replaceAll("-", ""), "hex");
function uuidOf(bytes: Buffer): string {
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const hashApiKeySecret = (secret: Buffer): Buffer => createHash("sha256").update(secret).digest();

/** True when `value` has the shape of an API key (not whether it is valid). */
export const looksLikeApiKey = (value: string): boolean => value.startsWith(API_KEY_PREFIX);

/** A new key for the given ids: the full key (shown once) and the hash to store. */
export function generateApiKey(keyId: string, tenantId: string): { key: string; secretHash: Buffer } {
  const secret = randomBytes(SECRET_BYTES);
  const body = Buffer.concat([uuidBytes(keyId), uuidBytes(tenantId), secret]).toString("base64url");
  return { key: `${API_KEY_PREFIX}${body}`, secretHash: hashApiKeySecret(secret) };
}

/** Splits a presented key into its ids and the hash of its secret; null when it is not well formed. */
export function parseApiKey(key: string): ParsedApiKey | null {
  if (!API_KEY_SHAPE.test(key)) return null;
  const bytes = Buffer.from(key.slice(API_KEY_PREFIX.length), "base64url");
  // base64url decoding is lenient about the last character's spare bits: re-encode to insist on one
  // spelling per key, so a cache keyed on the string cannot be fed variants of the same key.
  if (bytes.length !== 2 * ID_BYTES + SECRET_BYTES || bytes.toString("base64url") !== key.slice(4))
    return null;
  return {
    keyId: uuidOf(bytes.subarray(0, ID_BYTES)),
    tenantId: uuidOf(bytes.subarray(ID_BYTES, 2 * ID_BYTES)),
    secretHash: hashApiKeySecret(bytes.subarray(2 * ID_BYTES)),
  };
}

/** Constant-time comparison of two secret hashes. */
export function sameSecretHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Redis channel identity publishes a revoked key's id on; gateways drop it from their caches at once. */
export const API_KEY_REVOKED_CHANNEL = "api-keys:revoked";
/** Redis key of a resolved API key in the gateways' shared cache. */
export const apiKeyCacheKey = (keyId: string) => `api-keys:resolved:${keyId}`;
