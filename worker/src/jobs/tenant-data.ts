import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { tenantExportDir } from "@app/common/export-files";
import { isUuid } from "@app/db";
import { deletionOrder, FOREIGN_KEYS_SQL, quoteIdent, TABLES_WITH_COLUMN_SQL } from "@app/db/data-map";
import { setTenantSql } from "@app/db/tenant";
import type pg from "pg";

/**
 * A whole tenant's data, for GDPR: the export archive and the hard delete after the grace period. A
 * named place allowed raw SQL across tables (test/raw-client-guard.test.ts). Both are generic over the
 * catalogue: every table with a `tenant_id` column, and `organizations` by its id, so a table added
 * later is included without a change here (test/gdpr.e2e.test.ts fails if one is not).
 */

/** A tenant's tables with the column that holds the tenant, the organization first. */
export async function tenantTables(client: pg.ClientBase): Promise<Array<{ table: string; column: string }>> {
  const { rows } = await client.query<{ table: string }>(TABLES_WITH_COLUMN_SQL, ["tenant_id"]);
  return [
    { table: "organizations", column: "id" },
    ...rows.map((r) => ({ table: r.table, column: "tenant_id" })),
  ];
}

export interface ExportResult {
  rowCount: number;
  byteSize: number;
}

/** Rows fetched per round trip while exporting: bounds memory whatever the tenant's size. */
const FETCH_SIZE = 500;

/**
 * Writes every row of the tenant as gzip'd JSON lines: a header line, then `{ "table", "row" }` per
 * row, from one snapshot (REPEATABLE READ) so the archive is consistent across tables. Written to a
 * `.part` file and renamed, so a reader never sees half an archive.
 */
export async function exportTenant(pool: pg.Pool, tenantId: string, exportId: string, path: string) {
  if (!isUuid(tenantId) || !isUuid(exportId)) throw new Error("exportTenant: malformed id");
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.part`;
  const lines = new PassThrough();
  const written = pipeline(lines, createGzip(), createWriteStream(partial));
  const write = async (value: unknown) => {
    if (!lines.write(`${JSON.stringify(value)}\n`)) await once(lines, "drain");
  };
  let rowCount = 0;
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    // Where row-level security holds the role, it then shows this tenant's rows and no other's.
    await client.query(setTenantSql(tenantId));
    const tables = await tenantTables(client);
    await write({
      format: "coditect-organization-export",
      version: 1,
      tenantId,
      exportId,
      tables: tables.map((t) => t.table),
      createdAt: new Date(),
    });
    for (const { table, column } of tables) {
      // The id is a validated uuid: a literal, because a cursor's query takes no parameters here.
      await client.query(
        `DECLARE export_rows NO SCROLL CURSOR FOR SELECT * FROM ${quoteIdent(table)} WHERE ${quoteIdent(column)} = '${tenantId}'::uuid`,
      );
      for (;;) {
        const { rows } = await client.query(`FETCH ${FETCH_SIZE} FROM export_rows`);
        for (const row of rows) await write({ table, row });
        rowCount += rows.length;
        if (rows.length < FETCH_SIZE) break;
      }
      await client.query("CLOSE export_rows");
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    lines.destroy(error as Error);
    await written.catch(() => {});
    await rm(partial, { force: true });
    throw error;
  } finally {
    client.release();
  }
  lines.end();
  await written;
  await rename(partial, path);
  return { rowCount, byteSize: (await stat(path)).size };
}

/** What the purge removed, so caches can be told: the slugs and domains that named the tenant. */
export interface PurgeResult {
  purged: boolean;
  rowCount: number;
  hosts: Array<{ kind: "slug" | "domain"; name: string }>;
}

/**
 * Deletes every row of the tenant in one transaction, children before parents, the organization last;
 * only if its deletion is (still) due, checked under the organization's row lock, so a cancellation
 * that commits first wins. Then removes its exports from `exportDir`.
 */
export async function purgeTenant(pool: pg.Pool, tenantId: string, exportDir: string): Promise<PurgeResult> {
  if (!isUuid(tenantId)) throw new Error("purgeTenant: malformed id");
  const client = await pool.connect();
  let result: PurgeResult;
  try {
    await client.query("BEGIN");
    await client.query(setTenantSql(tenantId));
    const due = await client.query(
      "SELECT 1 FROM organizations WHERE id = $1 AND deletion_scheduled_at <= now() FOR UPDATE",
      [tenantId],
    );
    if (!due.rowCount) {
      await client.query("ROLLBACK");
      return { purged: false, rowCount: 0, hosts: [] };
    }
    const slugs = await client.query<{ slug: string }>(
      "SELECT slug FROM organization_slugs WHERE tenant_id = $1",
      [tenantId],
    );
    const domains = await client.query<{ domain: string }>(
      "SELECT domain FROM custom_domains WHERE tenant_id = $1",
      [tenantId],
    );
    const tables = await tenantTables(client);
    const columnOf = new Map(tables.map((t) => [t.table, t.column]));
    const { rows: keys } = await client.query<{ child: string; parent: string }>(FOREIGN_KEYS_SQL);
    let rowCount = 0;
    for (const table of deletionOrder([...columnOf.keys()], keys)) {
      const deleted = await client.query(
        `DELETE FROM ${quoteIdent(table)} WHERE ${quoteIdent(columnOf.get(table)!)} = $1`,
        [tenantId],
      );
      rowCount += deleted.rowCount ?? 0;
    }
    await client.query("COMMIT");
    result = {
      purged: true,
      rowCount,
      hosts: [
        ...slugs.rows.map((r) => ({ kind: "slug" as const, name: r.slug })),
        ...domains.rows.map((r) => ({ kind: "domain" as const, name: r.domain })),
      ],
    };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  await rm(tenantExportDir(exportDir, tenantId), { recursive: true, force: true });
  return result;
}

/** Organizations whose deletion is due, oldest first (organizations_deletion_scheduled_at_idx). */
export async function dueDeletions(pool: pg.Pool, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    "SELECT id FROM organizations WHERE deletion_scheduled_at <= now() ORDER BY deletion_scheduled_at LIMIT $1",
    [limit],
  );
  return rows.map((r) => r.id);
}

/** Marks an export READY with its size, or FAILED with the reason. */
export async function finishExport(
  pool: pg.Pool,
  tenantId: string,
  exportId: string,
  outcome: { fileName: string; result: ExportResult } | { error: string },
) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(setTenantSql(tenantId));
    if ("error" in outcome) {
      await client.query(
        "UPDATE organization_exports SET status = 'FAILED', error = $3, completed_at = now() WHERE tenant_id = $1 AND id = $2",
        [tenantId, exportId, outcome.error.slice(0, 1000)],
      );
    } else {
      await client.query(
        `UPDATE organization_exports SET status = 'READY', file_name = $3, byte_size = $4, row_count = $5,
           completed_at = now() WHERE tenant_id = $1 AND id = $2`,
        [tenantId, exportId, outcome.fileName, outcome.result.byteSize, outcome.result.rowCount],
      );
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
