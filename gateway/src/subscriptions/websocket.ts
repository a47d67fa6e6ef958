import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger, Principal } from "@app/common";
import { type ExecutionArgs, GraphQLError } from "graphql";
import type { SubscribePayload } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import type { YogaServerInstance } from "graphql-yoga";
import { type WebSocket, WebSocketServer } from "ws";

/** Close codes a client can act on (graphql-ws's own: 4400 bad request, 4401, 4403 forbidden, 4408...). */
export const CLOSE_CODES = {
  /** The access token expired or was refused, or the membership it stands for was removed. */
  FORBIDDEN: 4403,
  /** The client reads events slower than they come; it is cut off rather than slowing everyone. */
  SLOW_CONSUMER: 4413,
  /** The gateway is shutting down: reconnect (to another replica). */
  GOING_AWAY: 1001,
} as const;

export interface WebSocketOptions {
  // biome-ignore lint/suspicious/noExplicitAny: yoga's server and user context types are the gateway's own
  yoga: YogaServerInstance<any, any>;
  logger: Logger;
  /** Verifies the `Authorization` of connection_init; null for none, throws when it is invalid. */
  authenticate(authorization: string | null): Promise<(Principal & { expiresAt?: number }) | null>;
  /** ping/pong keep-alive interval; a client that has not answered a ping by the next is dropped. */
  keepAliveMs: number;
  /**
   * A client that takes none of the bytes waiting for it for this long (or lets more than
   * `maxBufferedBytes` pile up) is closed with 4413.
   */
  sendTimeoutMs: number;
  maxBufferedBytes: number;
  /** Whether to accept a handshake (its Origin: http/websocket-origin.ts); refused with 403. */
  acceptHandshake?(request: IncomingMessage): boolean;
  /**
   * Before each operation is parsed: rate limits and the persisted-operations policy (admission.ts).
   * Returns the payload to run (with the persisted document filled in) or throws the GraphQLError
   * refusing it.
   */
  admit?(
    payload: SubscribePayload,
    principal: Principal | null,
    request: IncomingMessage,
  ): Promise<SubscribePayload>;
  /**
   * How often the connections' credentials are checked again (through the gateway's caches: a revoked
   * API key, an ended session or a suspended organization closes every connection authorised with it,
   * with 4403, within this plus the cache's lifetime, at once with Redis). An access token's expiry
   * closes it on time anyway. Default 5 s.
   */
  recheckMs?: number;
}

/** connection_init payload: `{ "Authorization": "Bearer <token>" }` (any case of the key). */
function authorizationOf(params: Record<string, unknown> | undefined): string | null {
  if (!params) return null;
  const key = Object.keys(params).find((k) => k.toLowerCase() === "authorization");
  const value = key ? params[key] : undefined;
  return typeof value === "string" ? value : null;
}

/**
 * GraphQL over WebSocket (graphql-ws) at the gateway's /graphql: the token comes in connection_init
 * and is checked once; the socket is closed with 4403 when it expires. Operations run through yoga's
 * envelop (the same parsing, validation, masking and federated subscribe as over HTTP).
 */
/**
 * graphql-ws waits for each message of a subscription to be taken by the socket before it sends the
 * next, so a client that stops reading stops taking results, which queue for it alone (federated.ts
 * hands each subscriber its results without waiting, and ends one that falls 256 behind). A stalled
 * client would still hold its subscriptions for ever: it is closed with 4413 once bytes have waited for
 * it a whole `sendTimeoutMs` without the socket draining once. Other clients never wait for it.
 */
function watchForSlowConsumer(
  socket: WebSocket,
  raw: Duplex,
  { sendTimeoutMs, maxBufferedBytes, logger }: WebSocketOptions,
) {
  let drained = true;
  const onDrain = () => {
    drained = true;
  };
  raw.on("drain", onDrain);
  const check = setInterval(() => {
    const buffered = socket.bufferedAmount;
    if (buffered > maxBufferedBytes || (buffered > 0 && !drained)) {
      logger.warn({ buffered }, "closing a slow subscriber");
      socket.close(CLOSE_CODES.SLOW_CONSUMER, "Slow consumer: events were not read in time");
      return;
    }
    drained = buffered === 0;
  }, sendTimeoutMs);
  check.unref();
  socket.once("close", () => {
    clearInterval(check);
    raw.off("drain", onDrain);
  });
}

