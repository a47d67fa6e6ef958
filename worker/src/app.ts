import type { RequestListener } from "node:http";
import {
  checkReadiness,
  createLogger,
  drainingCheck,
  listen,
  type ReadinessCheck,
  type RunningServer,
} from "@app/common";
import { Redis } from "ioredis";
import PgBoss from "pg-boss";
import type { WorkerConfig } from "./env.ts";
import { queueStats } from "./jobs/admin.ts";
import { createBillingJobs } from "./jobs/billing-jobs.ts";
import { createHandlers, type JobHandler } from "./jobs/handlers.ts";
import { createOrganizationJobs } from "./jobs/organization-jobs.ts";
import { ensureQueues, QUEUES, type QueueDefinition } from "./jobs/queues.ts";
import { createMailer } from "./mail/mailer.ts";
import { createWorkerMetrics } from "./metrics.ts";
import { createPostgresSink } from "./outbox/postgres-sink.ts";
import { createRedisSink } from "./outbox/redis-sink.ts";
import { createRelay, type RelayOptions } from "./outbox/relay.ts";
import { JOB_ROUTES } from "./outbox/routes.ts";

/** Cron for the purge of organizations whose deletion is due: every minute. */
const ORGANIZATION_PURGE_CRON = "* * * * *";

/** Cron for the outbox pruning job (minute 17 of every hour, off the top of the hour). */
const OUTBOX_CLEANUP_CRON = "17 * * * *";

export interface WorkerDeps {
  /** Tests add queues and handlers of their own (a job that always fails, say). */
  queues?: Record<string, QueueDefinition>;
  handlers?: Record<string, JobHandler>;
  routes?: Record<string, readonly string[]>;
  /** Tests: tighter relay timing, fault injection. */
  relay?: Partial<Pick<RelayOptions, "pollIntervalMs" | "maxBackoffMs" | "afterDeliver">>;
  /** pg-boss poll interval; 2 s by default, tests go lower. */
  pollingIntervalSeconds?: number;
}

/**
 * The worker process: pg-boss job workers (retries with backoff, dead letters, timeouts, cron), the
 * outbox relay, and /healthz + /metrics. `index.ts` runs it; tests run it in-process.
 */
