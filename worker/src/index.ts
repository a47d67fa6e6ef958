import { createWorkerApp } from "./app.ts";
import { loadEnv } from "./env.ts";

const env = loadEnv();
const app = await createWorkerApp(env);
const server = await app.start();
app.logger.info({ port: server.port }, `worker running; metrics on ${server.url}/metrics`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, "worker stopping: finishing running jobs");
    const force = setTimeout(() => process.exit(1), 15_000).unref();
    try {
      await app.stop();
      clearTimeout(force);
      process.exit(0);
    } catch (error) {
      app.logger.error({ err: error }, "worker failed to stop cleanly");
      process.exit(1);
    }
  });
}
