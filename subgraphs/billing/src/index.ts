import { runService } from "@app/common";
import { startTracing } from "@app/common/tracing";
import { createBillingApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
// Before the app: its clients and servers are traced from the first request.
const tracing = startTracing("billing", env);
const app = createBillingApp(env);
await runService({
  name: "billing",
  handler: app.yoga,
  port: env.PORT,
  logger: app.logger,
  drain: app.drain,
  close: app.close,
  tracing,
});
