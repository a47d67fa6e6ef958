import type { Plugin } from "graphql-yoga";

/**
 * A subgraph that refuses with RATE_LIMITED says when to come back in `extensions.retryAfter`
 * (seconds): the response carries it as `Retry-After`, which HTTP clients and proxies understand.
 */
export function useRetryAfter(): Plugin {
  const waits = new WeakMap<Request, number>();
  return {
    onExecute({ args }) {
      const request = (args.contextValue as { request?: Request }).request;
      return {
        onExecuteDone({ result }) {
          if (!request || !("errors" in result)) return;
          for (const error of result.errors ?? []) {
            const { code, retryAfter } = error.extensions ?? {};
            if (code === "RATE_LIMITED" && typeof retryAfter === "number" && retryAfter > 0) {
              waits.set(request, Math.max(waits.get(request) ?? 0, Math.ceil(retryAfter)));
            }
          }
        },
      };
    },
    onResponse({ request, response }) {
      const wait = waits.get(request);
      if (wait !== undefined) response.headers.set("retry-after", String(wait));
    },
  };
}
