import { deferred, type InternalContext, type Logger, type TenantContext, tenantContext } from "@app/common";
import type { PrismaClient } from "@app/db";
import type { TokenSettings } from "./modules/accounts/tokens.ts";
import { createUserLoaders, type UserLoaders } from "./modules/users/users.loaders.ts";

export interface Context extends TenantContext {
  readonly loaders: UserLoaders;
  /** Raw client for sign-up and log-in only (accounts.service.ts), which run before a tenant exists. */
  readonly accounts: PrismaClient;
  readonly tokens: TokenSettings;
}

export function contextFactory(prisma: PrismaClient, logger: Logger, tokens: TokenSettings) {
  return (internal: InternalContext): Context => {
    const ctx = tenantContext(internal, logger, prisma);
    return {
      ...ctx,
      accounts: prisma,
      tokens,
      loaders: deferred(() => createUserLoaders(ctx.db)),
    };
  };
}
