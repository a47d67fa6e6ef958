import type { AuditActorType } from "../generated/enums.ts";
import { newId } from "./ids.ts";

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

/** One row of `audit_entries`, as {@link auditRows} builds it. */
interface AuditRow {
  tenantId: string;
  id: string;
  actorType: AuditActorType;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  requestId: string;
}

/** The delegate an audit write needs: a transaction of the tenant or the cross-tenant client. */
export interface AuditWriter {
  auditEntry: {
    create(args: { data: AuditRow; select: { id: true } }): PromiseLike<unknown>;
    createMany(args: { data: AuditRow[] }): PromiseLike<unknown>;
  };
}

/** Rows for `auditEntry.createMany`, ids in order (UUIDv7), so a page of entries keeps its order. */
export function auditRows(entries: readonly AuditEntryInput[]): AuditRow[] {
  return entries.map((entry) => ({
    tenantId: entry.tenantId,
    id: newId(),
    actorType: entry.actor.type,
    actorId: entry.actor.id,
    action: entry.action,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId ?? null,
    requestId: entry.requestId,
  }));
}

/**
 * Appends entries in one statement, inside the caller's transaction (so they commit with the change).
 * With a tenant's client every entry must be for that tenant (the client refuses another); with the
 * cross-tenant client, one call can write to many tenants' logs (a platform administrator's page).
 */
export async function appendAuditEntries(tx: AuditWriter, entries: readonly AuditEntryInput[]) {
  const rows = auditRows(entries);
  // A mutation's own entry, the common case, is a `create`: Prisma keeps the query plan of a create
  // but compiles every createMany anew (0.4 ms of CPU each, a twentieth of a createTask in projects).
  if (rows.length === 1) await tx.auditEntry.create({ data: rows[0]!, select: { id: true } });
  else if (rows.length > 1) await tx.auditEntry.createMany({ data: rows });
}

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
    // A mutation that appends its own entry (appendAuditEntries on the tenant client) gets no second.
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