export async function createWorkerApp(config: WorkerConfig, deps: WorkerDeps = {}) {
  const logger = createLogger("worker", config.LOG_LEVEL);
  const queues = { ...QUEUES, ...deps.queues };
  const boss = new PgBoss({ connectionString: config.DATABASE_URL, max: 5, application_name: "worker" });
  boss.on("error", (error) => logger.error({ err: error }, "job queue error"));
  await boss.start();
  await ensureQueues(boss, queues);

  const mailer = createMailer({
    smtpUrl: config.SMTP_URL,
    mailDir: config.MAIL_DIR,
    from: config.MAIL_FROM,
    logger,
  });
  const redis = config.REDIS_URL
    ? // No offline queue: while Redis is down commands fail at once and the relay backs off, rather
      // than piling up in memory; ioredis reconnects on its own.
      new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false })
    : null;
  redis?.on("error", (error) => logger.debug({ err: error }, "redis connection error"));

  const db = boss.getDb();
  const metrics = createWorkerMetrics({
    queues: () => queueStats(boss, queues),
    outboxPending: async () =>
      Number(
        (await db.executeSql("SELECT count(*) AS n FROM outbox_events WHERE delivered_at IS NULL", []))
          .rows[0]?.n ?? 0,
      ),
  });
  const organizations = createOrganizationJobs({
    databaseUrl: config.DATABASE_URL,
    exportDir: config.EXPORT_DIR,
    redisUrl: config.REDIS_URL,
    logger,
  });
  const billing = createBillingJobs({
    databaseUrl: config.DATABASE_URL,
    redisUrl: config.REDIS_URL,
    stripe: config,
    gracePeriodSeconds: config.BILLING_GRACE_PERIOD_SECONDS,
    meterEventName: config.STRIPE_METER_EVENT_NAME,
    logger,
  });
  const handlers: Record<string, JobHandler> = {
    ...createHandlers({
      billing,
      organizations,
      mailer,
      appUrl: config.APP_URL,
      // Cross-tenant maintenance on purpose: delivered rows of every tenant.
      pruneOutbox: async (days) => {
        const { rows } = await db.executeSql(
          `WITH pruned AS (
             DELETE FROM outbox_events WHERE delivered_at < now() - make_interval(days => $1::int) RETURNING 1
           ) SELECT count(*)::int AS n FROM pruned`,
          [days],
        );
        return Number(rows[0]?.n ?? 0);
      },
    }),
    ...deps.handlers,
  };

  const postgresSink = redis ? null : createPostgresSink(config.DATABASE_URL, logger);
  const relay = createRelay({
    databaseUrl: config.DATABASE_URL,
    sink: redis ? createRedisSink(redis) : postgresSink!,
    jobs: boss,
    routes: deps.routes ?? JOB_ROUTES,
    logger: logger.child({ component: "outbox-relay" }),
    batchSize: config.RELAY_BATCH_SIZE,
    pollIntervalMs: config.RELAY_POLL_MS,
    onDelivered: (count, lagMs) => metrics.outboxDelivered(count, lagMs),
    ...deps.relay,
  });

  async function work(queue: string, handler: JobHandler) {
    const options = { batchSize: 1, pollingIntervalSeconds: deps.pollingIntervalSeconds ?? 2 };
    for (let i = 0; i < config.JOB_CONCURRENCY; i++) {
      await boss.work(queue, options, async ([job]) => {
        if (!job) return;
        const data = job.data as { tenantId?: string };
        const jobLogger = logger.child({ queue, jobId: job.id, tenantId: data?.tenantId });
        const started = performance.now();
        try {
          await handler(job.data, { jobId: job.id, logger: jobLogger });
          const seconds = (performance.now() - started) / 1000;
          metrics.jobFinished(queue, "completed", seconds);
          jobLogger.info({ durationMs: Math.round(seconds * 1000) }, "job completed");
        } catch (error) {
          const seconds = (performance.now() - started) / 1000;
          metrics.jobFinished(queue, "failed", seconds);
          jobLogger.warn({ err: error, durationMs: Math.round(seconds * 1000) }, "job failed");
          throw error; // pg-boss records the failure and schedules the retry or the dead letter
        }
      });
    }
  }

  let server: RunningServer | null = null;
  let stopping = false;
  const readiness: Record<string, ReadinessCheck> = {
    database: () => db.executeSql("SELECT 1", []),
    ...(redis ? { redis: () => redis.ping() } : {}),
    accepting: drainingCheck(() => stopping),
  };
  const handler: RequestListener = async (req, res) => {
    if (req.url === "/healthz") {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ status: "ok", service: "worker" }));
    } else if (req.url === "/readyz") {
      const report = await checkReadiness("worker", readiness);
      res
        .writeHead(report.status === "ready" ? 200 : 503, {
          "content-type": "application/json",
          "cache-control": "no-store",
        })
        .end(JSON.stringify(report));
    } else if (req.url === "/metrics") {
      res
        .writeHead(200, { "content-type": metrics.registry.contentType })
        .end(await metrics.registry.metrics());
    } else {
      res.writeHead(404).end();
    }
  };

  return {
    logger,
    boss,
    async start(port = config.PORT) {
      for (const [queue, queueHandler] of Object.entries(handlers)) await work(queue, queueHandler);
      await boss.schedule("outbox.cleanup", OUTBOX_CLEANUP_CRON);
      await boss.schedule("usage.flush", config.USAGE_FLUSH_CRON);
      await boss.schedule("organization.purge", ORGANIZATION_PURGE_CRON);
      relay.start();
      server = await listen(handler, port);
      return server;
    },
    /** Stops taking work, lets running jobs finish (up to 10 s, then they are released for a retry). */
    async stop() {
      stopping = true;
      await server?.close();
      await relay.stop();
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
      await mailer.close();
      await billing.close();
      await organizations.close();
      redis?.disconnect();
      await postgresSink?.close();
    },
  };
}
export type WorkerApp = Awaited<ReturnType<typeof createWorkerApp>>;
