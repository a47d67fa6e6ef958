import type { Logger } from "@app/common";
import { Redis } from "ioredis";

/**
 * The gateway's Redis connection (rate limits, the APQ store). Built to fail fast: with no offline
 * queue and a short command timeout, a command while Redis is down fails at once instead of holding the
 * request, and the caller falls back (in-process limits and APQ entries). ioredis keeps reconnecting in
 * the background, so the shared store is used again as soon as Redis is back.
 */
export async function createGatewayRedis(url: string, logger: Logger): Promise<Redis> {
  let down = false;
  const redis = new Redis(url, {
    connectionName: "gateway",
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 250,
    connectTimeout: 1_000,
    // Reconnect quickly at first, then every 2 s at most: the gateway keeps serving meanwhile.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  redis.on("error", (err) => {
    // Logged once per outage, not once per reconnect attempt.
    if (!down) logger.warn({ err }, "redis unreachable: rate limits and APQ fall back to this process");
    down = true;
  });
  redis.on("ready", () => {
    if (down) logger.info("redis reachable again");
    down = false;
  });
  // Without an offline queue a command sent before the connection is up fails: wait for it (briefly,
  // so a gateway still starts while Redis is down).
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off("ready", done);
      resolve();
    };
    const timer = setTimeout(done, STARTUP_WAIT_MS);
    redis.once("ready", done);
  });
  return redis;
}

/** How long a starting gateway waits for Redis before it serves without it. */
const STARTUP_WAIT_MS = 2_000;
