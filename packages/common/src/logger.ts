import { trace } from "@opentelemetry/api";
import { pino } from "pino";
import { currentRequestScope } from "./request-id.ts";

/**
 * JSON logs on stdout; LOG_LEVEL is read by each service's env.ts and passed in. A line logged while
 * a request is handled carries its `requestId`, and once known its `operationName` and `tenantId`;
 * with tracing on (tracing.ts), the `traceId` and `spanId` to find the trace from the line.
 */
export function createLogger(service: string, level = "info") {
  return pino({
    name: service,
    level,
    base: { service },
    mixin(_object, _level, logger) {
      const fields: Record<string, string> = {};
      const request = currentRequestScope();
      // A child logger that names the request already (a subgraph's per-request logger) keeps its own.
      if (request && !("requestId" in logger.bindings())) fields.requestId = request.requestId;
      if (request?.operationName) fields.operationName = request.operationName;
      if (request?.tenantId) fields.tenantId = request.tenantId;
      const span = trace.getActiveSpan()?.spanContext();
      if (span && span.traceFlags & 1) {
        fields.traceId = span.traceId;
        fields.spanId = span.spanId;
      }
      return fields;
    },
  });
}
export type Logger = ReturnType<typeof createLogger>;
