import { type AuditResult, serverAudits } from "graphql-http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Platform, startPlatform } from "../../test/platform.ts";

/**
 * The GraphQL over HTTP audits of graphql-http (the spec's reference implementation) against the real
 * gateway, one test per audit. MUST audits are the spec. SHOULD and MAY audits are asserted too: every
 * one of them passes today, graphql-http is pinned, and each covers something clients notice (status
 * codes on bad requests, no mutations over GET); a report that could never fail would guard nothing.
 */

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(() => platform?.close());

/**
 * The gateway refuses "simple" requests a browser would send cross-site without a CORS preflight (CSRF
 * prevention): a GET must carry a header no form or <img> can set. A real client sends it; so does the
 * audits' fetch. Everything else the audits send is untouched.
 */
const fetchWithCsrfHeader: typeof fetch = (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set("x-graphql-yoga-csrf", "1");
  return fetch(input, { ...init, headers });
};

// The URL is read when each audit runs, after beforeAll has started the platform.
const audits = serverAudits({ url: () => platform.gatewayUrl, fetchFn: fetchWithCsrfHeader });

/** The audit's status, and on failure its reason and the response that failed it. */
async function explain(result: AuditResult) {
  if (result.status === "ok") return { status: result.status };
  const body = await result.response.text().catch(() => "<unreadable body>");
  return { status: result.status, reason: result.reason, httpStatus: result.response.status, body };
}

describe.each([
  ["MUST", "the spec's requirements"],
  ["SHOULD", "the spec's recommendations"],
  ["MAY", "the spec's options the gateway takes"],
])("GraphQL over HTTP: %s audits (%s)", (level) => {
  const selected = audits.filter((audit) => audit.name.startsWith(`${level} `));

  it("has audits at this level (the filter matches graphql-http's names)", () => {
    expect(selected.length).toBeGreaterThan(0);
  });

  it.each(selected.map((audit) => [`${audit.id} ${audit.name}`, audit] as const))(
    "%s",
    async (_name, audit) => {
      expect(await explain(await audit.fn())).toEqual({ status: "ok" });
    },
  );
});
