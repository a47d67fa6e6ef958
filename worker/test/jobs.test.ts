import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPrismaClient, emitEvent, newId, type PrismaClient } from "@app/db";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../test/eventually.ts";
import { createScratchDatabase } from "../../test/scratch-db.ts";
import { createWorkerApp, type WorkerApp } from "../src/app.ts";
import { workerEnv } from "../src/env.ts";
import { listDeadLetters, retryDeadLetter } from "../src/jobs/admin.ts";
import { readMailbox } from "../src/mail/mailer.ts";

let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let prisma: PrismaClient;
let mailDir: string;
let worker: WorkerApp;
let metricsUrl: string;

// Test queues beside the real ones: short delays so retries happen within the test.
const TEST_QUEUES = {
  "test.flaky": { retryLimit: 2, retryDelay: 1, expireInSeconds: 10 },
  "test.slow": { retryLimit: 0, retryDelay: 1, expireInSeconds: 1 },
  "test.graceful": { retryLimit: 0, retryDelay: 1, expireInSeconds: 10 },
};
const attempts: number[] = [];
let flakyFails = true;
const gracefulDone: string[] = [];

beforeAll(async () => {
  scratch = await createScratchDatabase(inject("databaseUrl"));
  prisma = createPrismaClient({ connectionString: scratch.url, poolSize: 2 });
  mailDir = await mkdtemp(join(tmpdir(), "coditect-mail-"));
  worker = await createWorkerApp(
    workerEnv.parse({
      DATABASE_URL: scratch.url,
      MAIL_DIR: mailDir,
      RELAY_POLL_MS: "20",
      JOB_CONCURRENCY: "1",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    }),
    {
      pollingIntervalSeconds: 0.5,
      queues: TEST_QUEUES,
      handlers: {
        async "test.flaky"() {
          attempts.push(Date.now());
          if (flakyFails) throw new Error("downstream is unavailable");
        },
        async "test.slow"() {
          await new Promise((r) => setTimeout(r, 3_000));
        },
        async "test.graceful"(data) {
          await new Promise((r) => setTimeout(r, 1_500));
          gracefulDone.push((data as { n: string }).n);
        },
      },
    },
  );
  metricsUrl = `${(await worker.start(0)).url}/metrics`;
});

afterAll(async () => {
  await worker?.stop().catch(() => {});
  await prisma?.$disconnect();
  await scratch?.drop();
  await rm(mailDir, { recursive: true, force: true });
});

describe("jobs", () => {
  it("retries a failing job with growing delays, dead-letters it after its last try, and retries it from there", async () => {
    const id = await worker.boss.send("test.flaky", { tenantId: newId() });
    const dead = await eventually(
      () => listDeadLetters(worker.boss, TEST_QUEUES, "test.flaky"),
      (list) => list.length === 1,
    );
    expect(attempts).toHaveLength(3); // the first try and two retries
    const [first, second, third] = attempts as [number, number, number];
    // Backoff: about 1-2 s before the first retry, about 2-4 s before the second.
    expect(second - first).toBeGreaterThanOrEqual(900);
    expect(third - second).toBeGreaterThanOrEqual(1_900);
    expect(dead[0]!.error).toMatchObject({ message: "downstream is unavailable" });
    expect(id).toBeTruthy();

    flakyFails = false;
    const { queue } = await retryDeadLetter(worker.boss, TEST_QUEUES, dead[0]!.id);
    expect(queue).toBe("test.flaky");
    await eventually(
      async () => attempts.length,
      (n) => n === 4,
    );
    expect(await listDeadLetters(worker.boss, TEST_QUEUES, "test.flaky")).toEqual([]);
  });

  it("fails a try that runs past its timeout", async () => {
    await worker.boss.send("test.slow", {});
    const [dead] = await eventually(
      () => listDeadLetters(worker.boss, TEST_QUEUES, "test.slow"),
      (list) => list.length === 1,
    );
    expect((dead!.error as { message: string }).message).toMatch(/exceeded 1000ms/);
  });

  it("sends the welcome e-mail of a sign-up once, even when the relay hands the event over twice", async () => {
    const tenantId = newId();
    await prisma.organization.create({ data: { id: tenantId, name: "Mailed", slug: `mailed-${tenantId}` } });
    const email = `welcome-${tenantId}@example.test`;
    await prisma.$transaction(async (tx) => {
      await emitEvent(tx, tenantId, {
        topic: "user.signed_up",
        payload: { userId: newId(), email, name: "Ada", organizationName: "Mailed" },
      });
    });
    // Hand the same event over a second time, as a relay that died before marking it would.
    const event = await eventually(
      () => prisma.outboxEvent.findFirst({ where: { tenantId, deliveredAt: { not: null } } }),
      Boolean,
    );
    await prisma.outboxEvent.update({
      where: { tenantId_seq: { tenantId, seq: event!.seq } },
      data: { deliveredAt: null },
    });
    await eventually(
      () => prisma.outboxEvent.count({ where: { tenantId, deliveredAt: null } }),
      (n) => n === 0,
    );
    const mails = await eventually(
      () => readMailbox(mailDir, { to: email }),
      (list) => list.length >= 1,
    );
    await new Promise((r) => setTimeout(r, 1_500)); // time for a duplicate job to run, if there were one
    expect(await readMailbox(mailDir, { to: email })).toHaveLength(1);
    expect(mails[0]!.text).toContain("Mailed");
    expect(mails[0]!.tenantId).toBe(tenantId);
  });

  it("shows queue depth, dead letters and the outbox backlog on /metrics", async () => {
    const text = await (await fetch(metricsUrl)).text();
    expect(text).toMatch(/queue_jobs\{queue="test.slow",state="dead",service="worker"\} 1/);
    expect(text).toMatch(/outbox_pending_events\{service="worker"\} 0/);
    expect(text).toMatch(/jobs_total\{queue="test.flaky",outcome="failed",service="worker"\} 3/);
  });

  it("lets a running job finish when the worker stops", async () => {
    await worker.boss.send("test.graceful", { n: "last" });
    await eventually(
      async () => {
        const { rows } = await worker.boss
          .getDb()
          .executeSql("SELECT state FROM pgboss.job WHERE name = 'test.graceful'", []);
        return rows[0]?.state;
      },
      (state) => state === "active",
    );
    await worker.stop();
    expect(gracefulDone).toEqual(["last"]);
    expect(
      await prisma.$queryRawUnsafe(
        "SELECT state::text AS state FROM pgboss.job WHERE name = 'test.graceful'",
      ),
    ).toEqual([{ state: "completed" }]);
  });
});
