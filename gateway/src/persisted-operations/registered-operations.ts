import { INTERNAL_CONTEXT_HEADER, type Principal, REQUEST_ID_HEADER, signInternalContext } from "@app/common";
import { LRUCache } from "lru-cache";

/** A registered operation is asked for by its name or by its document's hash. */
export type OperationRef = { name: string } | { sha256Hash: string };

export interface RegisteredOperationsOptions {
  /** The tenants subgraph's GraphQL URL (known once the supergraph is loaded). */
  tenantsUrl(): string;
  internalSecret: string;
  /** How long a found document is reused; a deleted operation keeps running at most this long. */
  ttlMs: number;
  /** Entries kept; beyond, the least recently used go. */
  max?: number;
}

const LOOKUP = /* GraphQL */ `
  query RegisteredOperationDocument($name: String, $sha256Hash: String) {
    registeredOperationDocument(name: $name, sha256Hash: $sha256Hash) { document }
  }
`;

/** "Not registered" is remembered briefly only, so an operation registered a moment ago runs at once. */
const NOT_FOUND_TTL_MS = 2_000;

/**
 * Tenant-registered operations, as the gateway resolves them: (tenant, name or hash) -> document, from
 * the tenants subgraph (which owns them) through its @inaccessible lookup field, called directly with
 * the caller's signed context, so the subgraph's tenant-scoped client only ever finds the caller's own
 * organization's operations. Results are cached per tenant in this process; concurrent lookups of one
 * key share one call.
 */
export function createRegisteredOperations(options: RegisteredOperationsOptions) {
  const cache = new LRUCache<string, Promise<string | null>>({
    max: options.max ?? 10_000,
    ttl: options.ttlMs,
  });

  async function fetchDocument(principal: Principal, ref: OperationRef, requestId: string) {
    const context = await signInternalContext(options.internalSecret, { requestId, principal });
    const response = await fetch(options.tenantsUrl(), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json",
        [INTERNAL_CONTEXT_HEADER]: context,
        [REQUEST_ID_HEADER]: requestId,
      },
      body: JSON.stringify({ query: LOOKUP, variables: ref }),
      signal: AbortSignal.timeout(5_000),
    });
    const body = (await response.json()) as {
      data?: { registeredOperationDocument: { document: string } | null } | null;
      errors?: Array<{ message: string }>;
    };
    if (!body.data || body.errors?.length)
      throw new Error(
        `registered operation lookup failed (${response.status}): ${body.errors?.map((e) => e.message).join("; ")}`,
      );
    return body.data.registeredOperationDocument?.document ?? null;
  }

  return {
    /** The document of the principal's organization's operation, or null when it has none by that ref. */
    find(principal: Principal, ref: OperationRef, requestId: string): Promise<string | null> {
      const key = `${principal.tenantId}\n${"name" in ref ? `name:${ref.name}` : `hash:${ref.sha256Hash}`}`;
      const cached = cache.get(key);
      if (cached) return cached;
      const pending = fetchDocument(principal, ref, requestId);
      cache.set(key, pending);
      pending.then(
        (document) => {
          if (document === null) cache.set(key, pending, { ttl: NOT_FOUND_TTL_MS });
        },
        // A failed lookup is not remembered: the next request asks again.
        () => cache.delete(key),
      );
      return pending;
    },
  };
}

export type RegisteredOperations = ReturnType<typeof createRegisteredOperations>;
