// What the benchmarks share: the platform started as a user starts it (`npm start`, its services as
// separate processes), those processes watched from outside through /proc, and a plain GraphQL client.
import { spawn } from "node:child_process";
import { readdir, readFile, readlink } from "node:fs/promises";
import { createServer } from "node:net";
import { relative } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { request } from "undici";
import { SUBGRAPHS, type SubgraphName } from "../../scripts/subgraphs.ts";
import { freePort } from "../../test/redis.ts";
import { sleep, within } from "../stats.ts";

export { freePort };

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
/**
 * The Redis database `npm start` gets here: number 13 of REDIS_URL's server, emptied before each start.
 * Seeded tenants have the same ids in every run, so their monthly operation counts, rate-limit state and
 * cached plan limits would otherwise carry over from earlier runs (a Free tenant's 10,000 operations a
 * month ran out after a few runs: PLAN_LIMIT in the middle of a measurement). One benchmark at a time.
 */
export const PLATFORM_REDIS_URL = (() => {
  const url = new URL(REDIS_URL);
  url.pathname = "/13";
  return url.href;
})();
// Every wait on the system under test is bounded, so a broken platform fails the run instead of hanging.
const START_TIMEOUT_MS = 120_000;
/** How long a stop waits for the services to finish before it kills them. */
const STOP_TIMEOUT_MS = 20_000;

export type Service = "gateway" | "tenants" | "identity" | "projects" | "billing" | "worker";
export const SERVICES: Record<string, Service> = {
  gateway: "gateway",
  "subgraphs/tenants": "tenants",
  "subgraphs/identity": "identity",
  "subgraphs/projects": "projects",
  "subgraphs/billing": "billing",
  worker: "worker",
};

// ---------------------------------------------------------------------------------------------------
// The platform's processes, seen from outside: /proc is what an operator's tools would read too.

/** Resident memory (kB) and open descriptors of a process, from /proc/<pid>/status and /proc/<pid>/fd. */
export async function memoryOf(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kB = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return {
    rssKB: kB("VmRSS"),
    rssAnonKB: kB("RssAnon"),
    fds: (await readdir(`/proc/${pid}/fd`)).length,
  };
}

/** User + system CPU time of a process, in ms (USER_HZ is 100 on Linux). */
export async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * How long the process's main thread (its event loop) was ready to run but waited for a core, in ms
 * (/proc/<pid>/schedstat; 0 where the kernel keeps no scheduler statistics).
 */
export async function runQueueMsOf(pid: number): Promise<number> {
  const [, waitNs] = (await readFile(`/proc/${pid}/schedstat`, "utf8")).split(" ").map(Number);
  return Math.round((waitNs ?? 0) / 1e6);
}

/** Time in which at least one ready task waited for a core (Linux pressure stall information), in ms. */
export async function cpuPressureMs(): Promise<number | null> {
  const psi = await readFile("/proc/pressure/cpu", "utf8").catch(() => null);
  const total = psi && /^some .* total=(\d+)/m.exec(psi)?.[1];
  return total ? Number(total) / 1000 : null;
}

/**
 * The service processes `npm start` (pid `root`) started, by working directory: each runs
 * `node --import tsx src/index.ts` in its workspace. Only descendants of our own `npm start` count, so
 * another platform on the machine (a test run) is never measured by mistake.
 */
export async function findServices(root: number): Promise<Record<Service, number>> {
  const parents = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // exited meanwhile
    }
  }
  const descends = (pid: number) => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === root) return true;
    return false;
  };
  const found: Partial<Record<Service, number>> = {};
  for (const pid of parents.keys()) {
    if (!descends(pid)) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      if (!cmdline.includes("src/index.ts")) continue;
      const service = SERVICES[relative(ROOT, await readlink(`/proc/${pid}/cwd`))];
      if (service) found[service] = pid;
    } catch {
      // exited meanwhile
    }
  }
  const missing = Object.values(SERVICES).filter((s) => !found[s]);
  if (missing.length) throw new Error(`service processes not found under npm start: ${missing.join(", ")}`);
  return found as Record<Service, number>;
}

