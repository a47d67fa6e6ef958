import { AuditScope, type PrismaClient, type TenantClient, tenantClient } from "@app/db";
import { unauthenticated } from "./errors.ts";
import type { InternalContext } from "./internal-context.ts";
import type { Logger } from "./logger.ts";
import type { Principal } from "./roles.ts";

/** What every subgraph's context has. Subgraphs add their loaders and clients. */
export interface BaseContext {
  requestId: string;
  principal: Principal | null;
  logger: Logger;
}

export function baseContext(internal: InternalContext, logger: Logger): BaseContext {
  return {
    requestId: internal.requestId,
    principal: internal.principal,
    logger: logger.child({ requestId: internal.requestId, tenantId: internal.principal?.tenantId }),
  };
}

/** What every subgraph's context has, plus the tenant-scoped client its services use. */
export interface TenantContext extends BaseContext {
  /** Built on first use from the verified tenant; UNAUTHENTICATED when the request has none. */
  readonly db: TenantClient;
  /**
   * The request's audit state: the subgraph server begins it for each mutation field, and `db` writes
   * the mutation's entry in its first writing transaction. Null without a principal.
   */
  readonly audit: AuditScope | null;
}

/** The audit actor of a principal: the user, or the API key acting on its own. */
export function auditScopeOf(principal: Principal | null, requestId: string): AuditScope | null {
  if (!principal) return null;
  const type = principal.credential === "apiKey" ? "API_KEY" : "USER";
  return new AuditScope(principal.tenantId, { type, id: principal.userId }, requestId);
}

export function tenantContext(
  internal: InternalContext,
  logger: Logger,
  prisma: PrismaClient,
): TenantContext {
  const base = baseContext(internal, logger);
  const audit = auditScopeOf(base.principal, base.requestId);
  return {
    ...base,
    audit,
    db: deferred(() => tenantClient(prisma, requirePrincipal(base).tenantId, audit ?? undefined)),
  };
}

/** The caller's principal, or UNAUTHENTICATED: for everything that needs a signed-in tenant. */
export function requirePrincipal(ctx: BaseContext): Principal {
  if (!ctx.principal) throw unauthenticated();
  return ctx.principal;
}

/**
 * A per-request object built on first use of any of its members; `build` runs at most once. Used for
 * the tenant-scoped client and the loaders, which need a principal, so anonymous requests that never
 * touch them work. A proxy rather than a getter: yoga copies context properties, which runs getters.
 */
export function deferred<T extends object>(build: () => T): T {
  return rebuildable(build).value;
}

/**
 * {@link deferred}, and `rebuild()`: the next use of a member builds the object anew. A subscription's
 * context lives for all its events; its loaders are rebuilt for each, so no event is answered from
 * what a loader cached for an earlier one.
 */
export function rebuildable<T extends object>(build: () => T): { value: T; rebuild(): void } {
  let value: T | undefined;
  const target = () => {
    value ??= build();
    return value;
  };
  return {
    value: new Proxy({} as T, {
      get: (_t, property) => {
        const v = Reflect.get(target(), property);
        return typeof v === "function" ? v.bind(target()) : v;
      },
      has: (_t, property) => Reflect.has(target(), property),
    }),
    rebuild() {
      value = undefined;
    },
  };
}
