import { parseEnv, port, subgraphEnv } from "@app/common/env";
import type { z } from "zod";

export const billingEnv = subgraphEnv.extend({ PORT: port.default(4004) });
export type BillingConfig = z.infer<typeof billingEnv>;

export const loadEnv = () => parseEnv(billingEnv);
