import { pino } from "pino";
import { currentRequestId } from "./request-id.ts";

/**
 * JSON logs on stdout; LOG_LEVEL is read by each service's env.ts and passed in. A line logged while
 * a request is handled carries its `requestId`.
 */
export function createLogger(service: string, level = "info") {
  return pino({
    name: service,
    level,
    base: { service },
    mixin(_object, _level, logger) {
      const requestId = currentRequestId();
      // A child logger that names the request already (a subgraph's per-request logger) keeps its own.
      return requestId && !("requestId" in logger.bindings()) ? { requestId } : {};
    },
  });
}
export type Logger = ReturnType<typeof createLogger>;
