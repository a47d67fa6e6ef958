import { runService } from "@app/common";
import { startTracing } from "@app/common/tracing";
import { createIdentityApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
// Before the app: its clients and servers are traced from the first request.
const tracing = startTracing("identity", env);
const app = await createIdentityApp(env);
await runService({
  name: "identity",
  handler: app.yoga,
  port: env.PORT,
  logger: app.logger,
  drain: app.drain,
  close: app.close,
  tracing,
});
