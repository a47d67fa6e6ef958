import { parseEnv, port, subgraphEnv } from "@app/common/env";
import type { z } from "zod";

export const tenantsEnv = subgraphEnv.extend({ PORT: port.default(4001) });
export type TenantsConfig = z.infer<typeof tenantsEnv>;

export const loadEnv = () => parseEnv(tenantsEnv);
