import type { Logger } from "@app/common";
import { exportPath } from "@app/common/export-files";
import { createOrganizationStateNotifier } from "@app/common/organization-state";
import { createPool } from "@app/common/pg-pool";
import { dueDeletions, exportTenant, finishExport, purgeTenant } from "./tenant-data.ts";

/** Organizations purged per run of organization.purge; the next run (a minute later) takes the rest. */
const PURGE_BATCH = 50;

/**
 * The GDPR jobs' work: build an export archive, purge organizations whose deletion is due. A pool of
 * its own (two connections: these jobs are rare and may run long).
 */
export function createOrganizationJobs(options: {
  databaseUrl: string;
  exportDir: string;
  redisUrl: string | undefined;
  logger: Logger;
}) {
  const pool = createPool("worker-gdpr", { connectionString: options.databaseUrl, max: 2 }, options.logger);
  const notifier = createOrganizationStateNotifier(options.redisUrl, options.logger);
  return {
    async exportOrganization(tenantId: string, exportId: string) {
      const path = exportPath(options.exportDir, tenantId, exportId);
      try {
        const result = await exportTenant(pool, tenantId, exportId, path);
        await finishExport(pool, tenantId, exportId, { fileName: `${exportId}.ndjson.gz`, result });
        options.logger.info({ tenantId, exportId, ...result }, "organization exported");
      } catch (error) {
        await finishExport(pool, tenantId, exportId, { error: String(error) });
        throw error;
      }
    },
    /** Purges what is due; resolves with the number of organizations purged. */
    async purgeDueOrganizations() {
      let purged = 0;
      for (const tenantId of await dueDeletions(pool, PURGE_BATCH)) {
        const result = await purgeTenant(pool, tenantId, options.exportDir);
        if (!result.purged) continue;
        purged++;
        // Gateways still holding the organization as ACTIVE drop it: its tokens are refused at once.
        await notifier.changed({ tenantId, hosts: result.hosts });
        options.logger.info({ tenantId, rowCount: result.rowCount }, "organization purged");
      }
      return purged;
    },
    async close() {
      await notifier.close();
      await pool.end();
    },
  };
}
export type OrganizationJobs = ReturnType<typeof createOrganizationJobs>;
