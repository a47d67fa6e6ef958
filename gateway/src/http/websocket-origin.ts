import type { IncomingMessage } from "node:http";
import { type CorsOrigins, corsAllows } from "./cors.ts";

/**
 * Which WebSocket handshakes the gateway accepts, by their `Origin` (cross-site WebSocket hijacking: a
 * browser opens a WebSocket to any site from any page, and CORS does not apply to it). A browser always
 * sends `Origin`: it must be on the CORS allow-list or be the gateway's own origin (its GraphiQL page).
 * A client that is not a browser sends none and is let through: it could forge one anyway, and it
 * authenticates in connection_init like everyone else.
 */
export function websocketOriginAllowed(origins: CorsOrigins, request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (corsAllows(origins, origin)) return true;
  try {
    // Same origin: the page was served by this gateway (behind a TLS proxy the scheme differs, the host not).
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}
