import { deferred, type InternalContext, type Logger, type TenantContext, tenantContext } from "@app/common";
import type { PrismaClient } from "@app/db";
import {
  createOrganizationLoaders,
  type OrganizationLoaders,
} from "./modules/organizations/organizations.loaders.ts";

export interface Context extends TenantContext {
  readonly loaders: OrganizationLoaders;
}

export function contextFactory(prisma: PrismaClient, logger: Logger) {
  return (internal: InternalContext): Context => {
    const ctx = tenantContext(internal, logger, prisma);
    return { ...ctx, loaders: deferred(() => createOrganizationLoaders(ctx.db)) };
  };
}
