import { parseEnv, port, redisUrl, subgraphEnv } from "@app/common/env";
import { z } from "zod";

export const projectsEnv = subgraphEnv.extend({
  PORT: port.default(4003),
  /** Realtime events for subscriptions; without it they arrive by PostgreSQL LISTEN (one machine). */
  REDIS_URL: redisUrl.optional(),
  /**
   * Connections kept for what subscription events read (the assignee's e-mail...), apart from the
   * DATABASE_POOL_SIZE that requests share: writes queued for a connection must not hold up delivery.
   */
  REALTIME_POOL_SIZE: z.coerce.number().int().min(1).max(20).default(2),
});
export type ProjectsConfig = z.infer<typeof projectsEnv>;

export const loadEnv = () => parseEnv(projectsEnv);
