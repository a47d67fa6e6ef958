import { type Activity, type Comment, Prisma, type Task } from "../generated/client.ts";
import { type AuditScope, appendAuditEntries, isWrite } from "./audit.ts";
import type { PrismaClient } from "./client.ts";
import { isUuid } from "./ids.ts";
import { RAW_TRANSACTION, type RawTransaction } from "./raw-transaction.ts";
import { asTenant, isTenantAware, notAsTenant, type TenantScope } from "./tenant-pool.ts";

/**
 * Tenant-owned models and the column that holds their tenant. Organization is the tenant itself, keyed
 * by `id`; global models (User, UserEmail, Plan) are absent and refused. OrganizationSlug
 * (like CustomDomain) is a global lookup table, but each row belongs to a tenant: scoped, a tenant sees and
 * changes only its own slugs and domains (sign-up claims slugs through the raw client). A test asserts that every model with a
 * `tenantId` field is listed here, so a new model cannot be missed.
 */
export const TENANT_COLUMN = {
  Organization: "id",
  OrganizationSlug: "tenantId",
  OrganizationDomain: "tenantId",
  OrganizationExport: "tenantId",
  CustomDomain: "tenantId",
  Membership: "tenantId",
  Invitation: "tenantId",
  // Global (identity reads it through the raw client); scoped, a tenant would see only its own sessions.
  RefreshTokenFamily: "tenantId",
  ApiKey: "tenantId",
  Project: "tenantId",
  Task: "tenantId",
  Comment: "tenantId",
  Activity: "tenantId",
  Subscription: "tenantId",
  BillingCustomer: "tenantId",
  BillingEvent: "tenantId",
  UsageRecord: "tenantId",
  // Global lookup (customer -> tenant) for webhooks, read through the raw client; scoped, a tenant sees its own.
  StripeCustomer: "tenantId",
  OutboxEvent: "tenantId",
  OutboxSequence: "tenantId",
  AuditEntry: "tenantId",
  RegisteredOperation: "tenantId",
} as const satisfies Partial<Record<Prisma.ModelName, string>>;

/** Thrown when a tenant-scoped operation would leave its tenant. Always a bug in the caller. */
export class TenantViolationError extends Error {
  override name = "TenantViolationError";
}

type Args = Record<string, unknown>;

function assertTenantId(tenantId: unknown): asserts tenantId is string {
  if (!isUuid(tenantId)) {
    throw new TenantViolationError(`tenant id is missing or malformed: ${JSON.stringify(tenantId ?? null)}`);
  }
}

/** A value the caller set for the tenant column must be exactly our tenant; anything else is refused. */
function checkTenantValue(model: string, column: string, value: unknown, tenantId: string): void {
  if (value !== undefined && value !== tenantId) {
    throw new TenantViolationError(`${model}.${column} names another tenant than the scoped one`);
  }
}

/**
 * `where` filters: pin the tenant column. A different tenant id is refused; a filter on the column
 * (`{ in: [...] }`, as entity loaders send for organizations) is kept and AND-ed with the pin, so it can
 * only narrow the result within the tenant.
 */
function scopeWhere(model: string, column: string, where: unknown, tenantId: string): Args {
  const scoped: Args = { ...((where as Args | undefined) ?? {}) };
  const current = scoped[column];
  if (current !== null && typeof current === "object") {
    const and = scoped.AND === undefined ? [] : Array.isArray(scoped.AND) ? scoped.AND : [scoped.AND];
    scoped.AND = [...and, { [column]: current }];
  } else {
    checkTenantValue(model, column, current, tenantId);
  }
  for (const [key, value] of Object.entries(scoped)) {
    // Compound unique inputs such as `tenantId_id: { tenantId, id }` carry the column too.
    if (key.includes("_") && value && typeof value === "object" && column in (value as Args)) {
      checkTenantValue(model, column, (value as Args)[column], tenantId);
    }
  }
  scoped[column] = tenantId;
  return scoped;
}

const scalarFieldCache = new Map<string, ReadonlySet<string>>();

/** The model's scalar fields, from the generated client (`Prisma.<Model>ScalarFieldEnum`). */
function scalarFields(model: string): ReadonlySet<string> {
  let fields = scalarFieldCache.get(model);
  if (!fields) {
    const values = (Prisma as unknown as Record<string, Record<string, string> | undefined>)[
      `${model}ScalarFieldEnum`
    ];
    if (!values) throw new TenantViolationError(`${model}: no field list in the generated client`);
    fields = new Set(Object.values(values));
    scalarFieldCache.set(model, fields);
  }
  return fields;
}

