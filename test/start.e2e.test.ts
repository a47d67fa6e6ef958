import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMailbox } from "../worker/src/mail/mailer.ts";
import { eventually } from "./eventually.ts";
import { gql, signUpTenant } from "./platform.ts";

/**
 * `npm start` as a newcomer runs it: no DATABASE_URL, so an embedded PostgreSQL in DATA_DIR. Ports are
 * moved off the defaults so a platform running on this machine does not collide with the test.
 */
const PORT_BASE = 36_000 + Math.floor(Math.random() * 1_000) * 10;
const PG_PORT = 46_000 + Math.floor(Math.random() * 4_000);
const GATEWAY = `http://127.0.0.1:${PORT_BASE}/graphql`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "coditect-start-"));
  await chmod(dir, 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function start(): { child: ChildProcess; ready: Promise<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    env: {
      ...process.env,
      DATABASE_URL: "",
      DATA_DIR: join(dir, "data"),
      PORT_BASE: String(PORT_BASE),
      EMBEDDED_PG_PORT: String(PG_PORT),
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("GraphiQL: ")) resolve(output);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) =>
      reject(new Error(`npm start exited (${code}) before it was ready:\n${output}`)),
    );
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, ready, exited };
}

describe("npm start on the embedded default", () => {
  let token: string;

  it("starts everything, serves GraphiQL and answers a federated query", async () => {
    const platform = start();
    const output = await platform.ready;
    expect(output).toContain(`GraphiQL: http://localhost:${PORT_BASE}/graphql`);

    const page = await fetch(GATEWAY, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("CODITECT Platform");

    const owner = await signUpTenant(GATEWAY, "starter");
    token = owner.token;
    const created = await gql(
      GATEWAY,
      `mutation { createProject(input: { name: "First" }) { project { id } } }`,
      {
        token,
      },
    );
    expect(created.errors).toBeUndefined();

    // The worker runs inside npm start: the sign-up's welcome mail reaches the development mailbox.
    const mails = await eventually(
      () => readMailbox(join(dir, "data", "mail"), { to: owner.email }),
      (m) => m.length > 0,
    );
    expect(mails[0]!.template).toBe("welcome");

    platform.child.kill("SIGINT");
    expect(await platform.exited).toBe(0);
    // Ctrl-C stopped the embedded PostgreSQL too.
    expect(existsSync(join(dir, "data", "postgres", "postmaster.pid"))).toBe(false);
  }, 120_000);

  it("keeps data and signing keys in DATA_DIR between runs", async () => {
    const platform = start();
    await platform.ready;
    // The token from the first run still verifies: the keys were kept, and so was the project.
    const projects = await gql(GATEWAY, "{ projects { edges { node { name } } } }", { token });
    expect(projects.errors).toBeUndefined();
    expect(projects.data!.projects.edges).toEqual([{ node: { name: "First" } }]);
    platform.child.kill("SIGINT");
    expect(await platform.exited).toBe(0);
  }, 120_000);
});
