import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createProjectsApp } from "../../subgraphs/projects/src/app.ts";
import { projectsEnv } from "../../subgraphs/projects/src/env.ts";
import { createTenantsApp } from "../../subgraphs/tenants/src/app.ts";
import { tenantsEnv } from "../../subgraphs/tenants/src/env.ts";
import { type Platform, startGateway, startPlatform } from "../../test/platform.ts";
import { freePort } from "../../test/redis.ts";

/**
 * /healthz (the process answers) and /readyz (it can serve: what it depends on answers) on the gateway
 * and the subgraphs. A dependency that is down makes /readyz answer 503 with a body saying which.
 */

const redisUrl = inject("redisUrl");

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(() => platform?.close());

interface Report {
  status: string;
  service: string;
  checks: Record<string, { status: string; error?: string }>;
}

async function readyz(base: string): Promise<{ status: number; body: Report }> {
  const res = await fetch(new URL("/readyz", base));
  return { status: res.status, body: (await res.json()) as Report };
}

/** A URL where nothing listens. */
async function nowhere(path = "/graphql") {
  return `http://127.0.0.1:${await freePort()}${path}`;
}

const statuses = (report: Report) =>
  Object.fromEntries(Object.entries(report.checks).map(([name, check]) => [name, check.status]));

describe("the gateway", () => {
  it("/healthz answers 200", async () => {
    expect((await fetch(new URL("/healthz", platform.gatewayUrl))).status).toBe(200);
  });

  it("/readyz is 200 when the supergraph is loaded and every subgraph answers", async () => {
    const { status, body } = await readyz(platform.gatewayUrl);
    expect(status).toBe(200);
    expect(body.status).toBe("ready");
    expect(statuses(body)).toEqual({
      supergraph: "up",
      "subgraph:tenants": "up",
      "subgraph:identity": "up",
      "subgraph:projects": "up",
      "subgraph:billing": "up",
      accepting: "up",
    });
  });

  it("/readyz is 503, naming the subgraph, when one does not answer; /healthz stays 200", async () => {
    const gateway = await startGateway(platform, { BILLING_URL: await nowhere() });
    try {
      const { status, body } = await readyz(gateway.origin);
      expect(status).toBe(503);
      expect(body.status).toBe("unavailable");
      expect(body.checks["subgraph:billing"]?.status).toBe("down");
      expect(body.checks["subgraph:billing"]?.error).toBeTruthy();
      expect(statuses(body)).toMatchObject({ supergraph: "up", "subgraph:tenants": "up" });
      expect((await fetch(new URL("/healthz", gateway.origin))).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it("/readyz turns 503 once shutdown has begun", async () => {
    const gateway = await startGateway(platform, {});
    try {
      await gateway.app.drain();
      const { status, body } = await readyz(gateway.origin);
      expect(status).toBe(503);
      expect(body.checks.accepting).toMatchObject({ status: "down", error: "shutting down" });
    } finally {
      await gateway.close();
    }
  });
});

describe("the subgraphs", () => {
  it.each(["tenants", "identity", "projects", "billing"] as const)(
    "%s: /healthz and /readyz answer 200, the database reachable",
    async (name) => {
      const base = platform.subgraphUrls[name];
      const health = await fetch(new URL("/healthz", base));
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok", service: name });
      const { status, body } = await readyz(base);
      expect(status).toBe(200);
      expect(body).toMatchObject({ status: "ready", service: name });
      expect(body.checks.database?.status).toBe("up");
    },
  );

  it("/readyz is 503 with the database down; /healthz stays 200", async () => {
    const app = createTenantsApp(
      tenantsEnv.parse({
        DATABASE_URL: `postgresql://postgres@127.0.0.1:${await freePort()}/coditect`,
        INTERNAL_CONTEXT_SECRET: platform.internalSecret,
        LOG_LEVEL: "silent",
      }),
    );
    try {
      const res = await app.yoga.fetch("http://tenants.test/readyz");
      expect(res.status).toBe(503);
      const body = (await res.json()) as Report;
      expect(body).toMatchObject({ status: "unavailable", service: "tenants" });
      expect(body.checks.database?.status).toBe("down");
      expect((await app.yoga.fetch("http://tenants.test/healthz")).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("projects: /readyz checks Redis when REDIS_URL is set, and is 503 while it does not answer", async () => {
    const app = createProjectsApp(
      projectsEnv.parse({
        DATABASE_URL: inject("databaseUrl"),
        INTERNAL_CONTEXT_SECRET: platform.internalSecret,
        REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
        LOG_LEVEL: "silent",
      }),
    );
    try {
      const res = await app.yoga.fetch("http://projects.test/readyz");
      expect(res.status).toBe(503);
      const body = (await res.json()) as Report;
      expect(statuses(body)).toMatchObject({ database: "up", redis: "down" });
    } finally {
      await app.close();
    }
  });

  it.skipIf(!redisUrl)("projects: /readyz is 200 with Redis answering", async () => {
    const app = createProjectsApp(
      projectsEnv.parse({
        DATABASE_URL: inject("databaseUrl"),
        INTERNAL_CONTEXT_SECRET: platform.internalSecret,
        REDIS_URL: redisUrl,
        LOG_LEVEL: "silent",
      }),
    );
    try {
      const res = await app.yoga.fetch("http://projects.test/readyz");
      const body = (await res.json()) as Report;
      expect(res.status).toBe(200);
      expect(statuses(body)).toEqual({ database: "up", redis: "up", accepting: "up" });
    } finally {
      await app.close();
    }
  });
});
