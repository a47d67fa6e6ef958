import {
  type BaseContext,
  baseContext,
  deferred,
  type InternalContext,
  type Logger,
  requirePrincipal,
} from "@app/common";
import { type PrismaClient, type TenantClient, tenantClient } from "@app/db";
import type { TokenSettings } from "./modules/accounts/tokens.ts";
import { createUserLoaders, type UserLoaders } from "./modules/users/users.loaders.ts";

export interface Context extends BaseContext {
  readonly db: TenantClient;
  readonly loaders: UserLoaders;
  /** Raw client for sign-up and log-in only (accounts.service.ts), which run before a tenant exists. */
  readonly accounts: PrismaClient;
  readonly tokens: TokenSettings;
}

export function contextFactory(prisma: PrismaClient, logger: Logger, tokens: TokenSettings) {
  return (internal: InternalContext): Context => {
    const base = baseContext(internal, logger);
    const db = deferred(() => tenantClient(prisma, requirePrincipal(base).tenantId));
    const loaders = deferred(() => createUserLoaders(db, prisma.user));
    return {
      ...base,
      accounts: prisma,
      tokens,
      db,
      loaders,
    };
  };
}
