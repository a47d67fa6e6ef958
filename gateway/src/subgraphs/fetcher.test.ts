import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { RemoteGraphQLDataSource } from "@apollo/gateway";
import { afterEach, describe, expect, it } from "vitest";
import { createSubgraphAgent, createSubgraphFetcher } from "./fetcher.ts";

/**
 * The reset the subscription benchmark met: a connection to a subgraph sits idle in the gateway's pool
 * while the subgraph's server closes it (keep-alive timeout); a burst then reuses it and fails with
 * "socket hang up" / ECONNRESET. A gateway busy with a fan-out does not see the server's FIN in time,
 * which is what blocking this process's event loop across the server's timeout reproduces, every time.
 * The server runs in a child process, so it keeps its own time while this one is blocked.
 */

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const PAUSE_MS = 4_500;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill();
});

/** A subgraph stand-in served by `@app/common`'s listen(), or by a bare Node server with `keepAliveMs`. */
async function startServer(keepAliveMs?: number): Promise<string> {
  const script = `
    import { createServer } from "node:http";
    import { listen } from "@app/common";
    const handler = (req, res) => { req.resume(); req.on("end", () => res.end('{"data":{"ok":true}}')); };
    const keepAlive = ${keepAliveMs ?? "undefined"};
    if (keepAlive === undefined) {
      const { port } = await listen(handler, 0, "127.0.0.1");
      console.log(port);
    } else {
      const server = createServer(handler);
      server.keepAliveTimeout = keepAlive;
      server.listen(0, "127.0.0.1", () => console.log(server.address().port));
    }`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const port = await new Promise<string>((resolve) =>
    child.stdout!.once("data", (d) => resolve(String(d).trim())),
  );
  return `http://127.0.0.1:${port}/graphql`;
}

type Fetcher = RemoteGraphQLDataSource["fetcher"];

/** 5 concurrent POSTs, a pause with the event loop blocked, 5 more: how many of the second 5 failed. */
async function burstAfterPause(fetcher: Fetcher, url: string) {
  const burst = () =>
    Promise.allSettled(
      Array.from({ length: 5 }, async () => {
        const response = await fetcher(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"query":"{ ok }"}',
        });
        return response.json();
      }),
    );
  const warm = await burst();
  expect(warm.every((r) => r.status === "fulfilled")).toBe(true);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, PAUSE_MS);
  const after = await burst();
  return after.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason));
}

describe("connections to subgraphs after an idle pause", () => {
  it("reproduces the reset: @apollo/gateway's default fetcher and a server that closes idle connections first", async () => {
    const url = await startServer(3_000);
    const failures = await burstAfterPause(new RemoteGraphQLDataSource({ url }).fetcher, url);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.join("\n")).toMatch(/socket hang up|ECONNRESET|other side closed/);
  });

  it("no reset with the gateway's undici agent and servers started by listen() (keep-alive 65 s)", async () => {
    const url = await startServer();
    const agent = createSubgraphAgent();
    try {
      expect(await burstAfterPause(createSubgraphFetcher("test", agent), url)).toEqual([]);
    } finally {
      await agent.close();
    }
  });
});

it("reads a subgraph's answer as @apollo/gateway reads fetch's: JSON data, and an HTTP error with its status and body", async () => {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/broken") {
        res.writeHead(502, { "content-type": "text/plain" }).end("upstream down");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end('{"data":{"ok":true}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const agent = createSubgraphAgent();
  const fetcher = createSubgraphFetcher("test", agent);
  const ask = (path: string) =>
    new RemoteGraphQLDataSource({ url: `${base}${path}`, fetcher }).process({
      kind: "incoming operation" as never,
      request: { query: "{ ok }" },
      context: {},
      incomingRequestContext: {} as never,
    });
  try {
    expect((await ask("/graphql")).data).toEqual({ ok: true });
    await expect(ask("/broken")).rejects.toMatchObject({
      message: "502: Bad Gateway",
      extensions: { response: { status: 502, body: "upstream down" } },
    });
  } finally {
    await agent.close();
    server.close();
  }
});
