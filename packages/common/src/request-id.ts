import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { Plugin } from "graphql-yoga";

export const REQUEST_ID_HEADER = "x-request-id";

/** What a client or proxy may name its request: short, and safe to put in a log line or a header. */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The incoming id when it is a valid one, otherwise a new UUID. */
export function requestIdFrom(incoming: string | null | undefined): string {
  return incoming && VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

interface RequestScope {
  requestId: string;
  /** Learnt once the operation is parsed and the caller known (metrics.ts); named in log lines. */
  operationName?: string;
  tenantId?: string;
}

const scope = new AsyncLocalStorage<RequestScope>();
const ids = new WeakMap<Request, RequestScope>();

/** The id of the request being handled, for log lines (the logger's mixin reads it). */
export function currentRequestId(): string | undefined {
  return scope.getStore()?.requestId;
}

/** What is known of the request being handled: its id, and later its operation and tenant. */
export function currentRequestScope(): Readonly<RequestScope> | undefined {
  return scope.getStore();
}

/** Names the operation and tenant of the request being handled, for the log lines that follow. */
export function annotateRequest(fields: { operationName?: string; tenantId?: string }) {
  const current = scope.getStore();
  if (!current) return;
  if (fields.operationName) current.operationName = fields.operationName;
  if (fields.tenantId) current.tenantId = fields.tenantId;
}

/** The id {@link useRequestId} gave this request. */
export function requestIdOf(request: Request): string {
  return ids.get(request)?.requestId ?? requestIdFrom(request.headers.get(REQUEST_ID_HEADER));
}

/**
 * Request ids on a yoga server: a valid incoming `x-request-id` is kept, anything else replaced by a
 * UUID; the request runs in a scope that carries the id, so every log line it causes names it; and
 * every response, errors and health checks included, echoes it back.
 */
export function useRequestId(): Plugin {
  return {
    instrumentation: {
      request({ request }, wrapped) {
        const current = { requestId: requestIdFrom(request.headers.get(REQUEST_ID_HEADER)) };
        ids.set(request, current);
        return scope.run(current, wrapped);
      },
    },
    onResponse({ request, response }) {
      response.headers.set(REQUEST_ID_HEADER, requestIdOf(request));
    },
  };
}

/**
 * Adopts the id a trusted caller vouched for (a subgraph: the one in the gateway's signed context), so
 * the gateway's and the subgraph's log lines of one operation share it.
 */
export function adoptRequestId(request: Request, requestId: string) {
  const current = ids.get(request);
  if (current) current.requestId = requestId;
  else ids.set(request, { requestId });
}
