export type {
  Activity,
  AuditEntry,
  BillingCustomer,
  BillingEvent,
  Comment,
  CustomDomain,
  Invitation,
  Membership,
  Organization,
  OrganizationDomain,
  OrganizationExport,
  OrganizationSlug,
  Plan,
  Project,
  StripeCustomer,
  Subscription,
  Task,
  UsageRecord,
  User,
  UserEmail,
} from "../generated/client.ts";
export { Prisma } from "../generated/client.ts";
export {
  ActivityTargetType,
  ActivityVerb,
  AuditActorType,
  BillingInterval,
  OrganizationExportStatus,
  OrganizationStatus,
  ProjectStatus,
  Role,
  SubscriptionStatus,
  TaskPriority,
  TaskStatus,
} from "../generated/enums.ts";
export {
  type AuditActor,
  type AuditEntryInput,
  AuditScope,
  appendAuditEntries,
} from "./audit.ts";
export {
  createPrismaClient,
  isUniqueViolation,
  type PrismaClient,
  type PrismaClientOptions,
} from "./client.ts";
export { isUuid, isUuidV7, newId } from "./ids.ts";
export { ensureDatabase, migrate } from "./migrate.ts";
export { emitEvent, emitEvents, type OutboxEventInput, type OutboxWriter } from "./outbox.ts";
export {
  APP_ROLE,
  CROSS_TENANT_ROLE,
  type DatabaseRole,
  databaseRoleUrls,
  roleUrl,
} from "./roles.ts";
export {
  type FindManySqlArgs,
  forTenant,
  type SqlModel,
  scopeArgs,
  setTenantSql,
  TENANT_COLUMN,
  type TenantClient,
  type TenantSql,
  type TenantTransaction,
  TenantViolationError,
  tenantClient,
} from "./tenant.ts";
