import { stripeEnvShape } from "@app/billing/stripe";
import { parseEnv, port, postgresUrl, redisUrl } from "@app/common/env";
import { DEFAULT_EXPORT_DIR } from "@app/common/export-files";
import { z } from "zod";
import { DEFAULT_MAIL_DIR } from "./mail/mailer.ts";

export const workerEnvShape = {
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** /healthz and /metrics. */
  PORT: port.default(4005),
  DATABASE_URL: postgresUrl,
  /** Realtime delivery of outbox events; without it they go out by PostgreSQL NOTIFY (one machine). */
  REDIS_URL: redisUrl.optional(),
  /** Outgoing mail; without it mail lands in the development mailbox MAIL_DIR (`npm run mail`). */
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: "must be an smtp:// or smtps:// URL" }).optional(),
  MAIL_DIR: z.string().min(1).default(DEFAULT_MAIL_DIR),
  MAIL_FROM: z.string().min(3).default("CODITECT <no-reply@coditect.localhost>"),
  /** Where links in e-mails point (the frontend). */
  APP_URL: z.url().default("http://localhost:3000"),
  /** GDPR exports are written here; the tenants subgraph serves them from the same folder. */
  EXPORT_DIR: z.string().min(1).default(DEFAULT_EXPORT_DIR),
  /** Jobs worked at once per queue. */
  JOB_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),
  RELAY_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(100),
  RELAY_POLL_MS: z.coerce.number().int().min(5).max(60_000).default(250),
  ...stripeEnvShape,
  /** The Stripe billing meter's event name that usage is reported under. */
  STRIPE_METER_EVENT_NAME: z.string().min(1).default("coditect_api_operations"),
  /** When usage counted at the gateway is flushed to usage records and Stripe (cron, UTC). */
  USAGE_FLUSH_CRON: z.string().min(9).default("* * * * *"),
};
export const workerEnv = z.object(workerEnvShape);
export type WorkerConfig = z.infer<typeof workerEnv>;

export const loadEnv = () => parseEnv(workerEnv);
