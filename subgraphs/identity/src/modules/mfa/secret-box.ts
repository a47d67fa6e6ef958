import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Encrypts second-factor secrets at rest (AES-256-GCM, a random 96-bit nonce per secret): a copy of the
 * database alone does not let anyone compute a user's codes. Sealed form: `v1.<nonce>.<tag>.<ciphertext>`.
 */
export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

/**
 * The key: MFA_ENCRYPTION_KEY (32 bytes, base64), or one derived from INTERNAL_CONTEXT_SECRET with
 * HKDF-SHA-256 when it is unset (changing that secret then makes enrolled authenticators unreadable).
 */
export function mfaKey(configured: string | undefined, internalSecret: string): Buffer {
  if (configured) return Buffer.from(configured, "base64");
  return Buffer.from(hkdfSync("sha256", internalSecret, "coditect-identity", "mfa-secret-box", 32));
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error("the MFA encryption key must be 32 bytes");
  return {
    seal(plain) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      const ciphertext = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return ["v1", nonce, cipher.getAuthTag(), ciphertext]
        .map((p) => (typeof p === "string" ? p : p.toString("base64url")))
        .join(".");
    },
    open(sealed) {
      const [version, nonce, tag, ciphertext] = sealed.split(".");
      if (version !== "v1" || !nonce || !tag || ciphertext === undefined)
        throw new Error("not a sealed secret");
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64url"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, "base64url")),
        decipher.final(),
      ]).toString("utf8");
    },
  };
}
