import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { newId } from "@app/db";
import { exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

export const SIGNING_ALGORITHM = "EdDSA";
const FILE_NAME = "signing-keys.json";

/**
 * One signing key as stored. A key is published in the JWKS from the moment it is written until
 * `retiresAt`, and signs from `activatesAt` until a newer key activates: so every verifier has a key
 * before any token names it, and keeps it until the last token it signed has expired.
 */
interface StoredKey {
  kid: string;
  createdAt: string;
  /** When it starts signing; absent (keys written before rotation existed): at `createdAt`. */
  activatesAt?: string;
  /** When it leaves the JWKS; absent: not retiring. */
  retiresAt?: string;
  privateJwk: JWK;
}

export interface SigningKeys {
  /** The key that signs now: the latest one whose activation has come. */
  readonly current: { kid: string; key: CryptoKey | Uint8Array };
  /** Every published key's public half: upcoming, current, and retiring ones whose tokens may live on. */
  readonly jwks: { keys: JWK[] };
  /** Re-reads the key file now (it is also re-read in the background every `reloadSeconds`). */
  reload(): Promise<void>;
}

const activation = (k: StoredKey) => k.activatesAt ?? k.createdAt;
const isRetired = (k: StoredKey, now: number) => k.retiresAt !== undefined && Date.parse(k.retiresAt) <= now;

async function createKey(activatesAt?: Date): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { crv: "Ed25519", extractable: true });
  const createdAt = new Date().toISOString();
  return {
    kid: newId(),
    createdAt,
    ...(activatesAt ? { activatesAt: activatesAt.toISOString() } : {}),
    privateJwk: await exportJWK(privateKey),
  };
}

async function readKeys(file: string): Promise<StoredKey[]> {
  const stored = JSON.parse(await readFile(file, "utf8")) as StoredKey[];
  if (!Array.isArray(stored) || stored.length === 0) throw new Error(`${file} holds no keys`);
  return stored;
}

/** Replaces the file in one step (write, then rename), so a reader never sees half of it. */
async function writeKeys(file: string, keys: StoredKey[]): Promise<void> {
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, JSON.stringify(keys, null, 2), { mode: 0o600 });
  await rename(temporary, file);
}

/** The key file, with a first key created when there is none. */
async function loadOrCreate(dir: string): Promise<StoredKey[]> {
  const file = join(dir, FILE_NAME);
  try {
    return await readKeys(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  let stored = [await createKey()];
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // `wx`: when several processes start at once, the first writer wins and the others read its key.
  await writeFile(file, JSON.stringify(stored, null, 2), { mode: 0o600, flag: "wx" }).catch(async (e) => {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    stored = await readKeys(file);
  });
  return stored;
}

/** The key that signs at `now`: the latest activated one that has not retired (else the newest activated). */
function signingKey(stored: StoredKey[], now: number): StoredKey {
  const activated = stored.filter((k) => Date.parse(activation(k)) <= now);
  const candidates = activated.filter((k) => !isRetired(k, now));
  const pool = candidates.length ? candidates : activated.length ? activated : stored;
  // Ties go to the later key in the file (rotation appends).
  return pool.reduce((a, b) => (activation(b) >= activation(a) ? b : a));
}

/**
 * Loads the signing keys from `dir`, creating the folder and a first key when there is none. The file
 * is written with mode 0600: it holds private keys and is never committed (.data/ is ignored). It is
 * re-read in the background at most every `reloadSeconds` (when a token is signed or the JWKS served),
 * so a key added by `npm run keys:rotate` is published, and later signs, without a restart.
 */
export async function loadSigningKeys(
  dir: string,
  options: { reloadSeconds?: number; onReloadError?: (error: unknown) => void } = {},
): Promise<SigningKeys> {
  const file = join(dir, FILE_NAME);
  const imported = new Map<string, CryptoKey | Uint8Array>();
  let stored = await loadOrCreate(dir);
  let loadedAt = Date.now();
  let reloading: Promise<void> | null = null;

  async function importAll(keys: StoredKey[]) {
    for (const k of keys) {
      if (!imported.has(k.kid)) imported.set(k.kid, await importJWK(k.privateJwk, SIGNING_ALGORITHM));
    }
  }
  await importAll(stored);

  async function reload() {
    const next = await readKeys(file);
    await importAll(next);
    stored = next;
    loadedAt = Date.now();
  }
  function reloadIfStale() {
    if (options.reloadSeconds === undefined || reloading) return;
    if (Date.now() - loadedAt < options.reloadSeconds * 1000) return;
    reloading = reload()
      .catch((error) => {
        loadedAt = Date.now(); // keep the keys we have; try again after the next interval
        options.onReloadError?.(error);
      })
      .finally(() => {
        reloading = null;
      });
  }

  return {
    get current() {
      reloadIfStale();
      const key = signingKey(stored, Date.now());
      return { kid: key.kid, key: imported.get(key.kid)! };
    },
    get jwks() {
      reloadIfStale();
      const now = Date.now();
      return {
        keys: stored
          .filter((k) => !isRetired(k, now))
          .map(({ kid, privateJwk: { kty, crv, x } }) => ({
            kty,
            crv,
            x,
            kid,
            alg: SIGNING_ALGORITHM,
            use: "sig",
          })),
      };
    },
    reload,
  };
}

export interface RotationOptions {
  /** How long the new key is published before it signs: longer than any JWKS cache (identity's is 300 s). */
  publishLeadSeconds: number;
  /** ACCESS_TOKEN_TTL_SECONDS: how long a token signed just before the switch stays valid. */
  tokenTtlSeconds: number;
  /** Added to the old key's retirement for clock skew and identity replicas that reload late. */
  marginSeconds: number;
  now?: Date;
}

export interface RotationResult {
  kid: string;
  activatesAt: string;
  retiring: Array<{ kid: string; retiresAt: string }>;
  /** Keys past their retirement, removed from the file. */
  removed: string[];
}

/**
 * Rotates without downtime: writes a new key that activates `publishLeadSeconds` from now, and retires
 * every key signing until then once its last token has expired (activation + token lifetime + margin).
 * Keys already retired are dropped from the file. Refused while an earlier rotation is still pending.
 */
export async function rotateSigningKeys(dir: string, options: RotationOptions): Promise<RotationResult> {
  const now = (options.now ?? new Date()).getTime();
  const stored = await loadOrCreate(dir);
  const pending = stored.find((k) => k.activatesAt !== undefined && Date.parse(k.activatesAt) > now);
  if (pending) {
    throw new Error(`key ${pending.kid} is already waiting to activate at ${activation(pending)}`);
  }
  const activatesAt = new Date(now + options.publishLeadSeconds * 1000);
  const retiresAt = new Date(
    activatesAt.getTime() + (options.tokenTtlSeconds + options.marginSeconds) * 1000,
  );
  const kept = stored.filter((k) => !isRetired(k, now));
  const retiring: RotationResult["retiring"] = [];
  for (const k of kept) {
    if (!k.retiresAt || Date.parse(k.retiresAt) > retiresAt.getTime()) {
      k.retiresAt = retiresAt.toISOString();
      retiring.push({ kid: k.kid, retiresAt: k.retiresAt });
    }
  }
  const key = await createKey(activatesAt);
  await writeKeys(join(dir, FILE_NAME), [...kept, key]);
  return {
    kid: key.kid,
    activatesAt: activatesAt.toISOString(),
    retiring,
    removed: stored.filter((k) => isRetired(k, now)).map((k) => k.kid),
  };
}
