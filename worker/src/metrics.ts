import { createMetricsRegistry } from "@app/common/metrics";
import { Counter, Gauge, Histogram } from "prom-client";

/** The worker's Prometheus metrics; queue depth and outbox backlog are read at scrape time. */
export function createWorkerMetrics(collect: {
  queues: () => Promise<Array<{ queue: string; queued: number; active: number; deadLetters: number }>>;
  outboxPending: () => Promise<number>;
}) {
  const registry = createMetricsRegistry("worker");
  const jobDuration = new Histogram({
    name: "job_duration_seconds",
    help: "Time a job took, by queue and outcome",
    labelNames: ["queue", "outcome"],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [registry],
  });
  const jobsTotal = new Counter({
    name: "jobs_total",
    help: "Job tries, by queue and outcome (completed or failed)",
    labelNames: ["queue", "outcome"],
    registers: [registry],
  });
  new Gauge({
    name: "queue_jobs",
    help: "Jobs per queue and state: queued, active, dead (dead letters)",
    labelNames: ["queue", "state"],
    registers: [registry],
    async collect() {
      for (const q of await collect.queues()) {
        this.set({ queue: q.queue, state: "queued" }, q.queued);
        this.set({ queue: q.queue, state: "active" }, q.active);
        this.set({ queue: q.queue, state: "dead" }, q.deadLetters);
      }
    },
  });
  new Gauge({
    name: "outbox_pending_events",
    help: "Committed outbox events not delivered yet",
    registers: [registry],
    async collect() {
      this.set(await collect.outboxPending());
    },
  });
  const outboxDelivered = new Counter({
    name: "outbox_delivered_events_total",
    help: "Outbox events delivered",
    registers: [registry],
  });
  const outboxLag = new Histogram({
    name: "outbox_delivery_lag_seconds",
    help: "From commit of the oldest event in a delivered batch to its delivery",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers: [registry],
  });
  return {
    registry,
    jobFinished(queue: string, outcome: "completed" | "failed", seconds: number) {
      jobsTotal.inc({ queue, outcome });
      jobDuration.observe({ queue, outcome }, seconds);
    },
    outboxDelivered(count: number, lagMs: number) {
      outboxDelivered.inc(count);
      outboxLag.observe(lagMs / 1000);
    },
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
