import {
  type BaseContext,
  baseContext,
  deferred,
  type InternalContext,
  type Logger,
  requirePrincipal,
} from "@app/common";
import { type PrismaClient, type TenantClient, tenantClient } from "@app/db";
import {
  createOrganizationLoaders,
  type OrganizationLoaders,
} from "./modules/organizations/organizations.loaders.ts";

export interface Context extends BaseContext {
  /** Tenant-scoped client; UNAUTHENTICATED when the request has no tenant. */
  readonly db: TenantClient;
  readonly loaders: OrganizationLoaders;
}

export function contextFactory(prisma: PrismaClient, logger: Logger) {
  return (internal: InternalContext): Context => {
    const base = baseContext(internal, logger);
    const db = deferred(() => tenantClient(prisma, requirePrincipal(base).tenantId));
    const loaders = deferred(() => createOrganizationLoaders(db));
    return {
      ...base,
      db,
      loaders,
    };
  };
}
