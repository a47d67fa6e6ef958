import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createLogger } from "@app/common";
import { GraphQLError } from "graphql";
import { createSchema, createYoga } from "graphql-yoga";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { attachWebSocketServer, CLOSE_CODES, type WebSocketOptions } from "./websocket.ts";

// The socket-level behaviour of the gateway's graphql-ws server, with a schema of its own: an event
// stream as fast and as large as a test needs, which the platform's task events are not.
const BIG = "x".repeat(256 * 1024);

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    type Query { ok: Boolean }
    type Subscription { ticks: String! endedBy(reason: String!): String! }
  `,
  resolvers: {
    Subscription: {
      ticks: {
        async *subscribe() {
          // As fast as the socket takes them: a reader that stops reading stalls this loop.
          for (let i = 0; ; i++) {
            yield { ticks: `${i}:${BIG}` };
            await new Promise((resolve) => setImmediate(resolve));
          }
        },
      },
      // An event that arrives as errors, as a subgraph's stream ending a subscriber does (watch.ts).
      endedBy: {
        async *subscribe(_: unknown, { reason }: { reason: string }) {
          yield { endedBy: reason };
        },
        resolve({ endedBy }: { endedBy: string }) {
          throw new GraphQLError("ended", { extensions: { code: "ANY", reason: endedBy } });
        },
      },
    },
  },
});

interface Started {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const started: Started[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

async function start(
  options: {
    keepAliveMs?: number;
    sendTimeoutMs?: number;
    authenticate?: WebSocketOptions["authenticate"];
    recheckMs?: number;
  } = {},
): Promise<Started> {
  const yoga = createYoga({ schema, graphqlEndpoint: "/graphql", logging: false });
  const server = createServer(yoga);
  const ws = attachWebSocketServer(server, {
    yoga,
    logger: createLogger("test", "silent"),
    authenticate: options.authenticate ?? (async () => null),
    recheckMs: options.recheckMs,
    keepAliveMs: options.keepAliveMs ?? 60_000,
    sendTimeoutMs: options.sendTimeoutMs ?? 60_000,
    maxBufferedBytes: 64 * 1024 * 1024,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const entry = {
    url: `ws://127.0.0.1:${port}/graphql`,
    server,
    async close() {
      await ws.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  started.push(entry);
  return entry;
}

/** A graphql-ws client by hand, so a test can stop reading or stop answering pings. */
async function connect(url: string, options: { autoPong?: boolean; authorization?: string } = {}) {
  const socket = new WebSocket(url, "graphql-transport-ws", { autoPong: options.autoPong ?? true });
  const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
  const messages: { type: string; id?: string }[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(
    JSON.stringify({
      type: "connection_init",
      ...(options.authorization ? { payload: { Authorization: options.authorization } } : {}),
    }),
  );
  await until(() => messages.some((m) => m.type === "connection_ack"));
  return {
    socket,
    closed,
    /** Events received so far. */
    events: () => messages.filter((m) => m.type === "next").length,
    subscribe(id: string, query = "subscription { ticks }") {
      socket.send(JSON.stringify({ id, type: "subscribe", payload: { query } }));
    },
    /** The TCP socket under the WebSocket: pausing it stops reading, as a stuck client does. */
    tcp: (socket as unknown as { _socket: Socket })._socket,
  };
}

async function until(condition: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("the gateway's WebSocket server", () => {
  it("pings every keep-alive interval and drops a client that stops answering", async () => {
    const { url } = await start({ keepAliveMs: 150 });
    const answering = await connect(url);
    let pings = 0;
    answering.socket.on("ping", () => pings++);
    const silent = await connect(url, { autoPong: false });

    // Dropped after one unanswered interval: no close frame (the client is presumed gone).
    expect(await silent.closed).toBe(1006);
    await until(() => pings >= 3);
    expect(answering.socket.readyState).toBe(WebSocket.OPEN);
    answering.socket.close();
  });

  it("closes a client that stops reading with 4413, while another keeps receiving", async () => {
    const { url } = await start({ sendTimeoutMs: 200 });
    const stuck = await connect(url);
    const reader = await connect(url);
    stuck.subscribe("1");
    reader.subscribe("1");
    await until(() => stuck.events() > 0 && reader.events() > 0);

    stuck.tcp.pause();
    // Kernel buffers fill, the gateway's bytes wait, and after a send timeout without a drain it closes.
    const before = reader.events();
    await until(() => reader.events() > before + 20);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stuck.tcp.resume(); // reads what was queued, then the close frame
    expect(await stuck.closed).toBe(CLOSE_CODES.SLOW_CONSUMER);

    expect(reader.socket.readyState).toBe(WebSocket.OPEN);
    const later = reader.events();
    await until(() => reader.events() > later);
    reader.socket.close();
  });

  it.each([
    ["SLOW_CONSUMER", CLOSE_CODES.SLOW_CONSUMER],
    ["MEMBERSHIP_REVOKED", CLOSE_CODES.FORBIDDEN],
  ])("closes the connection when a subgraph ends a subscription with %s", async (reason, code) => {
    const { url } = await start();
    const client = await connect(url);
    client.subscribe("1", `subscription { endedBy(reason: "${reason}") }`);
    expect(await client.closed).toBe(code);
  });

  it("keeps the connection when a subscription ends with any other error", async () => {
    const { url } = await start();
    const client = await connect(url);
    client.subscribe("1", `subscription { endedBy(reason: "OTHER") }`);
    client.subscribe("2");
    await until(() => client.events() > 3);
    expect(client.socket.readyState).toBe(WebSocket.OPEN);
    client.socket.close();
  });
  it("keeps a connection whose recheck could not be made, and closes it (4403) on a refusal", async () => {
    const principal = { tenantId: "t", userId: "u", roles: ["MEMBER"], credential: "user", scopes: ["read"] };
    let answer: "ok" | "unavailable" | "refused" = "ok";
    const { url } = await start({
      recheckMs: 100,
      authenticate: async () => {
        if (answer === "unavailable")
          throw new GraphQLError("status unavailable", { extensions: { code: "INTERNAL_SERVER_ERROR" } });
        if (answer === "refused")
          throw new GraphQLError("revoked", { extensions: { code: "UNAUTHENTICATED" } });
        return principal as never;
      },
    });
    const client = await connect(url, { authorization: "Bearer t" });
    answer = "unavailable";
    const keptThrough = await Promise.race([
      client.closed.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 600)),
    ]);
    expect(keptThrough).toBe(true);
    answer = "refused";
    expect(await client.closed).toBe(CLOSE_CODES.FORBIDDEN);
  });
});
