import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256Hex } from "@app/common/persisted-documents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_TRUSTED_DOCUMENTS_PATH, loadTrustedDocuments } from "./trusted-documents.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "trusted-documents-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function manifest(content: unknown): Promise<string> {
  const path = join(dir, `${Math.random()}.json`);
  await writeFile(path, JSON.stringify(content));
  return path;
}

describe("the trusted documents' manifest", () => {
  it("loads the committed one, by hash without the sha256: prefix", async () => {
    const documents = await loadTrustedDocuments(DEFAULT_TRUSTED_DOCUMENTS_PATH);
    expect(documents.size).toBeGreaterThan(10);
    for (const [hash, document] of documents) expect(sha256Hex(document)).toBe(hash);
  });

  it("stops the gateway when an entry is not the document its hash names (tampered or stale)", async () => {
    const document = "query Plans { plans { code } }";
    const good = await manifest({ [`sha256:${sha256Hex(document)}`]: document });
    expect([...(await loadTrustedDocuments(good)).values()]).toEqual([document]);

    const tampered = await manifest({ [`sha256:${sha256Hex(document)}`]: "query Plans { me { email } }" });
    await expect(loadTrustedDocuments(tampered)).rejects.toThrow(
      `the entry sha256:${sha256Hex(document)} is not a document with that SHA-256 (run npm run codegen)`,
    );
    await expect(loadTrustedDocuments(await manifest(["not", "an", "object"]))).rejects.toThrow(
      'expected an object of "sha256:<hash>": "<document>"',
    );
  });
});
