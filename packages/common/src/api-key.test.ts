import { describe, expect, it } from "vitest";
import { generateApiKey, hashApiKeySecret, parseApiKey, sameSecretHash } from "./api-key.ts";

const keyId = "01a20000-0000-7000-8000-000000000001";
const tenantId = "01a20000-0000-7000-8000-000000000002";

describe("API key format", () => {
  it("carries its ids and a secret whose hash is what is stored", () => {
    const { key, secretHash } = generateApiKey(keyId, tenantId);
    expect(key).toMatch(/^cdt_[A-Za-z0-9_-]{86}$/);
    const parsed = parseApiKey(key)!;
    expect(parsed).toMatchObject({ keyId, tenantId });
    expect(sameSecretHash(parsed.secretHash, secretHash)).toBe(true);
    expect(generateApiKey(keyId, tenantId).key).not.toBe(key);
  });

  it("refuses anything but the one spelling of a key", () => {
    const { key } = generateApiKey(keyId, tenantId);
    const original = parseApiKey(key)!;
    // 64 bytes take 86 base64url characters, the last holding 4 spare bits that decoding ignores:
    // flipping one gives the same bytes, and must not pass for the same key (caches key on the text).
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const sibling = `${key.slice(0, -1)}${alphabet[alphabet.indexOf(key.at(-1)!) ^ 1]}`;
    expect(Buffer.from(sibling.slice(4), "base64url")).toEqual(Buffer.from(key.slice(4), "base64url"));
    expect(parseApiKey(sibling)).toBeNull();
    for (const bad of [
      key.slice(0, -1),
      `${key}A`,
      key.replace("cdt_", "cdx_"),
      `cdt_${"!".repeat(86)}`,
      "",
    ]) {
      expect(parseApiKey(bad), bad).toBeNull();
    }
    // Another secret under the same ids parses, but to another hash.
    const other = parseApiKey(generateApiKey(keyId, tenantId).key)!;
    expect(sameSecretHash(other.secretHash, original.secretHash)).toBe(false);
  });

  it("compares hashes in constant time and refuses different lengths", () => {
    const a = hashApiKeySecret(Buffer.from("a"));
    expect(sameSecretHash(a, hashApiKeySecret(Buffer.from("a")))).toBe(true);
    expect(sameSecretHash(a, a.subarray(1))).toBe(false);
  });
});
