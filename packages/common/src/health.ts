import { Redis } from "ioredis";

/** One dependency a service needs to serve: resolves when it answers, rejects (or times out) when not. */
export type ReadinessCheck = () => Promise<unknown>;

export interface ReadinessReport {
  status: "ready" | "unavailable";
  service: string;
  checks: Record<string, { status: "up" | "down"; latencyMs: number; error?: string }>;
}

/** A check that has not answered by then counts as down: a hung dependency must not hang /readyz. */
const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs every check at once; ready only when all of them pass. */
export async function checkReadiness(
  service: string,
  checks: Record<string, ReadinessCheck>,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<ReadinessReport> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const started = performance.now();
      try {
        await withTimeout(Promise.resolve().then(check), timeoutMs);
        return [name, { status: "up" as const, latencyMs: Math.round(performance.now() - started) }] as const;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const latencyMs = Math.round(performance.now() - started);
        return [name, { status: "down" as const, latencyMs, error: message }] as const;
      }
    }),
  );
  const ready = results.every(([, result]) => result.status === "up");
  return { status: ready ? "ready" : "unavailable", service, checks: Object.fromEntries(results) };
}

/** 200 with the report when ready, 503 with it (saying what is down) when not. */
export function readinessResponse(report: ReadinessReport): Response {
  return Response.json(report, {
    status: report.status === "ready" ? 200 : 503,
    headers: { "cache-control": "no-store" },
  });
}

/** `/healthz`: the process is alive and serving HTTP; it says nothing about its dependencies. */
export function livenessResponse(service: string): Response {
  return Response.json({ status: "ok", service }, { headers: { "cache-control": "no-store" } });
}

/**
 * A Redis readiness check on a connection of its own (so a subscriber connection in SUBSCRIBE mode is
 * never asked to PING): connects on first use, fails at once while Redis is down instead of queueing.
 */
export function redisReadiness(url: string) {
  let redis: Redis | null = null;
  return {
    check: async () => {
      redis ??= new Redis(url, {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectionName: "readiness",
      }).on("error", () => {
        // Reported by the check that failed; ioredis retries the connection in the background.
      });
      if (redis.status === "wait") await redis.connect();
      await redis.ping();
    },
    close: async () => {
      redis?.disconnect();
    },
  };
}

/** A service's shutdown state: once draining, readiness reports it, so balancers stop sending work. */
export function drainingCheck(isDraining: () => boolean): ReadinessCheck {
  return async () => {
    if (isDraining()) throw new Error("shutting down");
  };
}
