import { appError, ErrorCode, forbidden, notFound } from "@app/common";
import { isUniqueViolation, type Prisma, type TenantTransaction } from "@app/db";

/** The client an interactive transaction of the tenant-scoped client hands out. */
export type Tx = TenantTransaction;

/** CONFLICT for a stale version; `currentVersion` tells the client what to reload to. */
export function staleVersion(what: string, id: string, currentVersion: number) {
  return appError(
    ErrorCode.CONFLICT,
    `${what} ${id} was changed by someone else since the version you read; it is now at version ${currentVersion}. Reload and try again.`,
    { currentVersion },
  );
}

/** The row, checked for the version the client read; NOT_FOUND when missing. */
export function checkVersion<T extends { id: string; version: number }>(
  what: string,
  id: string,
  row: T | null,
  version: number,
): T {
  if (!row) throw notFound(what, id);
  if (row.version !== version) throw staleVersion(what, id, row.version);
  return row;
}

/** Writes to a soft-deleted row are refused as if it were gone, with a hint. */
export function deletedError(what: string, id: string) {
  return appError(ErrorCode.NOT_FOUND, `${what} ${id} is deleted; restore it first.`);
}

/** Archived projects are read-only. */
export function archivedError(key: string) {
  return forbidden(`Project ${key} is archived and read-only; unarchive it first.`);
}

/**
 * Runs `attempt` again (a fresh transaction) when it lost a race on a unique key: two cards given one
 * board position, two projects one derived key. The retry reads the winner's row and picks another.
 */
export async function retryOnUniqueViolation<T>(attempt: () => Promise<T>, tries = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= tries || !isUniqueViolation(error)) throw error;
    }
  }
}

const LONG_TEXT_FIELDS = new Set(["description", "body"]);

const comparable = (value: unknown) => (value instanceof Date ? value.toISOString() : value);

/**
 * The small JSON diff of an activity entry: `{ field: { from, to } }` for each listed field that
 * changed; long texts (markdown) only as `{ changed: true }`.
 */
export function diffOf<T extends object>(
  before: T,
  after: T,
  fields: ReadonlyArray<keyof T & string>,
): Prisma.InputJsonObject {
  const diff: Record<string, Prisma.InputJsonValue> = {};
  for (const field of fields) {
    const from = comparable(before[field]);
    const to = comparable(after[field]);
    if (JSON.stringify(from) === JSON.stringify(to)) continue;
    diff[field] = LONG_TEXT_FIELDS.has(field)
      ? { changed: true }
      : ({ from, to } as unknown as Prisma.InputJsonValue);
  }
  return diff;
}

/** The two delegate methods a versioned update needs (`tx.project`, `tx.task`). */
interface VersionedDelegate<R> {
  updateManyAndReturn(args: { where: { id: string; version: number }; data: object }): PromiseLike<R[]>;
  findFirst(args: {
    where: { id: string };
    select: { version: true };
  }): PromiseLike<{ version: number } | null>;
}

/** Applies `data` if the row is still at `version`; CONFLICT when someone else got there first. */
export async function updateVersioned<R>(
  delegate: VersionedDelegate<R>,
  what: string,
  id: string,
  version: number,
  data: object,
): Promise<R> {
  const [row] = await delegate.updateManyAndReturn({
    where: { id, version },
    data: { ...data, version: { increment: 1 } },
  });
  if (row) return row;
  const current = await delegate.findFirst({ where: { id }, select: { version: true } });
  if (!current) throw notFound(what, id);
  throw staleVersion(what, id, current.version);
}
