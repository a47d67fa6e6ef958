import type { PlanLimitsSource } from "@app/billing";
import { deferred, type InternalContext, type Logger, type TenantContext, tenantContext } from "@app/common";
import type { PrismaClient } from "@app/db";
import type { LoginLimiter } from "./modules/accounts/login-limiter.ts";
import type { TokenSettings } from "./modules/accounts/tokens.ts";
import type { SessionRevocations } from "./modules/sessions/revocations.ts";
import { createUserLoaders, type UserLoaders } from "./modules/users/users.loaders.ts";

/** Lifetimes of what identity e-mails. */
export interface AccountSettings {
  emailVerificationTtlSeconds: number;
  passwordResetTtlSeconds: number;
  invitationTtlSeconds: number;
}

/** What every request shares: built once by app.ts. */
export interface IdentityServices {
  tokens: TokenSettings;
  settings: AccountSettings;
  limiter: LoginLimiter;
  /** Password-reset requests per address and per client (each may send an e-mail). */
  resetLimiter: LoginLimiter;
  revocations: SessionRevocations;
  /** The organization's plan limits (seats), cached; billing invalidates them on a subscription change. */
  planLimits: PlanLimitsSource;
}

export interface Context extends TenantContext, IdentityServices {
  readonly loaders: UserLoaders;
  /**
   * The cross-tenant role's client, for the accounts, sessions and invitation-acceptance code: global tables (users, e-mails,
   * tokens, sessions), sign-up and log-in, which run before a tenant exists and read the user's
   * memberships in every organization.
   */
  readonly accounts: PrismaClient;
  /** The caller's IP address, as the gateway signed it; `unknown` when it could not tell. */
  readonly clientAddress: string;
}

export function contextFactory(
  prisma: PrismaClient,
  logger: Logger,
  services: IdentityServices,
  crossTenant: PrismaClient,
) {
  return (internal: InternalContext): Context => {
    const ctx = tenantContext(internal, logger, prisma);
    return {
      ...ctx,
      ...services,
      accounts: crossTenant,
      clientAddress: internal.clientAddress ?? "unknown",
      loaders: deferred(() => createUserLoaders(ctx.db)),
    };
  };
}
