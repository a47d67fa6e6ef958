import { parseEnv, port, redisUrl, subgraphEnv } from "@app/common/env";
import type { z } from "zod";

export const projectsEnv = subgraphEnv.extend({
  PORT: port.default(4003),
  /** Realtime events for subscriptions; without it they arrive by PostgreSQL LISTEN (one machine). */
  REDIS_URL: redisUrl.optional(),
});
export type ProjectsConfig = z.infer<typeof projectsEnv>;

export const loadEnv = () => parseEnv(projectsEnv);
