import { runService } from "@app/common";
import { startTracing } from "@app/common/tracing";
import { createGatewayApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
// Before the app: its clients and servers are traced from the first request.
const tracing = startTracing("gateway", env);
const app = await createGatewayApp(env);
const running = await runService({
  name: "gateway",
  handler: app.yoga,
  port: env.PORT,
  logger: app.logger,
  // Subscriptions over graphql-ws share the HTTP server and its /graphql path.
  onListening: app.attach,
  drain: app.drain,
  close: app.close,
  tracing,
});
if (env.GRAPHIQL) app.logger.info(`GraphiQL: http://localhost:${running.port}/graphql`);
