import { STATUS_CODES } from "node:http";
import type { RemoteGraphQLDataSource } from "@apollo/gateway";
import type { ServiceMetrics } from "@app/common/metrics";
import { traceOutgoing } from "@app/common/tracing";
import { Agent, type Dispatcher, Headers, request } from "undici";

type Fetcher = RemoteGraphQLDataSource["fetcher"];
type FetcherResponse = Awaited<ReturnType<Fetcher>>;

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
 * The `fetcher` of one subgraph's data source: undici's `request` over `agent` (not its `fetch`, whose
 * web streams around every request and response body cost the gateway more CPU than the rest of the
 * HTTP client: docs/BENCHMARKS.md), timed into `subgraph_fetch_duration_seconds` (until the response's
 * headers: subgraphs send buffered JSON) and wrapped in a client span whose `traceparent` the subgraph
 * continues.
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
          request(url, {
            method: (init.method ?? "POST") as Dispatcher.HttpMethod,
            headers,
            body: init.body,
            signal: init.signal,
            dispatcher: agent,
          }),
        (r) => r.statusCode,
      );
      const answer = fetcherResponse(url, response);
      outcome = answer.ok ? "ok" : "http_error";
      return answer;
    } finally {
      metrics?.subgraphFetch(subgraph, outcome, (performance.now() - started) / 1000);
    }
  };
}

/**
 * A response as @apollo/gateway reads it (RemoteGraphQLDataSource: `ok`, `status`, `statusText`, `url`,
 * the headers, the body as text or JSON), over undici's answer. No `clone()`: nothing reads a subgraph's
 * body twice.
 */
function fetcherResponse(
  url: string,
  { statusCode, headers, body }: Dispatcher.ResponseData,
): FetcherResponse {
  const responseHeaders = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value])
      responseHeaders.append(name, one);
  }
  return {
    url,
    status: statusCode,
    statusText: STATUS_CODES[statusCode] ?? "",
    ok: statusCode >= 200 && statusCode < 300,
    redirected: false,
    get bodyUsed() {
      return body.bodyUsed;
    },
    headers: responseHeaders,
    text: () => body.text(),
    json: () => body.json(),
    arrayBuffer: () => body.arrayBuffer(),
    clone() {
      throw new Error("a subgraph response is read once");
    },
  };
}
