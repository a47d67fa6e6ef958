import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform } from "../../test/platform.ts";
import { createScratchDatabase } from "../../test/scratch-db.ts";

/**
 * The explorer as a person uses it, in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): open GraphiQL at GET /graphql, put the token in the header editor, run a query and
 * read the data; start a subscription (graphql-ws through the gateway), and see the event a mutation
 * causes arrive in the result pane. Skipped, and said so, where no chromium is installed (.ci/run
 * installs it).
 */

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
if (!CHROMIUM) console.warn("\n[tests] no chromium installed: the explorer browser test is skipped\n");

/** Headless, and nothing that reaches past this machine (updates, sync, field trials, QUIC probes). */
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Replaces the text of the Monaco editor under `selector`, as typing (pasting) into it would. */
async function setEditor(page: Page, selector: string, text: string) {
  await page.click(`${selector} .monaco-editor`);
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(text);
}

/** What the result pane shows, as text (Monaco renders spaces as no-break spaces). */
async function resultPane(page: Page): Promise<string> {
  return ((await page.textContent(".graphiql-response")) ?? "").replace(/\u00a0/g, " ");
}

describe.skipIf(!CHROMIUM)("the explorer in Chromium", () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let platform: Platform;
  let context: BrowserContext;
  let profile: string;
  beforeAll(async () => {
    // The worker's relay delivers the task events: a database of its own (one relay per database).
    scratch = await createScratchDatabase(inject("databaseUrl"));
    platform = await startPlatform(scratch.url, { worker: true });
    profile = await mkdtemp(join(tmpdir(), "coditect-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
    });
  });
  afterAll(async () => {
    await context?.close();
    await platform?.close();
    await scratch?.drop();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it("runs a query with the token from the header editor, then shows a subscription's event", async () => {
    const { token } = await signUpTenant(platform.gatewayUrl, "explorer");
    const page = await context.newPage();
    const websockets: string[] = [];
    page.on("websocket", (socket) => websockets.push(socket.url()));
    await page.goto(platform.gatewayUrl);
    await page.waitForSelector(".graphiql-query-editor .monaco-editor", { timeout: 30_000 });

    await page.getByRole("button", { name: "Headers" }).click();
    await setEditor(
      page,
      ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
      JSON.stringify({ Authorization: `Bearer ${token}` }),
    );
    await setEditor(page, ".graphiql-query-editor", "query Organization { currentOrganization { name } }");
    await page.getByRole("button", { name: /^Execute query/ }).click();
    await expect.poll(() => resultPane(page), { timeout: 15_000 }).toContain('"name": "explorer Inc"');

    const project = await gql(
      platform.gatewayUrl,
      `mutation { createProject(input: { name: "Board" }) { project { id } } }`,
      { token },
    );
    const projectId = project.data!.createProject.project.id as string;
    const streamsBefore = platform.subgraphCalls.filter((c) => c.subgraph === "projects").length;
    await setEditor(
      page,
      ".graphiql-query-editor",
      `subscription Board { taskChanged(projectId: "${projectId}") { kind task { title } } }`,
    );
    const execute = page.getByRole("button", { name: /^Execute query/ });
    const streams = () => platform.subgraphCalls.filter((c) => c.subgraph === "projects").length;
    await execute.click();
    // The gateway opened the subscription's stream to projects: the event will reach it. A click the
    // busy editor lost leaves the button as it was (a running subscription turns it into Stop): once more.
    try {
      await expect.poll(streams, { timeout: 10_000 }).toBeGreaterThan(streamsBefore);
    } catch {
      if ((await execute.count()) > 0) await execute.click();
      await expect.poll(streams, { timeout: 20_000 }).toBeGreaterThan(streamsBefore);
    }

    const task = await gql(
      platform.gatewayUrl,
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
      { token, variables: { input: { projectId, title: "Seen in the explorer" } } },
    );
    expect(task.errors).toBeUndefined();
    await expect
      .poll(() => resultPane(page), { timeout: 20_000 })
      .toContain('"title": "Seen in the explorer"');
    expect(await resultPane(page)).toContain('"kind": "CREATED"');
    // Over graphql-ws, to the gateway's own /graphql.
    expect(websockets).toEqual([platform.gatewayWsUrl]);
    // A real browser loading a few MB of editor: generous on a busy machine.
  }, 120_000);
});
