import {
  type BaseContext,
  baseContext,
  deferred,
  type InternalContext,
  type Logger,
  requirePrincipal,
} from "@app/common";
import { type PrismaClient, type TenantClient, tenantClient } from "@app/db";

export interface Context extends BaseContext {
  readonly db: TenantClient;
  /** The global plan catalogue (a reference table): readable without a tenant, e.g. for a pricing page. */
  readonly plans: PrismaClient["plan"];
}

export function contextFactory(prisma: PrismaClient, logger: Logger) {
  return (internal: InternalContext): Context => {
    const base = baseContext(internal, logger);
    const db = deferred(() => tenantClient(prisma, requirePrincipal(base).tenantId));
    return {
      ...base,
      plans: prisma.plan,
      db,
    };
  };
}
