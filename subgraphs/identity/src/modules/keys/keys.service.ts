import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { newId } from "@app/db";
import { exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

export const SIGNING_ALGORITHM = "EdDSA";

interface StoredKey {
  kid: string;
  createdAt: string;
  privateJwk: JWK;
}

export interface SigningKeys {
  /** The newest key: it signs. */
  current: { kid: string; key: CryptoKey | Uint8Array };
  /** Every stored key's public half: published, so tokens signed by older keys still verify. */
  jwks: { keys: JWK[] };
}

async function createKey(): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: "Ed25519", extractable: true });
  return { kid: newId(), createdAt: new Date().toISOString(), privateJwk: await exportJWK(privateKey) };
}

/**
 * Loads the signing keys from `dir`, creating the folder and a first key when there is none. The file
 * is written with mode 0600: it holds private keys and is never committed (.data/ is ignored).
 */
export async function loadSigningKeys(dir: string): Promise<SigningKeys> {
  const file = join(dir, "signing-keys.json");
  let stored: StoredKey[];
  try {
    stored = JSON.parse(await readFile(file, "utf8")) as StoredKey[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    stored = [await createKey()];
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // `wx`: when several processes start at once, the first writer wins and the others read its key.
    await writeFile(file, JSON.stringify(stored, null, 2), { mode: 0o600, flag: "wx" }).catch(async (e) => {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      stored = JSON.parse(await readFile(file, "utf8")) as StoredKey[];
    });
  }
  if (stored.length === 0) throw new Error(`${file} holds no keys`);
  const newest = stored.reduce((a, b) => (a.createdAt >= b.createdAt ? a : b));
  return {
    current: { kid: newest.kid, key: await importJWK(newest.privateJwk, SIGNING_ALGORITHM) },
    jwks: {
      keys: stored.map(({ kid, privateJwk: { kty, crv, x } }) => ({
        kty,
        crv,
        x,
        kid,
        alg: SIGNING_ALGORITHM,
        use: "sig",
      })),
    },
  };
}
