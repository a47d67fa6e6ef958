import { z } from "zod";
import { badUserInput } from "./errors.ts";

/** Relay cursors are opaque: base64url of the row id (UUIDv7, so id order is creation order). */
export function encodeCursor(id: string): string {
  return Buffer.from(id, "utf8").toString("base64url");
}

const uuid = z.uuid();

export function decodeCursor(cursor: string, field = "after"): string {
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!uuid.safeParse(id).success) throw badUserInput(field, "is not a cursor this API issued");
  return id;
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

/** Validated `first`: 1..max. */
export function pageSize(args: PageArgs, max = 100): number {
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > max)
    throw badUserInput("first", `must be between 1 and ${max}`);
  return first;
}

/** Validated page window: `first` in 1..max, `after` decoded. */
export function pageWindow(args: PageArgs, max = 100): { take: number; afterId: string | undefined } {
  return { take: pageSize(args, max), afterId: args.after ? decodeCursor(args.after) : undefined };
}

/**
 * Builds a connection from `take + 1` rows fetched in order: the extra row only says there is more.
 * `cursorOf` defaults to the id cursor; keyset orderings pass one made with `keysetCursor`.
 */
export function toConnection<T extends { id: string }>(
  rows: T[],
  take: number,
  cursorOf: (row: T) => string = (row) => encodeCursor(row.id),
) {
  const page = rows.slice(0, take);
  return {
    edges: page.map((node) => ({ cursor: cursorOf(node), node })),
    pageInfo: {
      hasNextPage: rows.length > take,
      endCursor: page.length ? cursorOf(page.at(-1)!) : null,
    },
  };
}

/**
 * Cursors for orderings on other columns than the id: the sort key of the last row seen, with the
 * ordering's name, so a cursor taken under one ordering is refused under another. Still opaque to
 * clients (base64url of JSON) and validated on the way back in.
 */
export function keysetCursor<K extends readonly unknown[]>(ordering: string, key: K): string {
  return Buffer.from(JSON.stringify({ o: ordering, k: key }), "utf8").toString("base64url");
}

/** Decodes a `keysetCursor`: BAD_USER_INPUT unless it was made for `ordering` and its key parses. */
export function decodeKeysetCursor<S extends z.ZodType>(
  cursor: string,
  ordering: string,
  key: S,
  field = "after",
): z.infer<S> {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw badUserInput(field, "is not a cursor this API issued");
  }
  const envelope = z.object({ o: z.string(), k: z.unknown() }).safeParse(decoded);
  if (!envelope.success) throw badUserInput(field, "is not a cursor this API issued");
  if (envelope.data.o !== ordering) throw badUserInput(field, "was issued for another ordering");
  const parsed = key.safeParse(envelope.data.k);
  if (!parsed.success) throw badUserInput(field, "is not a cursor this API issued");
  return parsed.data as z.infer<S>;
}
