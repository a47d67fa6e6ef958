import { Prisma } from "../generated/client.ts";
import type { AuditActorType } from "../generated/enums.ts";
import { newId } from "./ids.ts";
import { rawTransactionOf } from "./raw-transaction.ts";

/**
 * The audit log: one entry per mutation (actor, tenant, action, target, time, request id), written in
 * the transaction of the change so that it commits or rolls back with it.
 *
 * Two ways in:
 * - Automatic, for every mutation that writes through the tenant-scoped client: the subgraph server
 *   opens an {@link AuditScope} per mutation field (`begin`), and the client appends the entry to the
 *   first transaction of that mutation that writes (an interactive `$transaction`, or the transaction a
 *   lone write runs in). The target is the first row written (model and id).
 * - Explicit, for changes made elsewhere (the cross-tenant client: sign-up, platform administration):
 *   `appendAuditEntries(tx, entries)` inside the transaction of the change.
 */

/** Who acted. `id` is the user, API key or platform administrator; null for the system. */
export interface AuditActor {
  type: AuditActorType;
  id: string | null;
}

/** One entry to append: the tenant whose log it goes to, and what happened. */
export interface AuditEntryInput {
  tenantId: string;
  actor: AuditActor;
  /** The mutation (`createTask`) or a named change (`organization.suspended`). */
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  requestId: string;
}

/**
 * Appends entries in one raw INSERT, inside the caller's transaction (so they commit with the change;
 * outside a transaction it refuses). Raw SQL because every mutation writes one: through Prisma's client
 * it was a `create` through its query interpreter (docs/BENCHMARKS.md has what that cost `createTask`).
 * With a tenant's transaction every entry must be for that tenant (it refuses another); with the
 * cross-tenant client's, one call can write to many tenants' logs (a platform administrator's page).
 * Ids are UUIDv7 in order, so a page of entries keeps its order.
 */
export async function appendAuditEntries(tx: object, entries: readonly AuditEntryInput[]) {
  const raw = rawTransactionOf(tx);
  for (const entry of entries) raw.checkTenant(entry.tenantId);
  // PostgreSQL takes at most 65,535 parameters a statement (8 a row): a long list goes in chunks.
  for (let start = 0; start < entries.length; start += AUDIT_ROWS_PER_STATEMENT) {
    const chunk = entries.slice(start, start + AUDIT_ROWS_PER_STATEMENT);
    await raw.$executeRaw(Prisma.sql`
      INSERT INTO "audit_entries"
        ("tenant_id", "id", "actor_type", "actor_id", "action", "target_type", "target_id", "request_id")
      VALUES ${Prisma.join(
        chunk.map(
          (entry) =>
            Prisma.sql`(${entry.tenantId}::uuid, ${newId()}::uuid, ${entry.actor.type}::"audit_actor_type", ${entry.actor.id}::uuid, ${entry.action}, ${entry.targetType ?? null}, ${entry.targetId ?? null}, ${entry.requestId})`,
        ),
      )}`);
  }
  // A mutation that appends its own entry on the tenant's transaction gets no second.
  if (entries.length) raw.noteWrite("AuditEntry");
}

const AUDIT_ROWS_PER_STATEMENT = 1_000;

/** Models whose writes are bookkeeping of a change, never its target. */
const NOT_A_TARGET = new Set(["AuditEntry", "OutboxEvent", "OutboxSequence", "Activity"]);

const WRITES = new Set([
  "create",
  "createMany",
  "createManyAndReturn",
  "update",
  "updateMany",
  "updateManyAndReturn",
  "upsert",
  "delete",
  "deleteMany",
]);

/** True for the operations that change rows. */
export function isWrite(operation: string): boolean {
  return WRITES.has(operation);
}

/** The id of the row an operation names, when it names one (`data.id`, `where.id`, compound keys). */
function targetId(args: Record<string, unknown> | undefined): string | null {
  const idColumn = "id";
  if (!args) return null;
  const data = Array.isArray(args.data) ? args.data[0] : (args.data ?? args.create);
  const where = args.where as Record<string, unknown> | undefined;
  const candidates: unknown[] = [
    (data as Record<string, unknown> | undefined)?.[idColumn],
    where?.[idColumn],
  ];
  for (const [key, value] of Object.entries(where ?? {})) {
    if (key.includes("_") && value && typeof value === "object") {
      candidates.push((value as Record<string, unknown>)[idColumn] ?? (value as Record<string, unknown>).id);
    }
  }
  const found = candidates.find((c) => typeof c === "string");
  return typeof found === "string" ? found : null;
}

/**
 * One request's audit state: which mutation field runs now, and whether its entry is written. The
 * subgraph server calls `begin` before each mutation field (they run one after another); the tenant
 * client reports writes (`noteWrite`) and takes the entry (`take`) for the transaction it commits.
 */
export class AuditScope {
  private action: string | null = null;
  private recorded = false;
  private dirty = false;
  private target: { type: string; id: string | null } | null = null;

  constructor(
    readonly tenantId: string,
    readonly actor: AuditActor,
    readonly requestId: string,
  ) {}

  /** A mutation field starts: its first writing transaction gets its entry. */
  begin(action: string): void {
    this.action = action;
    this.recorded = false;
    this.dirty = false;
    this.target = null;
  }

  /** True while a mutation runs whose entry is not written yet. */
  get pending(): boolean {
    return this.action !== null && !this.recorded;
  }

  /** A write the tenant client is about to run: the first one names the target. */
  noteWrite(model: string, args: Record<string, unknown> | undefined): void {
    if (!this.pending) return;
    // A mutation that appended its own entry (appendAuditEntries on the tenant's transaction) gets no second.
    if (model === "AuditEntry") {
      this.recorded = true;
      return;
    }
    this.dirty = true;
    if (!this.target && !NOT_A_TARGET.has(model)) this.target = { type: model, id: targetId(args) };
  }

  /** True when the current mutation has written something not yet recorded. */
  get wrote(): boolean {
    return this.pending && this.dirty;
  }

  /** The entry of the current mutation, once: later transactions of the same mutation add none. */
  take(): AuditEntryInput | null {
    if (!this.pending || !this.action) return null;
    this.recorded = true;
    return {
      tenantId: this.tenantId,
      actor: this.actor,
      action: this.action,
      targetType: this.target?.type ?? null,
      targetId: this.target?.id ?? null,
      requestId: this.requestId,
    };
  }
}
