import { runService } from "@app/common";
import { createGatewayApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
const app = await createGatewayApp(env);
await runService({
  name: "gateway",
  handler: app.yoga,
  port: env.PORT,
  logger: app.logger,
  close: app.close,
});
if (env.GRAPHIQL) app.logger.info(`GraphiQL: http://localhost:${env.PORT}/graphql`);
