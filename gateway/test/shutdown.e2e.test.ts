import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import WebSocket from "ws";
import { type Platform, startPlatform } from "../../test/platform.ts";

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

async function spawnGateway(): Promise<GatewayProcess> {
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
  });
});