/**
 * Write data may set columns only, and never another tenant. Nested writes (relation fields) are refused:
 * the extension does not see inside them, and a nested `connect` rewrites the connected row's foreign key,
 * tenant column included, so it would pull another tenant's row into this one (or push this one out).
 */
function checkWriteData(model: string, column: string, data: unknown, tenantId: string): void {
  if (!data || typeof data !== "object") return;
  const fields = scalarFields(model);
  for (const [key, value] of Object.entries(data as Args)) {
    if (value !== undefined && !fields.has(key)) {
      throw new TenantViolationError(
        `${model}.${key}: nested writes are not supported on a tenant-scoped client; write each model on its own`,
      );
    }
  }
  checkTenantValue(model, column, (data as Args)[column], tenantId);
}

/** Row data for creates: fill the tenant column, refuse another tenant's. */
function scopeData(model: string, column: string, data: unknown, tenantId: string): Args {
  if (!data || typeof data !== "object") throw new TenantViolationError(`${model}: data is missing`);
  checkWriteData(model, column, data, tenantId);
  return { ...(data as Args), [column]: tenantId };
}

const WHERE_OPERATIONS = new Set([
  "findMany",
  "findFirst",
  "findFirstOrThrow",
  "findUnique",
  "findUniqueOrThrow",
  "count",
  "aggregate",
  "groupBy",
  "update",
  "updateMany",
  "updateManyAndReturn",
  "delete",
  "deleteMany",
  "upsert",
]);

/** Scopes one operation's arguments to the tenant; exported for unit tests of the rewriting rules. */
export function scopeArgs(model: string, operation: string, args: Args | undefined, tenantId: string): Args {
  assertTenantId(tenantId);
  const column = TENANT_COLUMN[model as keyof typeof TENANT_COLUMN];
  if (!column) {
    // Global models (users, e-mail lookups, plans) are reached only through the named cross-tenant
    // paths, which get the one delegate they need: a tenant's client changing any user is a leak.
    throw new TenantViolationError(`${model} is global: a tenant-scoped client does not reach it`);
  }
  const scoped: Args = { ...(args ?? {}) };
  if (WHERE_OPERATIONS.has(operation)) scoped.where = scopeWhere(model, column, scoped.where, tenantId);
  switch (operation) {
    case "create":
      scoped.data = scopeData(model, column, scoped.data, tenantId);
      break;
    case "createMany":
    case "createManyAndReturn": {
      const rows = Array.isArray(scoped.data) ? scoped.data : [scoped.data];
      scoped.data = rows.map((row) => scopeData(model, column, row, tenantId));
      break;
    }
    case "update":
    case "updateMany":
    case "updateManyAndReturn":
      checkWriteData(model, column, scoped.data, tenantId);
      break;
    case "upsert":
      scoped.create = scopeData(model, column, scoped.create, tenantId);
      checkWriteData(model, column, scoped.update, tenantId);
      break;
    default:
      if (!WHERE_OPERATIONS.has(operation)) {
        // A Prisma upgrade that adds an operation must be handled here before it can be used.
        throw new TenantViolationError(`${model}.${operation} is not supported on a tenant-scoped client`);
      }
  }
  return scoped;
}

/**
 * The statement that names the tenant of the current transaction for row-level security: a literal, as
 * SET takes no parameters and Citus propagates only `SET LOCAL` to its workers, built from a validated
 * uuid, so nothing but a uuid can reach it.
 */
export function setTenantSql(tenantId: string): string {
  assertTenantId(tenantId);
  return `SET LOCAL app.tenant_id = '${tenantId}'`;
}

/**
 * Limits of the tenant client's interactive transactions, a lone operation's and a service's alike,
 * unless the service names its own: wait up to 10 s for a pooled connection and run up to 60 s.
 * Prisma's defaults, 2 s and 5 s, failed writes that merely queued on a busy pool under overload
 * (`Unable to start a transaction in the given time`, bench/subscriptions.ts at 100 mutations/s): a
 * client is better served by a slow answer than by an error for work that would have succeeded.
 */
const TRANSACTION_LIMITS = { maxWait: 10_000, timeout: 60_000 };

/**
 * Reads a lone operation may send through the pool's read-only tenant transaction (tenant-pool.ts), with
 * no Prisma transaction around them.
 */
const LONE_READS = new Set(["findMany", "findFirst", "findFirstOrThrow", "count", "aggregate", "groupBy"]);

/**
 * A lone findUnique is asked as findFirst: Prisma batches the findUniques of one tick from all callers
 * into one query, sent from the first caller's async context, so in the pool it could run as another
 * tenant (and find nothing).
 */
