/**
 * Task lists as SQL: filters, full-text search, four orderings with keyset cursors, and one query for
 * many parents (`$findManySql` pins the tenant and windows per parent). Prisma's query API cannot use
 * the search index (its `search` filter calls to_tsvector without a configuration, which no index can
 * match), so lists are built here, in one place, for every filter.
 */
import { fromZodIssues } from "@app/common";
import { decodeKeysetCursor, keysetCursor, type PageArgs, pageSize } from "@app/common/pagination";
import { text } from "@app/common/validation";
import { type FindManySqlArgs, Prisma, type Task } from "@app/db";
import { z } from "zod";

export const TASK_STATUSES = ["TODO", "IN_PROGRESS", "IN_REVIEW", "DONE", "CANCELED"] as const;
export const TASK_PRIORITIES = ["LOW", "MEDIUM", "HIGH", "URGENT"] as const;

const uuid = z.uuid();
const isoDate = z.iso.datetime({ offset: true });

/** Per ordering: the sort columns (the id last, as tie-breaker), the cursor's key and its SQL values. */
const ORDERINGS = {
  CREATED_AT: {
    // UUIDv7 ids are in creation order; the (tenant_id, project_id, id) index serves it.
    columns: [Prisma.sql`t."id"`],
    key: z.tuple([uuid]),
    keyOf: (task: Task) => [task.id],
    values: (key: unknown[]) => [Prisma.sql`${key[0]}::uuid`],
  },
  DUE_DATE: {
    columns: [Prisma.sql`COALESCE(t."due_date", 'infinity'::timestamptz)`, Prisma.sql`t."id"`],
    key: z.tuple([isoDate.nullable(), uuid]),
    keyOf: (task: Task) => [task.dueDate?.toISOString() ?? null, task.id],
    values: (key: unknown[]) => [
      Prisma.sql`COALESCE(${key[0]}::timestamptz, 'infinity'::timestamptz)`,
      Prisma.sql`${key[1]}::uuid`,
    ],
  },
  PRIORITY: {
    columns: [Prisma.sql`t."priority"`, Prisma.sql`t."id"`],
    key: z.tuple([z.enum(TASK_PRIORITIES), uuid]),
    keyOf: (task: Task) => [task.priority, task.id],
    values: (key: unknown[]) => [Prisma.sql`${key[0]}::task_priority`, Prisma.sql`${key[1]}::uuid`],
  },
  POSITION: {
    // The board: (status, position), the unique (tenant_id, project_id, status, position) index.
    columns: [Prisma.sql`t."status"`, Prisma.sql`t."position"`, Prisma.sql`t."id"`],
    key: z.tuple([z.enum(TASK_STATUSES), z.string().regex(/^[0-9A-Za-z]{1,10000}$/), uuid]),
    keyOf: (task: Task) => [task.status, task.position, task.id],
    values: (key: unknown[]) => [
      Prisma.sql`${key[0]}::task_status`,
      Prisma.sql`${key[1]}::text COLLATE "C"`,
      Prisma.sql`${key[2]}::uuid`,
    ],
  },
} as const;
type OrderField = keyof typeof ORDERINGS;
type Direction = "ASC" | "DESC";

const taskFilter = z
  .object({
    status: z.array(z.enum(TASK_STATUSES)).nullish(),
    assigneeId: z.uuid("must be a user id").nullish(),
    label: text(1, 50).nullish(),
    dueOnOrAfter: isoDate.nullish(),
    dueBefore: isoDate.nullish(),
    search: text(1, 200)
      .transform((search, ctx) => {
        const query = prefixQuery(search);
        if (!query) ctx.addIssue({ code: "custom", message: "must contain a letter or a digit" });
        return query ?? "";
      })
      .nullish(),
    deleted: z.boolean().nullish(),
  })
  .nullish();

const taskOrder = z
  .object({
    field: z.enum(["CREATED_AT", "DUE_DATE", "PRIORITY", "POSITION"]).nullish(),
    direction: z.enum(["ASC", "DESC"]).nullish(),
  })
  .nullish();

/**
 * A search string as a tsquery: every word (letters and digits) must match the start of a word of the
 * title or description (`'depl':* & 'prod':*`). Only letters and digits reach the tsquery syntax.
 */
export function prefixQuery(search: string): string | null {
  const words = search
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu)
    ?.slice(0, 16);
  return words?.length ? words.map((word) => `'${word}':*`).join(" & ") : null;
}

/**
 * The full-text condition on `t`. Its left side is exactly the expression of the tasks_search_idx index
 * (migration 20261123020000), or PostgreSQL cannot use the index.
 */
export function searchCondition(tsquery: string): Prisma.Sql {
  return Prisma.sql`to_tsvector('simple'::regconfig, t."title" || ' ' || t."description") @@ to_tsquery('simple'::regconfig, ${tsquery})`;
}

