import { parseEnv, port, redisUrl, subgraphEnv } from "@app/common/env";
import { DEFAULT_EXPORT_DIR } from "@app/common/export-files";
import { DEFAULT_SUPERGRAPH_PATH } from "@app/common/supergraph";
import { z } from "zod";

export const tenantsEnv = subgraphEnv.extend({
  PORT: port.default(4001),
  /** The supergraph the gateways serve: registered operations are checked against it. */
  SUPERGRAPH_PATH: z.string().min(1).default(DEFAULT_SUPERGRAPH_PATH),
  /**
   * Where the gateways cache organization state and every service its plan limits: a change (of status,
   * hosts, limit overrides) is announced there at once. Optional.
   */
  REDIS_URL: redisUrl.optional(),
  /** Seconds between deleteOrganization and the hard delete, while it can be cancelled (default 30 days). */
  ORGANIZATION_DELETION_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .default(30 * 24 * 3600),
  /** Where the worker writes GDPR exports and this subgraph serves them from (shared with the worker). */
  EXPORT_DIR: z.string().min(1).default(DEFAULT_EXPORT_DIR),
  /** Lifetime of an export's signed download link. */
  EXPORT_LINK_TTL_SECONDS: z.coerce.number().int().min(10).max(86_400).default(300),
});
export type TenantsConfig = z.infer<typeof tenantsEnv>;

export const loadEnv = () => parseEnv(tenantsEnv);
