import { type InternalContext, type Logger, type TenantContext, tenantContext } from "@app/common";
import type { PrismaClient } from "@app/db";

export interface Context extends TenantContext {
  /** The global plan catalogue (a reference table): readable without a tenant, e.g. for a pricing page. */
  readonly plans: PrismaClient["plan"];
}

export function contextFactory(prisma: PrismaClient, logger: Logger) {
  return (internal: InternalContext): Context => ({
    ...tenantContext(internal, logger, prisma),
    plans: prisma.plan,
  });
}
