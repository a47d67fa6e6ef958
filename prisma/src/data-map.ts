/**
 * Where a tenant's (or a user's) rows are, found in the catalogue rather than listed by hand, so a table
 * added by a later migration is exported and deleted with the rest without anyone remembering to.
 * Callers run the SQL with their own driver (pg in the worker, Prisma in the tenants subgraph).
 */

/** Tables of the public schema with a column named $1: `{ table }` rows, by name. */
export const TABLES_WITH_COLUMN_SQL = `
  SELECT c.relname AS "table"
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped
  WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  ORDER BY c.relname`;

/** Foreign keys between tables of the public schema: `{ child, parent }` rows. */
export const FOREIGN_KEYS_SQL = `
  SELECT ch.relname AS "child", pa.relname AS "parent"
  FROM pg_constraint k
  JOIN pg_class ch ON ch.oid = k.conrelid
  JOIN pg_class pa ON pa.oid = k.confrelid
  JOIN pg_namespace n ON n.oid = ch.relnamespace
  WHERE k.contype = 'f' AND n.nspname = 'public'`;

/**
 * `tables` ordered so that deleting in that order never trips a foreign key: every table comes before
 * the tables it references (self-references and cycles are left to the database).
 */
export function deletionOrder(
  tables: readonly string[],
  keys: ReadonlyArray<{ child: string; parent: string }>,
) {
  const within = new Set(tables);
  const referencedBy = new Map<string, string[]>(tables.map((t) => [t, []]));
  for (const { child, parent } of keys) {
    if (within.has(child) && within.has(parent) && child !== parent) referencedBy.get(parent)!.push(child);
  }
  const ordered: string[] = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (table: string) => {
    if (done.has(table) || visiting.has(table)) return;
    visiting.add(table);
    for (const child of referencedBy.get(table) ?? []) visit(child);
    visiting.delete(table);
    done.add(table);
    ordered.push(table);
  };
  for (const table of [...tables].sort()) visit(table);
  return ordered;
}

/** A double-quoted SQL identifier (names come from the catalogue, but never trust a name in SQL). */
export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
