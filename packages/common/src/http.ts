import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  /** Stops accepting, waits for in-flight requests up to `graceMs`, then cuts what is left. */
  close(graceMs?: number): Promise<void>;
}

/** Listens on `port` (0 picks a free one, as tests do) and resolves once it accepts connections. */
export function listen(handler: RequestListener, port: number, host = "0.0.0.0"): Promise<RunningServer> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const actual = (server.address() as AddressInfo).port;
      resolve({
        server,
        port: actual,
        url: `http://127.0.0.1:${actual}`,
        close: (graceMs = 5_000) =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Idle keep-alive sockets would otherwise hold close() open; busy ones (a stream that
            // never ends on its own) get `graceMs` to finish.
            server.closeIdleConnections();
            setTimeout(() => server.closeAllConnections(), graceMs).unref();
          }),
      });
    });
  });
}

/**
 * index.ts of every service: listen, log the URL, and on SIGINT/SIGTERM stop accepting, let in-flight
 * requests finish, release resources, then exit.
 */
export async function runService(options: {
  name: string;
  handler: RequestListener;
  port: number;
  logger: { info(o: object, m: string): void; error(o: object, m: string): void };
  close?: () => Promise<void>;
}): Promise<RunningServer> {
  const running = await listen(options.handler, options.port);
  options.logger.info({ port: running.port }, `${options.name} listening on ${running.url}`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ signal }, `${options.name} stopping`);
    // A request that never finishes must not keep the process alive forever.
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    try {
      await running.close();
      await options.close?.();
      clearTimeout(force);
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
