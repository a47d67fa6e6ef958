import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { SHA256_HEX, sha256Hex } from "@app/common/persisted-documents";

/** The manifest `npm run codegen` writes from schema/operations (committed). */
export const DEFAULT_TRUSTED_DOCUMENTS_PATH = fileURLToPath(
  new URL("../../../schema/operations/generated/persisted-documents.json", import.meta.url),
);

/**
 * The platform's own operations by hash. GraphQL Code Generator's manifest names each document
 * `sha256:<hex>`; the key is checked against the document, so a hand-edited or stale manifest stops the
 * gateway at start-up instead of serving a document under someone else's hash.
 */
export async function loadTrustedDocuments(path: string): Promise<ReadonlyMap<string, string>> {
  const manifest: unknown = JSON.parse(await readFile(path, "utf8"));
  if (manifest === null || typeof manifest !== "object" || Array.isArray(manifest))
    throw new Error(`${path}: expected an object of "sha256:<hash>": "<document>"`);
  const documents = new Map<string, string>();
  for (const [key, document] of Object.entries(manifest)) {
    const hash = key.replace(/^sha256:/, "");
    if (typeof document !== "string" || !SHA256_HEX.test(hash) || sha256Hex(document) !== hash)
      throw new Error(`${path}: the entry ${key} is not a document with that SHA-256 (run npm run codegen)`);
    documents.set(hash, document);
  }
  return documents;
}
