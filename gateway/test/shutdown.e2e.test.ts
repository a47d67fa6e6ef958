import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import WebSocket from "ws";
import { type Platform, signUpTenant, startPlatform } from "../../test/platform.ts";

/**
 * Graceful shutdown of a real gateway process (`node --import tsx gateway/src/index.ts`, as `npm start`
 * and the container run it) in front of subgraphs served in this process. SIGTERM arrives while a
 * request is in flight and a WebSocket client is connected.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(() => platform?.close());

interface GatewayProcess {
  child: ChildProcess;
  url: string;
  /** JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; at: number }>;
}

/** The gateway as a child process; `settings` override its environment (a subgraph URL...). */
async function spawnGateway(settings: Record<string, string> = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "gateway/src/index.ts"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "test",
      LOG_LEVEL: "info",
      PORT: "0",
      INTERNAL_CONTEXT_SECRET: platform.internalSecret,
      TENANTS_URL: platform.subgraphUrls.tenants,
      IDENTITY_URL: platform.subgraphUrls.identity,
      PROJECTS_URL: platform.subgraphUrls.projects,
      BILLING_URL: platform.subgraphUrls.billing,
      JWKS_URL: new URL("/.well-known/jwks.json", platform.subgraphUrls.identity).toString(),
      JWT_ISSUER: platform.issuer,
      ...settings,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Array<Record<string, unknown>> = [];
  let buffered = "";
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once("exit", (code) => resolve({ code, at: Date.now() })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (typeof entry.port === "number") resolve(`http://127.0.0.1:${entry.port}/graphql`);
      }
    });
    void exited.then(({ code }) =>
      reject(new Error(`the gateway exited (${code}) before listening:\n${stderr}`)),
    );
  });
  return { child, url, logs, exited };
}

/** A POST whose body is sent in two halves: the request is in flight until `finish()` is called. */
function startSlowRequest(url: string, requestId: string) {
  const body = JSON.stringify({ query: "{ plans { code } }" });
  const half = Math.floor(body.length / 2);
  let finish!: () => void;
  const response = new Promise<{ status: number; body: string; requestId: string | undefined }>(
    (resolve, reject) => {
      const req = http.request(
        url,
        {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            "x-request-id": requestId,
          },
        },
        (res) => {
          let text = "";
          res.on("data", (chunk) => {
            text += chunk;
          });
          res.on("end", () =>
            resolve({
              status: res.statusCode!,
              body: text,
              requestId: res.headers["x-request-id"] as string,
            }),
          );
        },
      );
      req.on("error", reject);
      req.write(body.slice(0, half));
      finish = () => req.end(body.slice(half));
    },
  );
  return { response, finish: () => finish() };
}

