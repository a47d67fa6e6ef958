import { runService } from "@app/common";
import { createIdentityApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
const app = await createIdentityApp(env);
await runService({
  name: "identity",
  handler: app.yoga,
  port: env.PORT,
  logger: app.logger,
  drain: app.drain,
  close: app.close,
});
