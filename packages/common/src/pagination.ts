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

/** Validated page window: `first` in 1..max, `after` decoded. */
export function pageWindow(args: PageArgs, max = 100): { take: number; afterId: string | undefined } {
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > max)
    throw badUserInput("first", `must be between 1 and ${max}`);
  return { take: first, afterId: args.after ? decodeCursor(args.after) : undefined };
}

/** Builds a connection from `take + 1` rows fetched in id order: the extra row only says there is more. */
export function toConnection<T extends { id: string }>(rows: T[], take: number) {
  const page = rows.slice(0, take);
  return {
    edges: page.map((node) => ({ cursor: encodeCursor(node.id), node })),
    pageInfo: {
      hasNextPage: rows.length > take,
      endCursor: page.length ? encodeCursor(page.at(-1)!.id) : null,
    },
  };
}
