import type { Prisma } from "../generated/client.ts";

/**
 * The statements prisma/src itself writes for a change, inside the change's transaction (the outbox's
 * rows, the audit entry): raw SQL, where Prisma's client would take several operations, each through
 * its query interpreter. Services never see this door: the tenant-scoped transaction hides raw SQL, and answers
 * this symbol (not exported from the package) with its underlying transaction.
 */
export const RAW_TRANSACTION = Symbol("coditect.rawTransaction");

export interface RawTransaction {
  $queryRaw<T>(query: Prisma.Sql): PromiseLike<T>;
  $executeRaw(query: Prisma.Sql): PromiseLike<number>;
  /** Tells the mutation's audit scope that the transaction wrote (its entry commits with it). */
  noteWrite(model: string): void;
  /**
   * Throws unless rows of `tenantId` may be written here: a tenant-scoped transaction writes its own
   * tenant's only (raw SQL passes no tenant filter); a raw client's transaction writes any tenant's.
   */
  checkTenant(tenantId: string): void;
}

type Candidate = Partial<RawTransaction> & { $connect?: unknown; [RAW_TRANSACTION]?: RawTransaction };

/**
 * The raw side of a transaction: a tenant-scoped transaction's (through the symbol), or a raw client's
 * interactive transaction as it is. Anything else (a client outside a transaction) is refused: the
 * statements must commit or roll back with the change.
 */
export function rawTransactionOf(tx: object): RawTransaction {
  const candidate = tx as Candidate;
  const door = candidate[RAW_TRANSACTION];
  if (door) return door;
  // Prisma's transaction client hides connection control ($connect...); a client has it.
  if (typeof candidate.$queryRaw === "function" && candidate.$connect === undefined) {
    return {
      $queryRaw: (query) => candidate.$queryRaw!(query),
      $executeRaw: (query) => candidate.$executeRaw!(query),
      noteWrite() {},
      checkTenant() {},
    };
  }
  throw new TypeError("this needs the transaction of the change: call it inside $transaction");
}
