import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
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
let PORT_BASE = 0;
let PG_PORT = 0;
let GATEWAY = "";

/** Whether nothing listens on `port` (IPv4 or IPv6): another platform on this machine may be running. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** A base port from `from` on whose `size` ports are all free. */
async function freePortRange(size: number, from: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * 1_000) * 10;
    const ports = Array.from({ length: size }, (_, i) => base + i);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error("no free range of ports found");
}

let dir: string;
beforeAll(async () => {
  // Below Linux's ephemeral ports (32768 and up), which the suite's own outgoing connections take.
  PORT_BASE = await freePortRange(6, 20_000); // gateway, four subgraphs, worker
  PG_PORT = await freePortRange(1, 10_000);
  GATEWAY = `http://127.0.0.1:${PORT_BASE}/graphql`;
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

    // The worker runs inside npm start: the sign-up's two mails reach the development mailbox, in
    // whichever order their jobs ran.
    const mails = await eventually(
      () => readMailbox(join(dir, "data", "mail"), { to: owner.email }),
      (m) => m.length >= 2,
    );
    expect(mails.map((m) => m.template).sort()).toEqual(["verify-email", "welcome"]);

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
