import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import WebSocket from "ws";
import { type Platform, signUpTenant, startGateway, startPlatform } from "../../test/platform.ts";

/**
 * Cross-site WebSocket hijacking: any page a user visits can open a WebSocket to the gateway, and CORS
 * does not stop it. The handshake is refused (403) unless its Origin is on the CORS allow-list or is the
 * gateway's own; clients that are not browsers send no Origin and are let through.
 */

let platform: Platform;
let gateway: Awaited<ReturnType<typeof startGateway>>;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  gateway = await startGateway(platform, { CORS_ORIGINS: "https://app.example.com" });
});
afterAll(async () => {
  await gateway?.close();
  await platform?.close();
});

/** Opens graphql-ws with `origin`: "ack" once acknowledged, or the HTTP status that refused it. */
function handshake(url: string, origin?: string): Promise<"ack" | number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, "graphql-transport-ws", origin ? { origin } : {});
    socket.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    socket.once("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.once("message", (data) => {
      socket.close();
      if (JSON.parse(String(data)).type === "connection_ack") resolve("ack");
      else reject(new Error(`unexpected ${String(data)}`));
    });
    socket.once("error", (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe("the gateway's WebSocket handshake", () => {
  it("refuses a page from an origin that is not allowed", async () => {
    const ws = gateway.url.replace("http", "ws");
    expect(await handshake(ws, "https://evil.example")).toBe(403);
    expect(await handshake(ws, "https://app.example.com.evil.example")).toBe(403);
    expect(await handshake(ws, "null")).toBe(403);
  });

  it("accepts an allowed origin, the gateway's own (GraphiQL), and clients without an Origin", async () => {
    const ws = gateway.url.replace("http", "ws");
    expect(await handshake(ws, "https://app.example.com")).toBe("ack");
    expect(await handshake(ws, gateway.origin)).toBe("ack");
    expect(await handshake(ws)).toBe("ack");
  });

  it("in development allows localhost pages on any port and nothing else", async () => {
    expect(await handshake(platform.gatewayWsUrl, "http://localhost:5173")).toBe("ack");
    expect(await handshake(platform.gatewayWsUrl, "http://localhost.evil.example")).toBe(403);
  });
});

/** One operation over a connection opened without a token; the token goes in `extensions.headers`. */
function operationWithHeaderToken(url: string, query: string, authorization: string) {
  return new Promise<{ type: string; payload: unknown }>((resolve, reject) => {
    const socket = new WebSocket(url, "graphql-transport-ws");
    socket.once("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string; payload: unknown };
      if (message.type === "connection_ack")
        socket.send(
          JSON.stringify({
            id: "1",
            type: "subscribe",
            payload: { query, extensions: { headers: { Authorization: authorization } } },
          }),
        );
      else {
        socket.close();
        resolve(message);
      }
    });
    socket.once("error", reject);
  });
}

describe("a token per operation (GraphiQL's header editor)", () => {
  it("authenticates the operation it comes with, and refuses a forged one with UNAUTHENTICATED", async () => {
    const { token } = await signUpTenant(platform.gatewayUrl, "ws-header");
    const query = "{ currentOrganization { name } }";
    expect(await operationWithHeaderToken(platform.gatewayWsUrl, query, `Bearer ${token}`)).toEqual({
      id: "1",
      type: "next",
      payload: { data: { currentOrganization: { name: "ws-header Inc" } } },
    });
    const forged = await operationWithHeaderToken(
      platform.gatewayWsUrl,
      query,
      `Bearer ${token.slice(0, -4)}AAAA`,
    );
    expect(forged).toMatchObject({ type: "error", payload: [{ extensions: { code: "UNAUTHENTICATED" } }] });
  });
});
