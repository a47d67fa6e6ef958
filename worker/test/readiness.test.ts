import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../test/redis.ts";
import { createScratchDatabase } from "../../test/scratch-db.ts";
import { createWorkerApp } from "../src/app.ts";
import { workerEnv } from "../src/env.ts";

/** The worker's /readyz: its database, and Redis when it relays through one. */

let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let mailDir: string;
beforeAll(async () => {
  scratch = await createScratchDatabase(inject("databaseUrl"));
  mailDir = await mkdtemp(join(tmpdir(), "coditect-mail-"));
});
afterAll(async () => {
  await scratch?.drop();
  await rm(mailDir, { recursive: true, force: true });
});

async function withWorker(settings: Record<string, string>, test: (base: string) => Promise<void>) {
  const worker = await createWorkerApp(
    workerEnv.parse({ DATABASE_URL: scratch.url, MAIL_DIR: mailDir, LOG_LEVEL: "silent", ...settings }),
  );
  const server = await worker.start(0);
  try {
    await test(server.url);
  } finally {
    await worker.stop();
  }
}

describe("the worker's /readyz", () => {
  it("is 200 with its database reachable", async () => {
    await withWorker({}, async (base) => {
      const res = await fetch(`${base}/readyz`);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({ status: "ready", service: "worker" });
      expect(body.checks.database.status).toBe("up");
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    });
  });

  it("is 503, naming Redis, while the Redis it relays through does not answer", async () => {
    await withWorker({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, async (base) => {
      const res = await fetch(`${base}/readyz`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body.status).toBe("unavailable");
      expect(body.checks.redis.status).toBe("down");
      expect(body.checks.database.status).toBe("up");
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    });
  });
});
