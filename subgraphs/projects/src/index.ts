import { runService } from "@app/common";
import { createProjectsApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
const app = createProjectsApp(env);
await runService({
  name: "projects",
  handler: app.yoga,
  port: env.PORT,
  logger: app.logger,
  drain: app.drain,
  close: app.close,
});
