import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isUuid } from "@app/db";

/**
 * GDPR export archives on disk, shared by the worker (writes them) and the tenants subgraph (serves
 * them): `<EXPORT_DIR>/<tenant id>/<export id>.ndjson.gz`. One folder per tenant, removed with it.
 */
/** The repository's `.data/exports`, whatever folder a service runs in (EXPORT_DIR's default). */
export const DEFAULT_EXPORT_DIR = fileURLToPath(new URL("../../../.data/exports", import.meta.url));

export function tenantExportDir(exportDir: string, tenantId: string): string {
  if (!isUuid(tenantId)) throw new Error("export folder: malformed tenant id");
  return join(resolve(exportDir), tenantId);
}

export function exportPath(exportDir: string, tenantId: string, exportId: string): string {
  if (!isUuid(exportId)) throw new Error("export path: malformed export id");
  return join(tenantExportDir(exportDir, tenantId), `${exportId}.ndjson.gz`);
}