/** A graphql-ws connection, acknowledged; resolves its close code when the server closes it. */
async function connectWebSocket(url: string) {
  const socket = new WebSocket(url.replace("http", "ws"), "graphql-transport-ws");
  const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.once("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === "connection_ack") resolve();
      else reject(new Error(`unexpected ${message.type}`));
    });
    socket.once("error", reject);
  });
  return { closed };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("SIGTERM", () => {
  it("stops accepting, finishes the in-flight request, closes WebSockets with 1001 and exits 0 within 10 s", async () => {
    const gateway = await spawnGateway();
    try {
      const websocket = await connectWebSocket(gateway.url);
      const slow = startSlowRequest(gateway.url, "in-flight-1");
      await sleep(200); // the gateway has the request's headers, not yet its whole body

      const signalledAt = Date.now();
      gateway.child.kill("SIGTERM");
      expect(await websocket.closed).toBe(1001);
      // No new connection is taken any more.
      await expect(fetch(gateway.url, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();

      slow.finish();
      const answer = await slow.response;
      expect(answer.status).toBe(200);
      expect(answer.requestId).toBe("in-flight-1");
      expect(JSON.parse(answer.body).data.plans.length).toBeGreaterThan(0);

      const { code, at } = await gateway.exited;
      expect(code).toBe(0);
      expect(at - signalledAt).toBeLessThan(10_000);
      // The access log line of that request names it.
      expect(gateway.logs).toContainEqual(
        expect.objectContaining({ msg: "request", requestId: "in-flight-1", status: 200, path: "/graphql" }),
      );
      expect(gateway.logs.map((l) => l.msg)).toEqual(
        expect.arrayContaining(["gateway stopping", "gateway stopped"]),
      );
    } finally {
      if (gateway.child.exitCode === null) gateway.child.kill("SIGKILL");
    }
    // A gateway process takes seconds to start (tsx compiles it), more on a busy machine.
  }, 90_000);
});

/** A proxy in front of a subgraph that holds every request `delayMs` first: slow operations on demand. */
async function startDelayingProxy(target: string, delayMs: number) {
  const upstream = new URL(target);
  let received = 0;
  const server = http.createServer((req, res) => {
    received += 1;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      setTimeout(() => {
        const forward = http.request(
          upstream,
          { method: req.method, headers: { ...req.headers, host: upstream.host } },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on("error", () => res.destroy());
        forward.end(Buffer.concat(chunks));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
    /** Requests received so far. */
    received: () => received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Outcome {
  kind: "fast" | "slow";
  sentAt: number;
  status?: number;
  body?: string;
  error?: string;
}

/** One POST over `agent`; resolves with what came back, or the connection error, never rejects. */
function post(url: string, agent: http.Agent, query: string, token: string, kind: Outcome["kind"]) {
  return new Promise<Outcome>((resolve) => {
    const body = JSON.stringify({ query });
    const outcome: Outcome = { kind, sentAt: 0 };
    const req = http.request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ ...outcome, status: res.statusCode, body: text }));
        res.on("error", (error) => resolve({ ...outcome, error: `response cut: ${error.message}` }));
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve({ ...outcome, error: error.code ?? error.message }),
    );
    req.end(body, () => {
      outcome.sentAt = Date.now();
    });
  });
}

describe("SIGTERM during a load run", () => {
  it("answers every request in flight in full, refuses new connections, closes WebSockets with 1001, exits 0 within 10 s", async () => {
    const { token, tenantId } = await signUpTenant(platform.gatewayUrl, "load");
    // Every projects fetch takes 1.5 s: operations that need it are in flight across the signal.
    const slowProjects = await startDelayingProxy(platform.subgraphUrls.projects, 1_500);
    // Tracing on (to a collector that takes and drops spans), so log lines carry trace ids.
    const collector = http.createServer((req, res) => req.resume().on("end", () => res.end("{}")));
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const gateway = await spawnGateway({
      PROJECTS_URL: slowProjects.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as { port: number }).port}`,
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    try {
      const fastQuery = "{ plans { code } }";
      const slowQuery = "query SlowProjects { projects(first: 1) { edges { node { id } } } }";
      // Warm: the first operations of a fresh gateway plan their queries and compile.
      await Promise.all([fastQuery, slowQuery].map((q) => post(gateway.url, agent, q, token, "fast")));
      const sockets = await Promise.all([connectWebSocket(gateway.url), connectWebSocket(gateway.url)]);

      let signalledAt = 0;
      const outcomes: Outcome[] = [];
      // 12 clients sending fast operations back to back until the signal...
      const clients = Array.from({ length: 12 }, async () => {
        while (!signalledAt) outcomes.push(await post(gateway.url, agent, fastQuery, token, "fast"));
      });
      await sleep(1_000);
      // ...and 6 slow operations, under way at the gateway (waiting for projects) when the signal comes.
      const slowAnswers = Promise.all(
        Array.from({ length: 6 }, () => post(gateway.url, agent, slowQuery, token, "slow")),
      );
      await expect.poll(() => slowProjects.received(), { timeout: 5_000, interval: 20 }).toBe(7);
      signalledAt = Date.now();
      gateway.child.kill("SIGTERM");

      for (const slow of await slowAnswers) {
        expect(slow).toMatchObject({ status: 200 });
        expect(JSON.parse(slow.body!)).toEqual({ data: { projects: { edges: [] } } });
      }
      await Promise.all(clients);
      expect((await Promise.all(sockets.map((s) => s.closed))).every((code) => code === 1001)).toBe(true);
      // A new connection is refused outright.
      const late = await post(gateway.url, new http.Agent(), fastQuery, token, "fast");
      expect(late.error).toBe("ECONNREFUSED");

      const { code, at } = await gateway.exited;
      expect(code).toBe(0);
      expect(at - signalledAt).toBeLessThan(10_000);

      // Sent well before the signal (the gateway surely had them): each got a whole 200 with its data.
      const inFlight = outcomes.filter((o) => o.sentAt && o.sentAt < signalledAt - 100);
      expect(inFlight.length).toBeGreaterThanOrEqual(12); // each client's first, at least
      for (const outcome of inFlight) {
        expect(outcome).toMatchObject({ status: 200 });
        expect(JSON.parse(outcome.body!).data.plans.length).toBeGreaterThan(0);
      }
      // Sent as the signal arrived: answered in full, or never taken (its idle connection was closed
      // before the server read it). Never an error answer, never a response cut halfway.
      for (const outcome of outcomes.filter((o) => !inFlight.includes(o))) {
        if (outcome.error) expect(outcome.error).toMatch(/^(ECONNRESET|ECONNREFUSED|EPIPE|socket hang up)$/);
        else expect(outcome.status).toBe(200);
      }
      // Each request's log line names the request, its operation, its tenant and its trace.
      expect(gateway.logs).toContainEqual(
        expect.objectContaining({
          msg: "request",
          status: 200,
          operationName: "SlowProjects",
          tenantId,
          requestId: expect.any(String),
          traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
        }),
      );
    } finally {
      collector.close();
      agent.destroy();
      if (gateway.child.exitCode === null) gateway.child.kill("SIGKILL");
      await slowProjects.close();
    }
  }, 90_000);
});
