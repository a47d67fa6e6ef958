import type { Principal } from "@app/common";
import { OPERATION_NAME, SHA256_HEX, sha256Hex } from "@app/common/persisted-documents";
import { GraphQLError } from "graphql";
import type { ApqStore } from "./apq-store.ts";
import type { OperationRef, RegisteredOperations } from "./registered-operations.ts";

/**
 * What callers other than API keys may send: any operation (`arbitrary`, the default), or only the
 * platform's trusted documents and their organization's registered operations (`persisted-only`).
 * API keys are always held to `persisted-only`.
 */
export type PersistedOperationsMode = "arbitrary" | "persisted-only";

/** `extensions.code` of each refusal. */
const PersistedCode = {
  /** APQ: the hash is unknown; send it again with the query (Apollo clients do so by themselves). */
  PERSISTED_QUERY_NOT_FOUND: "PERSISTED_QUERY_NOT_FOUND",
  /** APQ: the query sent with a hash does not have that hash. */
  PERSISTED_QUERY_MISMATCH: "PERSISTED_QUERY_MISMATCH",
  /** The caller may run persisted operations only and sent a query of its own. */
  PERSISTED_QUERY_ONLY: "PERSISTED_QUERY_ONLY",
  /** `documentId` or `extensions.persistedQuery` is malformed. */
  BAD_REQUEST: "BAD_REQUEST",
} as const;

/** Where the document that ran came from (metrics; the policy's audit trail). */
export type DocumentSource = "trusted" | "registered" | "apq" | "arbitrary";

export interface PersistedOperationsOptions {
  mode: PersistedOperationsMode;
  /** The platform's own operations by hash (`schema/operations`, via codegen). */
  trusted: ReadonlyMap<string, string>;
  registered: RegisteredOperations;
  apq: ApqStore;
  /** Called once per operation with where its document came from. */
  onDocument?(source: DocumentSource): void;
}

/** The request parameters this module reads and rewrites (HTTP body, or a graphql-ws subscribe payload). */
export interface OperationParams {
  query?: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  extensions?: Record<string, unknown> | null;
  /** GraphQL-over-HTTP persisted documents: `sha256:<hash>`, or a registered operation's name. */
  documentId?: unknown;
}

function refusal(code: string, message: string, status: number) {
  return new GraphQLError(message, { extensions: { code, http: { status } } });
}

const notFound = (message: string) => refusal(PersistedCode.PERSISTED_QUERY_NOT_FOUND, message, 404);
const badRequest = (message: string) => refusal(PersistedCode.BAD_REQUEST, message, 400);

/** A reference to a persisted document, read from `documentId` or the APQ extension. */
type Reference =
  | { kind: "hash"; sha256Hash: string; apq: boolean }
  | { kind: "name"; name: string }
  | { kind: "none" };

function referenceOf(params: OperationParams, query: string | undefined): Reference {
  const { documentId } = params;
  const persistedQuery = params.extensions?.persistedQuery;
  if (documentId !== undefined && documentId !== null) {
    if (query !== undefined) throw badRequest("Send either documentId or query, not both.");
    if (typeof documentId !== "string")
      throw badRequest("documentId must be a string: sha256:<hash> or a registered operation's name.");
    if (documentId.startsWith("sha256:")) {
      const sha256Hash = documentId.slice("sha256:".length);
      if (!SHA256_HEX.test(sha256Hash))
        throw badRequest("documentId: the hash after sha256: must be 64 lowercase hex digits.");
      return { kind: "hash", sha256Hash, apq: false };
    }
    if (!OPERATION_NAME.test(documentId))
      throw badRequest("documentId must be sha256:<hash> or a registered operation's name.");
    return { kind: "name", name: documentId };
  }
  if (persistedQuery !== undefined && persistedQuery !== null) {
    const { version, sha256Hash } = persistedQuery as { version?: unknown; sha256Hash?: unknown };
    if (version !== 1 || typeof sha256Hash !== "string" || !SHA256_HEX.test(sha256Hash))
      throw badRequest(
        "extensions.persistedQuery must be { version: 1, sha256Hash: <64 lowercase hex digits> }.",
      );
    return { kind: "hash", sha256Hash, apq: true };
  }
  return { kind: "none" };
}

/**
 * The persisted-operations policy, applied to every request before its document is parsed (HTTP and
 * WebSocket alike, through admission.ts). A hash is looked up in the platform's trusted documents, the
 * APQ store (for callers who may run arbitrary operations) and the caller's organization's registered
 * operations; a name among the registered operations. A caller held to persisted operations can neither
 * send a query of its own nor register one through APQ; it may send a persisted document's full text
 * instead of its id.
 */
