import { runSubgraph } from "@app/common/subgraph";
import { createTenantsApp } from "./app.ts";
import { loadEnv } from "./env.ts";

await runSubgraph("tenants", loadEnv(), createTenantsApp);