const LONE_UNIQUE_READS: Record<string, string> = {
  findUnique: "findFirst",
  findUniqueOrThrow: "findFirstOrThrow",
};

/** findUnique's `where` as findFirst takes it: compound keys (`tenantId_id: { tenantId, id }`) AND-ed. */
function uniqueToFirst(where: Args): Args {
  const first: Args = {};
  const and: unknown[] =
    where.AND === undefined ? [] : Array.isArray(where.AND) ? [...where.AND] : [where.AND];
  for (const [key, value] of Object.entries(where)) {
    // Field names are camelCase; only the generated compound keys have an underscore.
    if (key.includes("_") && value && typeof value === "object") and.push(value);
    else if (key !== "AND") first[key] = value;
  }
  return and.length > 0 ? { ...first, AND: and } : first;
}

/** What a transaction needs of the client it runs on to name the tenant itself. */
interface SetsTenant {
  $executeRawUnsafe(query: string): PromiseLike<number>;
}

/**
 * Runs `callback` in an interactive transaction that names the tenant before anything else: a client
 * from `createPrismaClient` does it in the BEGIN message (tenant-pool.ts), any other with a statement of
 * its own. The callback runs outside the tenant scope, so it can use other clients as they are.
 */
function tenantTransaction<Tx extends SetsTenant, R>(
  setTenant: string,
  begin: (callback: (tx: Tx) => Promise<R>) => PromiseLike<R>,
  callback: (tx: Tx) => Promise<R>,
): Promise<R> {
  const scope: TenantScope = { setTenant, applied: false };
  return asTenant(scope, () =>
    begin(async (tx) => {
      if (!scope.applied) await tx.$executeRawUnsafe(setTenant);
      return notAsTenant(() => callback(tx));
    }),
  );
}

/** A model's delegate on a client: `OrganizationSlug` -> `organizationSlug`. */
const delegateOf = (client: unknown, model: string) =>
  (client as Record<string, Record<string, (args: unknown) => Promise<unknown>>>)[
    model.charAt(0).toLowerCase() + model.slice(1)
  ]!;

/** Prisma's own parameters of a query hook; `transaction` is set inside a batch or interactive one. */
type InternalParams = { __internalParams?: { transaction?: unknown } };

/**
 * Prisma Client extension that confines every operation on tenant-owned models to one tenant: it pins
 * the tenant in `where` and `data`, and throws on a missing or malformed tenant id or on arguments that
 * name another tenant. It fails closed: there is no way to build it without a valid tenant id.
 *
 * Row-level security is the second line: an operation outside a transaction runs in a transaction of its
 * own that first sets the tenant (`SET LOCAL app.tenant_id`). A lone read on a client from
 * `createPrismaClient` goes straight to the pool, which wraps it in `BEGIN READ ONLY; SET LOCAL ...`,
 * the query, COMMIT on one connection; a write, or any operation on another client, gets an interactive
 * transaction (BEGIN with the SET, the operation, COMMIT). Inside a transaction the tenant client set the tenant when the transaction
 * began (see `tenantClient`), so the operation runs as it is.
 *
 * It sees top-level operations only, so nested writes are refused; nested reads (`include`, relation
 * filters) follow foreign keys that include `tenant_id` and cannot leave the tenant.
 */
export function forTenant(tenantId: string, audit?: AuditScope) {
  const setTenant = setTenantSql(tenantId);
  return Prisma.defineExtension((client) => {
    const loneReads = isTenantAware(client);
    return client.$extends({
      name: "forTenant",
      query: {
        $allModels: {
          $allOperations({ model, operation, args, query, ...internal }) {
            const scopedArgs = scopeArgs(model, operation, args as Args, tenantId);
            const write = audit !== undefined && isWrite(operation);
            if (write) audit.noteWrite(model, scopedArgs);
            if ((internal as InternalParams).__internalParams?.transaction) return query(scopedArgs);
            if (loneReads && LONE_READS.has(operation)) {
              return asTenant({ setTenant, applied: false }, () => query(scopedArgs));
            }
            const first = LONE_UNIQUE_READS[operation];
            if (loneReads && first) {
              // The base client: the arguments are scoped already.
              const args = { ...scopedArgs, where: uniqueToFirst(scopedArgs.where as Args) };
              return asTenant({ setTenant, applied: false }, () => delegateOf(client, model)[first]!(args));
            }
            // A lone write of a mutation carries the mutation's audit entry in its transaction.
            const entry = write ? audit.take() : null;
            // An interactive transaction, not a batch one: Prisma's batch transactions took 10 ms where
            // this takes 2.6 ms for the same statements (bench/rls.ts). The operation runs on the
            // transaction's own delegate with the arguments already scoped.
            return tenantTransaction(
              setTenant,
              (callback) => client.$transaction(callback, TRANSACTION_LIMITS),
              async (tx: SetsTenant) => {
                const result = await delegateOf(tx, model)[operation]!(scopedArgs);
                if (entry) await appendAuditEntries(tx, [entry]);
                return result;
              },
            );
          },
        },
      },
    });
  });
}

