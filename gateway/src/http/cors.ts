import { REQUEST_ID_HEADER } from "@app/common";
import type { Plugin, YogaServerOptions } from "graphql-yoga";

/** `localhost`: any origin on localhost, 127.0.0.1 or [::1], whatever the scheme and port (development). */
export type CorsOrigins = string[] | "localhost";

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Whether a browser page from `origin` may call the gateway. */
export function corsAllows(origins: CorsOrigins, origin: string): boolean {
  if (origins !== "localhost") return origins.includes(origin);
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && LOCAL_HOSTS.has(url.hostname);
  } catch {
    return false;
  }
}

/**
 * yoga's CORS, limited to an allow-list: an allowed origin gets itself back (with `Vary: Origin`) and
 * the headers a GraphQL client sends; any other origin gets no CORS header at all, so the browser keeps
 * the response from the page. Tokens travel in `Authorization`, never in cookies: no credentials.
 */
export function corsOptions(origins: CorsOrigins): NonNullable<YogaServerOptions<object, object>["cors"]> {
  return (request: Request) => {
    const origin = request.headers.get("origin");
    if (!origin || !corsAllows(origins, origin)) return false;
    return {
      origin: [origin],
      methods: ["GET", "POST"],
      allowedHeaders: [
        "authorization",
        "content-type",
        "accept",
        REQUEST_ID_HEADER,
        "x-graphql-yoga-csrf",
        "apollo-require-preflight",
        "x-apollo-operation-name",
      ],
      exposedHeaders: [REQUEST_ID_HEADER],
      credentials: false,
      maxAge: 600,
    };
  };
}

/**
 * Whether a response carries CORS headers depends on the request's Origin, so every response says so
 * (`Vary: Origin`): a shared cache must not hand one origin's answer to another.
 */
export function useVaryOrigin(): Plugin {
  return {
    onResponse({ response }) {
      const vary = response.headers.get("vary");
      if (!vary?.split(",").some((v) => v.trim().toLowerCase() === "origin"))
        response.headers.append("vary", "Origin");
    },
  };
}
