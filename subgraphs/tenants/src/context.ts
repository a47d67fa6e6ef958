import { deferred, type InternalContext, type Logger, type TenantContext, tenantContext } from "@app/common";
import type { OrganizationStateNotifier } from "@app/common/organization-state";
import { type PrismaClient, type TenantClient, tenantClient } from "@app/db";
import type { Redis } from "ioredis";
import type { TenantsConfig } from "./env.ts";
import { createDirectory, type Directory } from "./modules/directory/directory.ts";
import type { DnsResolver } from "./modules/domains/dns.ts";
import { type AccountDeletion, createAccountDeletion } from "./modules/gdpr/account-deletion.ts";
import {
  createOrganizationLoaders,
  type OrganizationLoaders,
} from "./modules/organizations/organizations.loaders.ts";
import { createPlatformAccess, type PlatformAccess } from "./modules/platform/cross-tenant.ts";

/** What the tenants subgraph's services use besides the database, built once per process. */
export interface TenantsServices {
  dns: DnsResolver;
  /** Tells the gateways' caches that an organization's status or hosts changed. */
  notifier: OrganizationStateNotifier;
  /** Where billing's plan-limits caches listen (limit overrides change them); null without Redis. */
  limitsRedis: Redis | null;
  config: Pick<
    TenantsConfig,
    | "ORGANIZATION_DELETION_GRACE_SECONDS"
    | "EXPORT_DIR"
    | "EXPORT_LINK_TTL_SECONDS"
    | "INTERNAL_CONTEXT_SECRET"
  >;
}

export interface Context extends TenantContext {
  readonly loaders: OrganizationLoaders;
  readonly services: TenantsServices;
  /** The organization the request's Host names, as the gateway resolved and signed it. */
  readonly hostTenantId: string | null;
  /** A client scoped to an organization this request creates (createOrganization). */
  newTenant(tenantId: string): TenantClient;
  /** Public, pre-login lookups across tenants (directory.ts): public fields of ACTIVE organizations. */
  readonly directory: Directory;
  /** Platform administration's one audited path across tenants (platform/cross-tenant.ts). */
  readonly platform: PlatformAccess;
  /** deleteMyAccount's work across the user's organizations (gdpr/account-deletion.ts). */
  readonly accountDeletion: AccountDeletion;
}

export function contextFactory(services: TenantsServices) {
  return (prisma: PrismaClient, logger: Logger, crossTenant: PrismaClient) => {
    const directory = createDirectory(crossTenant);
    const platform = createPlatformAccess(crossTenant);
    const accountDeletion = createAccountDeletion(crossTenant);
    return (internal: InternalContext): Context => {
      const ctx = tenantContext(internal, logger, prisma);
      return {
        ...ctx,
        loaders: deferred(() => createOrganizationLoaders(ctx.db)),
        services,
        hostTenantId: internal.hostTenantId ?? null,
        newTenant: (tenantId) => tenantClient(prisma, tenantId),
        directory,
        platform,
        accountDeletion,
      };
    };
  };
}