/**
 * A free block of six ports (gateway, four subgraphs, worker) so a developer's own platform is untouched.
 * Below Linux's ephemeral range (32768-60999): a port there can be taken by any outgoing connection
 * on the machine between this check and the service's listen.
 */
/**
 * The first of `size` consecutive free ports (10 at most), below Linux's ephemeral range (32768 and up):
 * a fixed port up there can be held at any moment by one of the thousands of outgoing connections a
 * benchmark opens, and `npm start` then fails with EADDRINUSE.
 */
export async function freePortBase(size = 6): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "0.0.0.0", () => server.close(() => resolve(true)));
    });
  // From a random block on: two benchmarks starting at once must not both pick the first free one.
  const first = Math.floor(Math.random() * 100);
  for (let i = 0; i < 100; i++) {
    const base = 27_000 + ((first + i) % 100) * 10;
    let ok = true;
    for (let port = base; ok && port < base + size; port++) ok = await free(port);
    if (ok) return base;
  }
  throw new Error("no free ports between 27000 and 28000");
}

export interface Platform {
  gatewayUrl: string;
  gatewayWsUrl: string;
  /** The gateway's port; the subgraphs listen on the next four (scripts/subgraphs.ts order). */
  portBase: number;
  /** Each subgraph's own GraphQL endpoint, as the gateway calls it. */
  subgraphUrls: Record<SubgraphName, string>;
  pids: Record<Service, number>;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  /** More settings for `npm start` (which passes its environment on to every service). */
  env?: Record<string, string>;
}

/**
 * `npm start` in its own process group, as a user runs it; resolves once it says it is ready. Tried
 * again on other ports if it stops before (a port taken meanwhile: the machine is shared).
 */
export async function startPlatform(
  databaseUrl: string,
  dataDir: string,
  options: PlatformOptions = {},
): Promise<Platform> {
  const redis = new Redis(PLATFORM_REDIS_URL, { lazyConnect: true });
  await redis.connect();
  await redis.flushdb();
  redis.disconnect();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPlatformOnce(databaseUrl, dataDir, options);
    } catch (error) {
      if (attempt === 3 || interrupted) throw error;
      console.log(`  npm start failed (${(error as Error).message}); again on other ports`);
    }
  }
}

/**
 * The platforms started and not stopped yet. They run in process groups of their own, which a
 * terminal's Ctrl-C does not reach: on SIGINT or SIGTERM the bench stops them itself, and its run then
 * fails where it waits on them, so its own clean-up (dropping its database) runs. A second signal quits
 * at once.
 */
const running = new Set<() => Promise<void>>();
let interrupted = false;
let listening = false;
/** True while any process of the group is left (signal 0 tests without sending). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function stopPlatformsOnInterrupt() {
  if (listening) return;
  listening = true;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      console.error(`\n${signal}: stopping the platform, then cleaning up (again to quit at once)`);
      for (const stop of running) void stop();
    });
  }
}

async function startPlatformOnce(
  databaseUrl: string,
  dataDir: string,
  options: PlatformOptions,
): Promise<Platform> {
  const portBase = await freePortBase();
  const child = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: PLATFORM_REDIS_URL,
      DATA_DIR: dataDir,
      PORT_BASE: String(portBase),
      LOG_LEVEL: "warn",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "inherit"],
    detached: true, // its own process group, so we can stop it like Ctrl-C does
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exit.then(() => {
    exited = true;
  });
  const stop = async () => {
    running.delete(stop);
    if (exited) return;
    process.kill(-child.pid!, "SIGINT");
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    const timer = setTimeout(
      () => groupAlive(child.pid!) && process.kill(-child.pid!, "SIGKILL"),
      STOP_TIMEOUT_MS,
    );
    await exit;
    // npm can exit before the services it started: wait for the whole group, or the caller's next step
    // (dropping the database) pulls connections from under a service still shutting down. Bounded: an
    // exited process nobody has reaped yet still counts.
    while (groupAlive(child.pid!) && Date.now() < deadline + 1_000) await sleep(100);
    clearTimeout(timer);
  };
  running.add(stop);
  stopPlatformsOnInterrupt();
  const ready = new Promise<void>((resolve, reject) => {
    // The services' warnings and errors (LOG_LEVEL=warn) pass through: they explain a failed run.
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (/\[platform\] ready in/.test(line)) resolve();
      else if (!line.startsWith("[platform]") || /exited|failed|stopping/.test(line))
        console.log(`  | ${line}`);
    });
    void exit.then(() => reject(new Error(`npm start exited with ${child.exitCode} before it was ready`)));
  });
  try {
    await within(ready, START_TIMEOUT_MS, () => "npm start was not ready");
    return {
      gatewayUrl: `http://127.0.0.1:${portBase}/graphql`,
      gatewayWsUrl: `ws://127.0.0.1:${portBase}/graphql`,
      portBase,
      subgraphUrls: Object.fromEntries(
        SUBGRAPHS.map(({ name }, i) => [name, `http://127.0.0.1:${portBase + 1 + i}/graphql`]),
      ) as Record<SubgraphName, string>,
      pids: await findServices(child.pid!),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// Clients of the gateway.

export interface GraphQLResult<T> {
  data?: T;
  errors?: Array<{ message: string }>;
}

export async function gql<T>(
  url: string,
  query: string,
  variables: object,
  token?: string,
  headers: Record<string, string> = {},
): Promise<T> {
  // undici's request rather than fetch: the load generator shares the machine with the platform it
  // measures, and fetch's Request, Response and web streams cost it about four times the CPU per request
  // (234 against 51 µs, client and a trivial server in one process, warm).
  const response = await request(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.body.json()) as GraphQLResult<T>;
  if (!body.data || body.errors?.length)
    throw new Error(`${response.statusCode} ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Runs `work` on every item with at most `limit` in flight; results in item order. */