export function createPersistedOperations(options: PersistedOperationsOptions) {
  const { trusted, registered, apq, mode } = options;

  const mayRunArbitrary = (principal: Principal | null) =>
    mode === "arbitrary" && principal?.credential !== "apiKey";

  async function findRegistered(principal: Principal | null, ref: OperationRef, requestId: string) {
    // Registered operations belong to an organization: only an authenticated caller has one.
    return principal ? registered.find(principal, ref, requestId) : null;
  }

  async function lookup(
    reference: Exclude<Reference, { kind: "none" }>,
    principal: Principal | null,
    requestId: string,
  ): Promise<{ document: string; source: DocumentSource } | null> {
    if (reference.kind === "name") {
      const document = await findRegistered(principal, { name: reference.name }, requestId);
      return document === null ? null : { document, source: "registered" };
    }
    const { sha256Hash } = reference;
    const trustedDocument = trusted.get(sha256Hash);
    if (trustedDocument !== undefined) return { document: trustedDocument, source: "trusted" };
    // One hash, one text: whichever store holds it, the same document runs. The APQ store (memory,
    // then Redis) comes before the tenants subgraph, so browsers' APQ hits cost no subgraph call.
    if (reference.apq && mayRunArbitrary(principal)) {
      const stored = await apq.get(sha256Hash);
      if (stored !== null) return { document: stored, source: "apq" };
    }
    const document = await findRegistered(principal, { sha256Hash }, requestId);
    return document === null ? null : { document, source: "registered" };
  }

  /**
   * The parameters to execute: `query` filled in from the persisted document the request names, or the
   * request's own query where the caller may send one. Throws the refusal otherwise.
   */
  async function resolve<P extends OperationParams>(
    params: P,
    principal: Principal | null,
    requestId: string,
  ): Promise<P> {
    // graphql-ws requires a query string: an empty one stands for "none, see the reference".
    const query = params.query === "" ? undefined : params.query;
    const reference = referenceOf(params, query);
    const { documentId: _, ...rest } = params;
    const withQuery = (document: string, source: DocumentSource) => {
      options.onDocument?.(source);
      return { ...rest, query: document } as P;
    };

    if (reference.kind === "none") {
      if (query === undefined) return params;
      if (mayRunArbitrary(principal)) {
        options.onDocument?.("arbitrary");
        return params;
      }
      // Safelisting: the full text of a persisted document is as good as its id (the document that
      // runs is the persisted one either way), so a client need not change how it sends operations.
      const known = await lookup(
        { kind: "hash", sha256Hash: sha256Hex(query), apq: false },
        principal,
        requestId,
      );
      if (known) return withQuery(known.document, known.source);
      throw persistedOnly(principal);
    }

    // (A query with documentId was refused above: only the APQ extension comes with one.)
    if (query !== undefined && reference.kind === "hash") {
      // APQ registration: the hash with its query. Checked whatever the caller may do, so a client
      // with a broken hash function learns it here rather than by missing the cache forever.
      if (sha256Hex(query) !== reference.sha256Hash)
        throw refusal(
          PersistedCode.PERSISTED_QUERY_MISMATCH,
          "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query.",
          400,
        );
      const known = await lookup(reference, principal, requestId);
      if (known) return withQuery(known.document, known.source);
      if (!mayRunArbitrary(principal)) throw persistedOnly(principal);
      await apq.set(reference.sha256Hash, query);
      return withQuery(query, "apq");
    }

    const found = await lookup(reference, principal, requestId);
    if (found) return withQuery(found.document, found.source);
    if (reference.kind === "name")
      throw notFound(
        principal
          ? `No operation named ${reference.name} is registered for this organization.`
          : `Registered operations belong to an organization: authenticate to run ${reference.name}.`,
      );
    // Apollo clients look for this exact message before sending the query along with its hash.
    if (reference.apq && mayRunArbitrary(principal)) throw notFound("PersistedQueryNotFound");
    throw notFound(`No persisted operation has the hash ${reference.sha256Hash}.`);
  }

  function persistedOnly(principal: Principal | null) {
    return refusal(
      PersistedCode.PERSISTED_QUERY_ONLY,
      principal?.credential === "apiKey"
        ? "API keys may run persisted operations only: the platform's own operations and those an ADMIN " +
            "of the organization registered (registerOperation). Send documentId (the operation's name or " +
            "sha256:<hash>), or the registered document itself."
        : "This gateway runs persisted operations only: send documentId (sha256:<hash>) or " +
            "extensions.persistedQuery, or the text of a persisted document.",
      403,
    );
  }

  return { resolve };
}
