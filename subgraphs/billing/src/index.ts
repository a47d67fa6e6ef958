import { runService } from "@app/common";
import { createBillingApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
const app = createBillingApp(env);
await runService({
  name: "billing",
  handler: app.yoga,
  port: env.PORT,
  logger: app.logger,
  drain: app.drain,
  close: app.close,
});