const RAW_METHODS = new Set([
  "$queryRaw",
  "$queryRawUnsafe",
  "$executeRaw",
  "$executeRawUnsafe",
  "$queryRawTyped",
  "$extends",
  "$connect",
  "$disconnect",
]);

/** Tables `$findManySql` reads, by model; callers' fragments name the table `t`. */
const SQL_TABLES = { Task: "tasks", Comment: "comments", Activity: "activities" } as const;
type SqlRows = { Task: Task; Comment: Comment; Activity: Activity };
export type SqlModel = keyof typeof SQL_TABLES;

/** Arguments of {@link TenantSql.$findManySql}. */
export interface FindManySqlArgs {
  /** Conditions on the table aliased `t`; the tenant filter is AND-ed outside them. */
  where: Prisma.Sql;
  /** ORDER BY expressions on `t`. */
  orderBy: Prisma.Sql;
  /** Rows to return; per partition when `partitionBy` is given. */
  take: number;
  /** One query for many parents: the first `take` rows for each value of this expression. */
  partitionBy?: Prisma.Sql;
}

/** What the tenant-scoped client offers beyond Prisma's API. */
export interface TenantSql {
  /**
   * Rows of one tenant-owned model chosen by hand-written SQL, for what Prisma's query API cannot say
   * (full-text search with an index, the first N rows per parent in one query). The tenant filter is
   * pinned outside the caller's fragment, and rows come back in the model's shape, as findMany returns
   * them. Fragments are `Prisma.sql` templates: values are always parameters.
   */
  $findManySql<M extends SqlModel>(model: M, args: FindManySqlArgs): Promise<SqlRows[M][]>;
}

// Our columns are the snake_case of the fields (`@map`); a test compares the result with findMany's.
const camel = (column: string) => column.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

async function findManySql(
  run: (query: Prisma.Sql) => PromiseLike<Record<string, unknown>[]>,
  tenantId: string,
  model: SqlModel,
  args: FindManySqlArgs,
): Promise<unknown[]> {
  const table = SQL_TABLES[model];
  if (!table) throw new TenantViolationError(`${model} cannot be read with $findManySql`);
  if (!Number.isInteger(args.take) || args.take < 0) throw new RangeError("take must be a whole number");
  const from = Prisma.sql`FROM ${Prisma.raw(`"${table}"`)} AS t WHERE t."tenant_id" = ${tenantId}::uuid AND (${args.where})`;
  const query = args.partitionBy
    ? Prisma.sql`SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY ${args.partitionBy} ORDER BY ${args.orderBy}) AS "_rank" ${from}) AS t WHERE t."_rank" <= ${args.take} ORDER BY ${args.partitionBy}, ${args.orderBy}`
    : Prisma.sql`SELECT t.* ${from} ORDER BY ${args.orderBy} LIMIT ${args.take}`;
  const rows = await run(query);
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [column, value] of Object.entries(row)) if (column !== "_rank") out[camel(column)] = value;
    return out;
  });
}

/** What the guard needs of the scoped client or of its transaction client. */
interface RawClient extends SetsTenant {
  $queryRaw<T>(query: Prisma.Sql): Prisma.PrismaPromise<T>;
  $executeRaw(query: Prisma.Sql): Prisma.PrismaPromise<number>;
  $executeRawUnsafe(query: string): Prisma.PrismaPromise<number>;
  $transaction(arg: unknown, options?: unknown): Promise<unknown>;
}

/** Where the guarded client runs: inside a transaction, or outside one with or without lone reads. */
type GuardedAt = "transaction" | "lone reads" | "no lone reads";

/**
 * Hides raw SQL and connection control, also on the client an interactive transaction hands out, and
 * adds `$findManySql`, bound to the tenant. Every transaction begins by setting the tenant for
 * row-level security; `$findManySql` outside one is a lone read (model operations: see `forTenant`).
 */
