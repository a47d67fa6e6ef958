import { runService } from "@app/common";
import { createGatewayApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
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
});
if (env.GRAPHIQL) app.logger.info(`GraphiQL: http://localhost:${running.port}/graphql`);
