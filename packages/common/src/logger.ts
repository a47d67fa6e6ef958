import { pino } from "pino";

/** JSON logs on stdout; LOG_LEVEL is read by each service's env.ts and passed in. */
export function createLogger(service: string, level = "info") {
  return pino({ name: service, level, base: { service } });
}
export type Logger = ReturnType<typeof createLogger>;
