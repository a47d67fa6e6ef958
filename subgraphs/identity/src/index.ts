import { runSubgraph } from "@app/common/subgraph";
import { createIdentityApp } from "./app.ts";
import { loadEnv } from "./env.ts";

await runSubgraph("identity", loadEnv(), createIdentityApp);
