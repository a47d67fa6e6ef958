import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  /** Stops accepting, waits for in-flight requests up to `graceMs`, then cuts what is left. */
  close(graceMs?: number): Promise<void>;
}

/**
 * How long a server keeps an idle keep-alive connection. Above every client's idle time: the gateway's
 * subgraph agent (30 s) and load balancers (commonly 60 s) drop a connection before the server does, so
 * none of them sends a request on a connection the server is closing (ECONNRESET). Node's default, 5 s,
 * was below them.
 */
export const SERVER_KEEP_ALIVE_MS = 65_000;

/**
 * Connections the kernel may hold for the server before it accepts them. Node's default, 511, overflowed
 * when thousands of subscriptions arrived at once (5,000 WebSockets at the gateway, each opening a stream
 * to the projects subgraph): the kernel dropped handshakes (TcpExtListenOverflows) and some streams were
 * reset (ECONNRESET) while connecting. The kernel caps it at net.core.somaxconn (4096 on current Linux).
 */
export const LISTEN_BACKLOG = 4096;

/** Listens on `port` (0 picks a free one, as tests do) and resolves once it accepts connections. */
export function listen(handler: RequestListener, port: number, host = "0.0.0.0"): Promise<RunningServer> {
  const server = createServer(handler);
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
  // Node measures headersTimeout from a request's first byte; it must not cut a connection the keep-alive
  // still holds, so it is set just above it.
  server.headersTimeout = SERVER_KEEP_ALIVE_MS + 1_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      const actual = (server.address() as AddressInfo).port;
      resolve({
        server,
        port: actual,
        url: `http://127.0.0.1:${actual}`,
        close: (graceMs = 5_000) =>
          new Promise<void>((done) => {
            // A keep-alive socket would otherwise hold close() open until it times out: close each as
            // soon as its last response is out. Busy ones (a stream that never ends on its own) get
            // `graceMs` to finish, then are cut.
            const idle = setInterval(() => server.closeIdleConnections(), 50).unref();
            const cut = setTimeout(() => server.closeAllConnections(), graceMs).unref();
            server.close(() => {
              clearInterval(idle);
              clearTimeout(cut);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}

/** How long a stopping service waits for in-flight requests before it cuts them. */
const SHUTDOWN_GRACE_MS = 8_000;
/** The hard limit: a service that has not stopped by then exits anyway (with 1). */
const SHUTDOWN_LIMIT_MS = 10_000;

/**
 * index.ts of every service: listen, log the URL, and on SIGINT/SIGTERM shut down gracefully: stop
 * accepting connections and `drain` (readiness turns 503, WebSockets are told to go away) at once, let
 * in-flight requests finish (up to 8 s), release resources with `close`, and exit 0, all within 10 s.
 */
export async function runService(options: {
  name: string;
  handler: RequestListener;
  port: number;
  logger: { info(o: object, m: string): void; error(o: object, m: string): void };
  /** Called with the server once it listens (to attach a WebSocket server to it). */
  onListening?: (server: Server) => void;
  /** First step of a shutdown, while in-flight requests finish. */
  drain?: () => Promise<void>;
  /** Last step of a shutdown, once no request is left: close pools and clients. */
  close?: () => Promise<void>;
  /** Started before the app (tracing.ts startTracing): its buffered spans are sent before exit. */
  tracing?: { shutdown(): Promise<void> };
}): Promise<RunningServer> {
  const running = await listen(options.handler, options.port);
  options.onListening?.(running.server);
  options.logger.info({ port: running.port }, `${options.name} listening on ${running.url}`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ signal }, `${options.name} stopping`);
    // A request that never finishes must not keep the process alive forever.
    const force = setTimeout(() => {
      options.logger.error({ signal }, `${options.name} did not stop within ${SHUTDOWN_LIMIT_MS} ms`);
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    try {
      await Promise.all([running.close(SHUTDOWN_GRACE_MS), options.drain?.()]);
      await options.close?.();
      await options.tracing?.shutdown();
      clearTimeout(force);
      options.logger.info({ signal }, `${options.name} stopped`);
      process.exit(0);
    } catch (error) {
      options.logger.error({ err: error }, `${options.name} failed to stop cleanly`);
      process.exit(1);
    }
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
  return running;
}
