import { runService } from "@app/common";
import { createTenantsApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
const app = createTenantsApp(env);
await runService({
  name: "tenants",
  handler: app.yoga,
  port: env.PORT,
  logger: app.logger,
  drain: app.drain,
  close: app.close,
});