export function attachWebSocketServer(server: Server, options: WebSocketOptions) {
  const { yoga } = options;
  const wsServer = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    verifyClient: (info, accept) =>
      options.acceptHandshake?.(info.req) === false ? accept(false, 403, "Forbidden origin") : accept(true),
  });
  wsServer.on("connection", (socket, request) => watchForSlowConsumer(socket, request.socket, options));
  type Extra = { principal?: Principal | null; expiry?: NodeJS.Timeout; credential?: string };

  /**
   * The connections authorised with each credential, and when it is next due. A credential is checked
   * again every `recheckMs` while any of its connections lasts, once however many share it (a user's
   * tabs, a partner's workers, the subscribers of a benchmark's tenant): at rest with the benchmark's
   * 5,000 subscribers on 500 tokens, the gateway used 0.11 core with a timer per connection, 0.07 with
   * this. Each is due `recheckMs` after it was last checked, so the checks stay spread out as the
   * connections arrived rather than all at once. A revoked API key, an ended session or a suspended
   * organization closes every connection of that credential.
   */
  const recheckMs = options.recheckMs ?? 5_000;
  const byCredential = new Map<string, { sockets: Set<WebSocket>; dueAt: number }>();
  function recheck(authorization: string, sockets: Set<WebSocket>) {
    options.authenticate(authorization).catch((error: unknown) => {
      const { code, reason } =
        (error as { extensions?: { code?: unknown; reason?: unknown } }).extensions ?? {};
      // Only a refusal closes: a check that could not be made (the organization's status unavailable
      // under load, say) is tried again at the next one. The connection's own checks were made when it
      // opened, and a new connection is still refused while the status cannot be read.
      if (code !== "UNAUTHENTICATED" && code !== "FORBIDDEN") {
        options.logger.warn(
          { err: error },
          "could not recheck a WebSocket credential; kept until the next check",
        );
        return;
      }
      byCredential.delete(authorization);
      for (const socket of sockets)
        socket.close(
          CLOSE_CODES.FORBIDDEN,
          reason === "ORGANIZATION_SUSPENDED"
            ? "Forbidden: the organization is suspended"
            : "Forbidden: the credential was revoked or expired",
        );
    });
  }
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [authorization, entry] of byCredential) {
        if (entry.dueAt > now) continue;
        entry.dueAt = now + recheckMs;
        recheck(authorization, entry.sockets);
      }
    },
    Math.min(recheckMs, 250),
  );
  sweep.unref();

  function closeOnRevocation(extra: Extra & { socket: WebSocket }, authorization: string | null) {
    if (!extra.principal || !authorization || extra.credential) return;
    extra.credential = authorization;
    let entry = byCredential.get(authorization);
    if (!entry) {
      entry = { sockets: new Set(), dueAt: Date.now() + recheckMs };
      byCredential.set(authorization, entry);
    }
    entry.sockets.add(extra.socket);
  }

  function forget(extra: Extra & { socket: WebSocket }) {
    if (!extra.credential) return;
    const entry = byCredential.get(extra.credential);
    entry?.sockets.delete(extra.socket);
    if (entry?.sockets.size === 0) byCredential.delete(extra.credential);
  }

  /** The connection closes with 4403 when the token it was authorised with expires. */
  function closeAtExpiry(
    extra: Extra & { socket: WebSocket },
    principal: (Principal & { expiresAt?: number }) | null,
  ) {
    if (!principal?.expiresAt || extra.expiry) return;
    extra.expiry = setTimeout(
      () => extra.socket.close(CLOSE_CODES.FORBIDDEN, "Forbidden: the access token expired"),
      Math.max(0, principal.expiresAt * 1000 - Date.now()),
    );
  }

  /**
   * A connection opened without a token may name one per operation, in `extensions.headers`: that is
   * how GraphiQL sends what its header editor holds. It is verified like connection_init's, binds only
   * that operation, and its expiry closes the connection (4403) as connection_init's would.
   */
  async function operationPrincipal(
    payload: SubscribePayload,
    extra: Extra & { socket: WebSocket },
  ): Promise<Principal | null> {
    const headers = (payload.extensions as { headers?: Record<string, unknown> } | undefined)?.headers;
    const authorization = authorizationOf(headers);
    if (!authorization) return null;
    try {
      const principal = await options.authenticate(authorization);
      closeAtExpiry(extra, principal);
      return principal;
    } catch {
      throw new GraphQLError("The access token is invalid or expired.", {
        extensions: { code: "UNAUTHENTICATED" },
      });
    }
  }

  const disposable = useServer<Record<string, unknown>, Extra>(
    {
      async onConnect(ctx) {
        try {
          const authorization = authorizationOf(ctx.connectionParams);
          const principal = await options.authenticate(authorization);
          ctx.extra.principal = principal;
          closeAtExpiry(ctx.extra, principal);
          closeOnRevocation(ctx.extra, authorization);
          return true;
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
      },
      onClose(ctx) {
        clearTimeout(ctx.extra.expiry);
        forget(ctx.extra);
      },
      async onSubscribe(ctx, _id, received) {
        let payload = received;
        let principal = ctx.extra.principal ?? null;
        try {
          principal ??= await operationPrincipal(received, ctx.extra);
          payload = (await options.admit?.(received, principal, ctx.extra.request)) ?? received;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          websocketPrincipal: principal,
        });
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName,
          document: parse(payload.query),
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        return errors.length ? errors : args;
      },
      execute: (args) => (args.rootValue as { execute(a: ExecutionArgs): never }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe(a: ExecutionArgs): never }).subscribe(args),
      onNext(ctx, _id, _payload, _args, result) {
        // A subgraph ended the stream because the user's membership was removed: the whole
        // connection was authorised with it, so close it as an expired token would be.
        const reasons = new Set(result.errors?.map((e) => e.extensions?.reason));
        if (reasons.has("MEMBERSHIP_REVOKED")) {
          ctx.extra.socket.close(CLOSE_CODES.FORBIDDEN, "Forbidden: membership removed");
        } else if (reasons.has("SLOW_CONSUMER")) {
          // A subgraph ended a subscription of this client for falling behind: the client's reading is
          // what is slow, so it is told as a stalled socket would be.
          ctx.extra.socket.close(CLOSE_CODES.SLOW_CONSUMER, "Slow consumer: events were not read in time");
        }
      },
    },
    wsServer,
    options.keepAliveMs,
  );

  return {
    wsServer,
    /** Tells every client to reconnect elsewhere (1001) and stops accepting. */
    async close() {
      clearInterval(sweep);
      for (const client of wsServer.clients) client.close(CLOSE_CODES.GOING_AWAY, "Server shutting down");
      await disposable.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
