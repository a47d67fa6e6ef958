export type {
  Membership,
  Organization,
  OrganizationSlug,
  Plan,
  Project,
  Subscription,
  Task,
  User,
  UserEmail,
} from "../generated/client.ts";
export { Prisma } from "../generated/client.ts";
export { OrganizationStatus, Role, SubscriptionStatus } from "../generated/enums.ts";
export { createPrismaClient, type PrismaClient, type PrismaClientOptions } from "./client.ts";
export { isUuid, isUuidV7, newId } from "./ids.ts";
export { ensureDatabase, migrate } from "./migrate.ts";
export { emitEvent, type OutboxEventInput, type OutboxWriter } from "./outbox.ts";
export {
  forTenant,
  scopeArgs,
  TENANT_COLUMN,
  type TenantClient,
  TenantViolationError,
  tenantClient,
} from "./tenant.ts";
