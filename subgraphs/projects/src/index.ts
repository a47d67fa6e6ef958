import { runSubgraph } from "@app/common/subgraph";
import { createProjectsApp } from "./app.ts";
import { loadEnv } from "./env.ts";

await runSubgraph("projects", loadEnv(), createProjectsApp);
