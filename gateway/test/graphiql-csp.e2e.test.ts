import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Platform, signUpTenant, startPlatform } from "../../test/platform.ts";

/**
 * The GraphiQL page runs under the gateway's Content-Security-Policy, in a real headless Chromium
 * (Debian's `chromium`, driven by playwright-core): the explorer renders, loads the schema's docs, and
 * reaches the gateway over HTTP and graphql-ws, and the browser reports no CSP violation. A CSP that
 * blocked the page's inline scripts would leave an empty page and a console full of refusals.
 */

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
if (!CHROMIUM) console.warn("\n[tests] no chromium installed: the GraphiQL CSP browser test is skipped\n");

describe.skipIf(!CHROMIUM)("GraphiQL under the gateway's CSP, in Chromium", () => {
  let platform: Platform;
  let browser: Browser;
  beforeAll(async () => {
    platform = await startPlatform(inject("databaseUrl"));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
    await platform?.close();
  });

  it("renders, shows the schema's docs, queries with a token and opens graphql-ws, with no CSP violation", async () => {
    const { token } = await signUpTenant(platform.gatewayUrl, "explorer");
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));

    const response = await page.goto(platform.gatewayUrl);
    expect(response?.headers()["content-security-policy"]).toMatch(/script-src 'self' 'sha256-/);
    await page.waitForSelector(".graphiql-container", { timeout: 40_000 });
    // The docs come from an introspection query the page sends itself.
    await page.click('[aria-label="Show Documentation Explorer"]');
    await expect
      .poll(() => page.textContent(".graphiql-doc-explorer"), { timeout: 10_000 })
      .toContain("subscription: Subscription");

    const fromPage = await page.evaluate(async (accessToken) => {
      const answer = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}` },
        body: JSON.stringify({ query: "{ currentOrganization { name } }" }),
      });
      const ack = await new Promise<string>((resolve) => {
        const socket = new WebSocket(location.href.replace(/^http/, "ws"), "graphql-transport-ws");
        socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init" }));
        socket.onmessage = (event) => {
          resolve(JSON.parse(String(event.data)).type);
          socket.close();
        };
        socket.onerror = () => resolve("error");
      });
      return { query: await answer.json(), ack };
    }, token);
    expect(fromPage).toEqual({
      query: { data: { currentOrganization: { name: "explorer Inc" } } },
      ack: "connection_ack",
    });
    expect(problems).toEqual([]);
    // A sign-up, Chromium loading GraphiQL and its introspection: more than 30 s on a busy machine.
  }, 90_000);
});
