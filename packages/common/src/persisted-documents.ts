import { createHash } from "node:crypto";

/**
 * What the gateway and the tenants subgraph agree on about persisted documents: how a document is named
 * by its hash, and what a registered operation's name looks like.
 */

/** SHA-256 of a document, lowercase hex: the id of trusted, registered and APQ documents alike. */
export function sha256Hex(document: string): string {
  return createHash("sha256").update(document, "utf8").digest("hex");
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A registered operation's name: a GraphQL name of at most 100 characters. */
export const OPERATION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
