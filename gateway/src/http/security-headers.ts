import { createHash } from "node:crypto";
import type { Plugin } from "graphql-yoga";

/** API responses (JSON, event streams) are never rendered: nothing may load, nothing may frame them. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The GraphiQL page's policy: its scripts are inlined (no CDN) and allowed by their hashes, nothing else
 * inline runs; its editor starts web workers from blobs and injects styles at run time; it talks to this
 * origin only (HTTP, and graphql-ws: CSP 3 lets 'self' match ws:/wss: on the same host). Nothing from
 * elsewhere loads; nothing frames it. Checked in Chromium: the explorer, its docs and graphql-ws run.
 */
function graphiqlCsp(scriptHashes: Iterable<string>) {
  return [
    "default-src 'self'",
    `script-src 'self' ${[...scriptHashes].join(" ")} blob:`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join("; ");
}

const INLINE_SCRIPT = /<script(?:\s[^>]*)?>([\s\S]*?)<\/script>/g;

/**
 * Wraps yoga's GraphiQL renderer: renders each page once (it is a few MB of inlined assets) and keeps the
 * CSP hashes of its inline scripts for {@link useSecurityHeaders}.
 */
export function graphiqlWithCsp<O>(render: (options: O) => string) {
  const pages = new Map<string, string>();
  const scriptHashes = new Set<string>();
  return {
    render(options: O): string {
      const key = JSON.stringify(options ?? {});
      let page = pages.get(key);
      if (page === undefined) {
        page = render(options);
        for (const [tag, body] of page.matchAll(INLINE_SCRIPT)) {
          if (/\ssrc=/.test(tag.slice(0, tag.indexOf(">")))) continue;
          scriptHashes.add(`'sha256-${createHash("sha256").update(body!, "utf8").digest("base64")}'`);
        }
        pages.set(key, page);
      }
      return page;
    },
    scriptHashes,
  };
}

export interface SecurityHeaderOptions {
  /** Strict-Transport-Security max-age in seconds; 0 sends none (the gateway is not behind HTTPS). */
  hstsMaxAge: number;
  /** CSP sources of the GraphiQL page's inline scripts ({@link graphiqlWithCsp}). */
  graphiqlScripts: Iterable<string>;
}

/**
 * Security headers on every response: no MIME sniffing, no referrer, no framing, a locked-down CSP
 * (the GraphiQL page gets the one it needs to run), and HSTS when the gateway is served over HTTPS.
 */
export function useSecurityHeaders(options: SecurityHeaderOptions): Plugin {
  return {
    onResponse({ response }) {
      const headers = response.headers;
      const html = headers.get("content-type")?.startsWith("text/html") ?? false;
      headers.set("x-content-type-options", "nosniff");
      headers.set("referrer-policy", "no-referrer");
      headers.set("x-frame-options", "DENY");
      headers.set("cross-origin-opener-policy", "same-origin");
      headers.set("content-security-policy", html ? graphiqlCsp(options.graphiqlScripts) : API_CSP);
      if (options.hstsMaxAge > 0)
        headers.set("strict-transport-security", `max-age=${options.hstsMaxAge}; includeSubDomains`);
    },
  };
}