export async function inPool<T, R>(items: T[], limit: number, work: (item: T, i: number) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!, i);
      }
    }),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------------
// CPU, per process and for the machine.

/** CPU time the whole machine spent busy (every process, the kernel; not idle or waiting), in ms. */
export async function machineBusyMs(): Promise<number> {
  const [, ...ticks] = (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal, in USER_HZ (10 ms) ticks
  const [user, nice, system, , , irq, softirq, steal] = ticks as number[];
  return (user! + nice! + system! + irq! + softirq! + steal!) * 10;
}

/**
 * Runs `work` and reports the CPU each process spent meanwhile, in ms and in cores kept busy, and what
 * the rest of the machine spent (PostgreSQL, Redis, the kernel, anything else running).
 */
export async function cpuWhile<T>(pids: Record<string, number>, work: () => Promise<T>) {
  const sample = async () => {
    const processes = await Promise.all(
      Object.entries(pids).map(
        async ([name, pid]) => [name, await cpuMsOf(pid), await runQueueMsOf(pid)] as const,
      ),
    );
    return { processes, machine: await machineBusyMs(), pressure: await cpuPressureMs() };
  };
  const before = await sample();
  const started = performance.now();
  const result = await work();
  const wallMs = performance.now() - started;
  const after = await sample();
  const cores = (ms: number) => Math.round((ms / wallMs) * 100) / 100;
  const cpu: Record<string, { cpuMs: number; cores: number; waitedForCpuMs?: number }> = {};
  let total = 0;
  for (const [i, [name, cpuMs, waitedMs]] of after.processes.entries()) {
    const [, cpuBefore, waitedBefore] = before.processes[i]!;
    total += cpuMs - cpuBefore;
    cpu[name] = {
      cpuMs: cpuMs - cpuBefore,
      cores: cores(cpuMs - cpuBefore),
      waitedForCpuMs: waitedMs - waitedBefore,
    };
  }
  cpu.total = { cpuMs: total, cores: cores(total) };
  const machineMs = after.machine - before.machine;
  cpu["rest of the machine"] = { cpuMs: machineMs - total, cores: cores(machineMs - total) };
  cpu.machine = { cpuMs: machineMs, cores: cores(machineMs) };
  // Share of the time in which some ready task (ours, PostgreSQL's, anyone's) waited for a core.
  const stalled =
    after.pressure === null || before.pressure === null
      ? null
      : Math.round(((after.pressure - before.pressure) / wallMs) * 1000) / 10;
  return { result, cpu, cpuPressurePercent: stalled, wallMs: Math.round(wallMs) };
}
