import { parseEnv, port, subgraphEnv } from "@app/common/env";
import { DEFAULT_SUPERGRAPH_PATH } from "@app/common/supergraph";
import { z } from "zod";

export const tenantsEnv = subgraphEnv.extend({
  PORT: port.default(4001),
  /** The supergraph the gateways serve: registered operations are checked against it. */
  SUPERGRAPH_PATH: z.string().min(1).default(DEFAULT_SUPERGRAPH_PATH),
});
export type TenantsConfig = z.infer<typeof tenantsEnv>;

export const loadEnv = () => parseEnv(tenantsEnv);