/** Validated, JSON-able arguments of a task list: also the DataLoader key of a page. */
export interface TaskListArgs {
  /** Rows to read: the page size plus one, which only says whether there is more. */
  take: number;
  field: OrderField;
  direction: Direction;
  after: unknown[] | null;
  status: string[] | null;
  assigneeId: string | null;
  label: string | null;
  dueOnOrAfter: string | null;
  dueBefore: string | null;
  tsquery: string | null;
  deleted: boolean;
}

export type TaskListInput = PageArgs & { filter?: unknown; orderBy?: unknown };

export function parseTaskListArgs(args: TaskListInput): TaskListArgs {
  const first = pageSize({ first: args.first ?? 50 });
  const filter = taskFilter.safeParse(args.filter);
  if (!filter.success) throw fromZodIssues(filter.error.issues, "filter");
  const order = taskOrder.safeParse(args.orderBy);
  if (!order.success) throw fromZodIssues(order.error.issues, "orderBy");
  const field = order.data?.field ?? "CREATED_AT";
  const direction = order.data?.direction ?? "ASC";
  const f = filter.data ?? {};
  return {
    take: first + 1,
    field,
    direction,
    after: args.after ? decodeKeysetCursor(args.after, `${field}:${direction}`, ORDERINGS[field].key) : null,
    status: f.status?.length ? [...new Set(f.status)].sort() : null,
    assigneeId: f.assigneeId ?? null,
    label: f.label ?? null,
    dueOnOrAfter: f.dueOnOrAfter ?? null,
    dueBefore: f.dueBefore ?? null,
    tsquery: f.search ?? null,
    deleted: f.deleted ?? false,
  };
}

/** The cursor of a row under the list's ordering. */
export function taskCursor(args: Pick<TaskListArgs, "field" | "direction">) {
  const { keyOf } = ORDERINGS[args.field];
  return (task: Task) => keysetCursor(`${args.field}:${args.direction}`, keyOf(task));
}

/** Whose tasks: a project's, or a user's (then only in live projects). */
export type TaskScope = "project" | "assignee";

const SCOPE_COLUMN: Record<TaskScope, Prisma.Sql> = {
  project: Prisma.sql`t."project_id"`,
  assignee: Prisma.sql`t."assignee_id"`,
};

/** The `$findManySql` arguments of one list for many parents (the first `take` rows of each). */
export function taskListQuery(scope: TaskScope, parentIds: string[], args: TaskListArgs): FindManySqlArgs {
  const column = SCOPE_COLUMN[scope];
  const ordering = ORDERINGS[args.field];
  const dir = Prisma.raw(args.direction);
  const conditions: Prisma.Sql[] = [
    parentIds.length === 1
      ? Prisma.sql`${column} = ${parentIds[0]}::uuid`
      : Prisma.sql`${column} = ANY(${parentIds}::uuid[])`,
    args.deleted ? Prisma.sql`t."deleted_at" IS NOT NULL` : Prisma.sql`t."deleted_at" IS NULL`,
  ];
  if (scope === "assignee") {
    // Same tenant, same shard: a co-located join on Citus.
    conditions.push(Prisma.sql`EXISTS (SELECT 1 FROM "projects" AS p WHERE p."tenant_id" = t."tenant_id"
      AND p."id" = t."project_id" AND p."deleted_at" IS NULL)`);
  }
  if (args.status) conditions.push(Prisma.sql`t."status" = ANY(${args.status}::task_status[])`);
  if (args.assigneeId) conditions.push(Prisma.sql`t."assignee_id" = ${args.assigneeId}::uuid`);
  if (args.label) conditions.push(Prisma.sql`t."labels" @> ARRAY[${args.label}]::text[]`);
  if (args.dueOnOrAfter) conditions.push(Prisma.sql`t."due_date" >= ${args.dueOnOrAfter}::timestamptz`);
  if (args.dueBefore) conditions.push(Prisma.sql`t."due_date" < ${args.dueBefore}::timestamptz`);
  if (args.tsquery) conditions.push(searchCondition(args.tsquery));
  if (args.after) {
    const op = Prisma.raw(args.direction === "ASC" ? ">" : "<");
    conditions.push(
      Prisma.sql`(${Prisma.join(ordering.columns)}) ${op} (${Prisma.join(ordering.values(args.after))})`,
    );
  }
  return {
    where: Prisma.join(conditions, " AND "),
    orderBy: Prisma.join(
      ordering.columns.map((c) => Prisma.sql`${c} ${dir}`),
      ", ",
    ),
    take: args.take,
    partitionBy: parentIds.length > 1 ? column : undefined,
  };
}
