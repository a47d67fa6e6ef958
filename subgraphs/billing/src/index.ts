import { runSubgraph } from "@app/common/subgraph";
import { createBillingApp } from "./app.ts";
import { loadEnv } from "./env.ts";

await runSubgraph("billing", loadEnv(), createBillingApp);
