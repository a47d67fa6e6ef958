import type { RemoteGraphQLDataSource } from "@apollo/gateway";
import type { ServiceMetrics } from "@app/common/metrics";
import { traceOutgoing } from "@app/common/tracing";
import { Agent, fetch } from "undici";

type Fetcher = RemoteGraphQLDataSource["fetcher"];

/**
 * How long an idle connection to a subgraph is kept for the next fetch. Below the subgraphs' own
 * keep-alive (65 s, packages/common/src/http.ts), so the gateway always drops an idle connection before
 * the server does: reusing one the server is just closing is what made a burst after a pause fail
 * with ECONNRESET / "socket hang up" (make-fetch-happen's agent, @apollo/gateway's default, keeps idle
 * sockets with no timeout).
 */
export const SUBGRAPH_KEEP_ALIVE_MS = 30_000;

/**
 * The connections the gateway keeps to its subgraphs: undici, keep-alive, one pool per subgraph
 * origin. A server's `Keep-Alive: timeout=N` hint shortens the idle time further (N minus 2 s).
 */
export function createSubgraphAgent(keepAliveMs = SUBGRAPH_KEEP_ALIVE_MS) {
  return new Agent({ keepAliveTimeout: keepAliveMs, keepAliveMaxTimeout: keepAliveMs });
}

/**
 * The `fetcher` of one subgraph's data source: undici's fetch over `agent`, timed into
 * `subgraph_fetch_duration_seconds` (until the response's headers: subgraphs send buffered JSON) and
 * wrapped in a client span whose `traceparent` the subgraph continues.
 */
export function createSubgraphFetcher(
  subgraph: string,
  agent: Agent,
  metrics?: Pick<ServiceMetrics, "subgraphFetch">,
): Fetcher {
  return async (url, init = {}) => {
    const headers = { ...init.headers };
    const started = performance.now();
    let outcome: "ok" | "http_error" | "network_error" = "network_error";
    try {
      const response = await traceOutgoing(
        `subgraph ${subgraph}`,
        { "peer.service": subgraph, "http.request.method": init.method ?? "POST", "url.full": url },
        headers,
        () =>
          fetch(url, {
            method: init.method,
            headers,
            body: init.body,
            signal: init.signal,
            dispatcher: agent,
          }),
        (r) => r.status,
      );
      outcome = response.ok ? "ok" : "http_error";
      return response as unknown as Awaited<ReturnType<Fetcher>>;
    } finally {
      metrics?.subgraphFetch(subgraph, outcome, (performance.now() - started) / 1000);
    }
  };
}