function guard<T extends object>(
  client: T,
  tenantId: string,
  at: GuardedAt,
  audit: AuditScope | undefined,
): T {
  const setTenant = setTenantSql(tenantId);
  const raw = client as unknown as RawClient;
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === RAW_TRANSACTION) {
        if (at !== "transaction") return undefined;
        const door: RawTransaction = {
          $queryRaw: (query) => raw.$queryRaw(query),
          $executeRaw: (query) => raw.$executeRaw(query),
          noteWrite: (model) => audit?.noteWrite(model, undefined),
          checkTenant: (rowTenantId) => {
            if (rowTenantId !== tenantId) {
              throw new TenantViolationError(
                `this transaction belongs to tenant ${tenantId} and cannot write rows of ${rowTenantId}`,
              );
            }
          },
        };
        return door;
      }
      if (typeof property === "string" && RAW_METHODS.has(property)) {
        return () => {
          throw new TenantViolationError(`${property} is not available on a tenant-scoped client`);
        };
      }
      if (property === "$findManySql") {
        const run = (query: Prisma.Sql) =>
          at === "transaction"
            ? raw.$queryRaw<Record<string, unknown>[]>(query)
            : at === "lone reads"
              ? asTenant({ setTenant, applied: false }, () => raw.$queryRaw<Record<string, unknown>[]>(query))
              : tenantTransaction(
                  setTenant,
                  (callback) =>
                    raw.$transaction(callback, TRANSACTION_LIMITS) as Promise<Record<string, unknown>[]>,
                  (tx: RawClient) => tx.$queryRaw<Record<string, unknown>[]>(query),
                );
        return (model: SqlModel, args: FindManySqlArgs) => findManySql(run, tenantId, model, args);
      }
      const value = Reflect.get(target, property, receiver);
      if (property === "$transaction" && typeof value === "function") {
        return (arg: unknown, options?: unknown) => {
          if (typeof arg === "function") {
            return tenantTransaction(
              setTenant,
              (callback) => value.call(target, callback, { ...TRANSACTION_LIMITS, ...(options as object) }),
              async (tx: RawClient) => {
                const result = await arg(guard(tx, tenantId, "transaction", audit));
                // The mutation's audit entry commits with its first transaction that wrote.
                const entry = audit?.wrote ? audit.take() : null;
                if (entry) await appendAuditEntries(tx, [entry]);
                return result;
              },
            );
          }
          if (!Array.isArray(arg)) throw new TypeError("$transaction takes a function or an array");
          // Prisma sends a batch from a later tick, outside this async context: the SET goes first in it.
          return (
            value.call(target, [raw.$executeRawUnsafe(setTenant), ...arg], options) as Promise<unknown[]>
          ).then((results) => results.slice(1));
        };
      }
      return value;
    },
  });
}

const scopedClient = (prisma: PrismaClient, tenantId: string, audit?: AuditScope) =>
  prisma.$extends(forTenant(tenantId, audit));
type ScopedClient = ReturnType<typeof scopedClient>;
type HiddenMethods =
  | "$queryRaw"
  | "$queryRawUnsafe"
  | "$executeRaw"
  | "$executeRawUnsafe"
  | "$extends"
  | "$connect"
  | "$disconnect";
type ScopedTransaction = Parameters<Parameters<ScopedClient["$transaction"]>[0]>[0];

/** The client an interactive transaction of a tenant-scoped client hands out. */
export type TenantTransaction = Omit<ScopedTransaction, HiddenMethods> & TenantSql;

interface TenantTransactions {
  $transaction<P extends Prisma.PrismaPromise<unknown>[]>(
    arg: [...P],
    options?: { isolationLevel?: Prisma.TransactionIsolationLevel },
  ): Promise<{ [K in keyof P]: Awaited<P[K]> }>;
  $transaction<R>(
    fn: (tx: TenantTransaction) => Promise<R>,
    options?: { maxWait?: number; timeout?: number; isolationLevel?: Prisma.TransactionIsolationLevel },
  ): Promise<R>;
}

/**
 * The client services use: `prisma.$extends(forTenant(tenantId))` with raw SQL, further extensions and
 * connection control taken away, since raw SQL bypasses the tenant filter; `$findManySql` is the one
 * SQL door, and it pins the tenant itself. With an `audit` scope (the subgraphs' contexts pass one), each
 * mutation's first writing transaction also appends its audit entry (prisma/src/audit.ts).
 */
export function tenantClient(prisma: PrismaClient, tenantId: string, audit?: AuditScope): TenantClient {
  const at = isTenantAware(prisma) ? "lone reads" : "no lone reads";
  return guard(scopedClient(prisma, tenantId, audit), tenantId, at, audit) as unknown as TenantClient;
}

export type TenantClient = Omit<ScopedClient, HiddenMethods | "$transaction"> &
  TenantSql &
  TenantTransactions;
