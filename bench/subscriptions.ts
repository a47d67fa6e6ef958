// `npx tsx bench/subscriptions.ts [--smoke]`: realtime at scale through one gateway (issue 7's target).
// N subscribers (default 5,000) over T tenants (500), each its own graphql-ws connection to the gateway,
// subscribed to `taskChanged` of one of its tenant's projects (2 per tenant, so 5 subscribers a
// project), while tasks are created at R/s (100) for D seconds (30), round-robin over the tenants. It
// reports delivery latency from commit to client (split where the relay's announcement reaches Redis,
// which a subscriber of the bench's own hears), deliveries received against expected (every
// subscriber of a project gets each of its events exactly once), wrong deliveries (another tenant's or
// another project's task), and the memory an idle subscription costs the gateway and the projects
// subgraph; and, to explain the figures, the same mutations with nobody subscribed, the CPU of every
// process, event-loop delay and GC pauses of the services on the delivery path.
//
// The platform runs as in production, as separate processes: `npm start` with a data folder of its own,
// a scratch database and the machine's Redis. The subscribers run in forked Node processes
// (bench/subscriptions.subscribers.ts), not in the gateway's, but on the same two cores: their CPU is
// measured and reported beside the services'. Tenants sign up through the gateway like real users
// (scrypt and all), a few at a time. Memory and event-loop figures come from each service's inspector
// (bench/inspector.ts), opened with SIGUSR1 for a moment. Everything started is stopped, and the
// database dropped, whatever happens.
//
// Flags: `--smoke` (a few tenants in seconds, for CI; writes to a temp file only), `--subscribers N`,
// `--tenants T`, `--rate R`, `--seconds D`, `--processes K` (subscriber processes), `--profile <service>`
// (CPU profile during the load), `--heap-profile <service>` (what the subscriptions keep) and `--role`
// (subscribers also select the assignee's `role`, identity's alone, so each event crosses to identity).
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { tenantStreamKey } from "../worker/src/outbox/redis-sink.ts";
import {
  type CpuProfile,
  cpuProfile,
  type LoopStats,
  memoryAfterGc,
  readLoopStats,
  retainedAllocations,
  startLoopStats,
  summarizeProfile,
} from "./inspector.ts";
import {
  cpuWhile,
  gql,
  inPool,
  memoryOf,
  PLATFORM_REDIS_URL,
  type Platform,
  ROOT,
  type Service,
  startPlatform,
} from "./lib/platform.ts";
import { machine } from "./machine.ts";
import { sleep, summarize, within } from "./stats.ts";
import {
  type Delivery,
  epochNow,
  type FromSubscribers,
  type SubscriberSpec,
  type ToSubscribers,
  taskChangedDocument,
  taskTitle,
} from "./subscriptions.subscribers.ts";

const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

const { values: flags } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    subscribers: { type: "string" },
    tenants: { type: "string" },
    rate: { type: "string" },
    seconds: { type: "string" },
    processes: { type: "string" },
    /** CPU-profile one service (gateway, projects, identity...) during the measured load. */
    profile: { type: "string" },
    /** Sample what one service's heap keeps while the subscribers connect. */
    "heap-profile": { type: "string" },
    /** Also select the assignee's `role`, which only identity answers: every event crosses to identity. */
    role: { type: "boolean" },
  },
});
const SMOKE = flags.smoke!;
const SUBSCRIPTION = taskChangedDocument(flags.role === true);
for (const flag of ["profile", "heap-profile"] as const) {
  const service = flags[flag];
  if (service && !["gateway", "tenants", "identity", "projects", "billing", "worker"].includes(service))
    throw new Error(`--${flag}: not a service: ${service}`);
}
const DEFAULTS = SMOKE
  ? { subscribers: 40, tenants: 4, rate: 20, seconds: 2, processes: 1 }
  : { subscribers: 5_000, tenants: 500, rate: 100, seconds: 30, processes: 2 };
const count = (value: string | undefined, fallback: number) => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${value}`);
  return n;
};
const SIZE = {
  subscribers: count(flags.subscribers, DEFAULTS.subscribers),
  tenants: count(flags.tenants, DEFAULTS.tenants),
  projectsPerTenant: 2,
  ratePerSecond: count(flags.rate, DEFAULTS.rate),
  seconds: count(flags.seconds, DEFAULTS.seconds),
  subscriberProcesses: count(flags.processes, DEFAULTS.processes),
};
const TARGETS = { p99Ms: 100, gatewayKBPerSubscription: 50 };
/** Sign-ups in flight: each is one scrypt hash (~50 ms of a core, 32 MiB) in identity's thread pool. */
const SIGN_UP_CONCURRENCY = 4;
const MUTATION_CONCURRENCY = 8;
/** WebSocket handshakes in flight per subscriber process. */
const CONNECT_CONCURRENCY = 50;
// Every wait on the system under test is bounded, so a broken platform fails the run instead of hanging.
const CONNECT_TIMEOUT_MS = 600_000;
const DRAIN_TIMEOUT_MS = 60_000;
const IPC_TIMEOUT_MS = 60_000;
/** The load with nobody subscribed, for comparison. */
const BASELINE_SECONDS = SMOKE ? 1 : 10;

// ---------------------------------------------------------------------------------------------------
// The platform's processes (bench/lib/platform.ts) and their memory.

/**
 * Memory of a service after a forced full garbage collection (through its inspector), so that garbage
 * not yet collected does not count as the subscriptions' memory: V8's heap, off-heap buffers and RSS.
 * Without the inspector (port 9229 taken) the RSS is read as it is, and the heap is left out.
 */
async function serviceMemory(pid: number) {
  const heap = await memoryAfterGc(pid).catch((error: Error) => {
    console.warn(`  no heap figures for process ${pid}: ${error.message}`);
    return null;
  });
  return { ...(await memoryOf(pid)), ...heap };
}
type Memory = Awaited<ReturnType<typeof serviceMemory>>;

/**
 * The GraphQL requests a service has answered so far, from its /metrics: during the load, identity's
 * are the `_entities` fetches the subscriptions' events cost (one per event when the subscribers of a
 * project share its answer, one per subscriber when they do not).
 */
async function requestsAnswered(graphqlUrl: string): Promise<number> {
  const metrics = await (await fetch(new URL("/metrics", graphqlUrl))).text();
  return metrics
    .split("\n")
    .filter((line) => line.startsWith("graphql_requests_total{"))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

// ---------------------------------------------------------------------------------------------------
// Clients of the gateway.

const SIGN_UP = `mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken organizationId user { id email } }
}`;
const CREATE_PROJECT = `mutation($name: String!) { createProject(input: { name: $name }) { project { id } } }`;
const CREATE_TASK = `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`;

interface Tenant {
  token: string;
  userId: string;
  email: string;
  /** The Redis stream keys to clean up are named by it. */
  tenantId: string;
  projectIds: string[];
}

async function seedTenants(gatewayUrl: string, runId: string): Promise<Tenant[]> {
  const indexes = Array.from({ length: SIZE.tenants }, (_, i) => i);
  const owners = await inPool(indexes, SIGN_UP_CONCURRENCY, async (i) => {
    const { signUp } = await gql<{
      signUp: { accessToken: string; organizationId: string; user: { id: string; email: string } };
    }>(gatewayUrl, SIGN_UP, {
      input: {
        email: `bench-${runId}-${i}@example.test`,
        password: "correct horse battery staple",
        organizationName: `Bench ${i}`,
      },
    });
    return {
      token: signUp.accessToken,
      tenantId: signUp.organizationId,
      userId: signUp.user.id,
      email: signUp.user.email,
    };
  });
  const pairs = indexes.flatMap((t) => Array.from({ length: SIZE.projectsPerTenant }, (_, p) => [t, p]));
  const projectIds = await inPool(pairs, MUTATION_CONCURRENCY, async ([t, p]) => {
    const data = await gql<{ createProject: { project: { id: string } } }>(
      gatewayUrl,
      CREATE_PROJECT,
      { name: `Board ${p}` },
      owners[t!]!.token,
    );
    return data.createProject.project.id;
  });
  return owners.map((owner, t) => ({
    ...owner,
    projectIds: projectIds.slice(t * SIZE.projectsPerTenant, (t + 1) * SIZE.projectsPerTenant),
  }));
}

/** Subscriber i belongs to tenant i mod T, on that tenant's project ⌊i / T⌋ mod P. */
const tenantOf = (i: number) => i % SIZE.tenants;
const projectOf = (i: number) => Math.floor(i / SIZE.tenants) % SIZE.projectsPerTenant;

// ---------------------------------------------------------------------------------------------------
// Subscriber processes.

interface Subscribers {
  process: ChildProcess;
  specs: SubscriberSpec[];
  request<T extends FromSubscribers["type"]>(
    message: ToSubscribers,
    reply: T,
    timeoutMs?: number,
  ): Promise<Extract<FromSubscribers, { type: T }>>;
  close(): Promise<void>;
}

function forkSubscribers(specs: SubscriberSpec[]): Subscribers {
  const child = fork(fileURLToPath(new URL("./subscriptions.subscribers.ts", import.meta.url)), [], {
    cwd: ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    process: child,
    specs,
    request(message, reply, timeoutMs = IPC_TIMEOUT_MS) {
      const answer = new Promise<never>((resolve, reject) => {
        const onMessage = (m: FromSubscribers) => {
          if (m.type !== reply) return;
          child.off("message", onMessage);
          resolve(m as never);
        };
        child.on("message", onMessage);
        void exit.then(() => reject(new Error(`subscriber process exited (${child.exitCode})`)));
      });
      child.send(message);
      return within(answer, timeoutMs, () => `no "${reply}" from the subscriber process`);
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ type: "close" } satisfies ToSubscribers);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

const statusOf = (groups: Subscribers[]) =>
  Promise.all(groups.map((g) => g.request({ type: "status" }, "status")));

/**
 * Subscribing is acknowledged to nobody: the gateway opens the subgraph stream and the subgraph listens
 * on Redis after the client's `subscribe` message. So each project gets a probe task, again for those
 * whose subscribers missed it, until every subscriber has seen one; measured events come after.
 */
async function probeUntilReady(gatewayUrl: string, tenants: Tenant[], groups: Subscribers[]) {
  const started = performance.now();
  for (let round = 1; round <= 5; round++) {
    const unprobed = (await statusOf(groups)).flatMap((s) => s.unprobed);
    if (unprobed.length === 0) return { rounds: round - 1, ms: Math.round(performance.now() - started) };
    const projects = new Map<string, [Tenant, string]>();
    for (const i of unprobed) {
      const tenant = tenants[tenantOf(i)]!;
      const projectId = tenant.projectIds[projectOf(i)]!;
      projects.set(projectId, [tenant, projectId]);
    }
    await inPool([...projects.values()], MUTATION_CONCURRENCY, ([tenant, projectId]) =>
      gql(
        gatewayUrl,
        CREATE_TASK,
        { input: { projectId, title: taskTitle("probe", projectId), assigneeId: tenant.userId } },
        tenant.token,
      ),
    );
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline) {
      await sleep(250);
      if ((await statusOf(groups)).every((s) => s.unprobed.length === 0)) break;
    }
  }
  const left = (await statusOf(groups)).flatMap((s) => s.unprobed).length;
  if (left) throw new Error(`${left} subscribers never received a probe event`);
  return { rounds: 5, ms: Math.round(performance.now() - started) };
}

// ---------------------------------------------------------------------------------------------------
// The measured load.

interface Sent {
  projectId: string;
  sentAt: number;
  respondedAt?: number;
  taskId?: string;
  error?: string;
}

/** Open loop: mutation j is due at j/R whatever the previous ones took, as independent users would. */
async function sendLoad(
  gatewayUrl: string,
  tenants: Tenant[],
  seconds: number,
): Promise<{ sent: Sent[]; seconds: number; lastAnswerSeconds: number }> {
  const total = SIZE.ratePerSecond * seconds;
  const sent: Sent[] = [];
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  for (let j = 0; j < total; j++) {
    const wait = started + (j * 1000) / SIZE.ratePerSecond - performance.now();
    if (wait > 0) await sleep(wait);
    const tenant = tenants[j % SIZE.tenants]!;
    const projectId = tenant.projectIds[Math.floor(j / SIZE.tenants) % SIZE.projectsPerTenant]!;
    const record: Sent = { projectId, sentAt: epochNow() };
    sent.push(record);
    const title = taskTitle("bench", projectId, j, record.sentAt);
    inFlight.push(
      gql<{ createTask: { task: { id: string } } }>(
        gatewayUrl,
        CREATE_TASK,
        { input: { projectId, title, assigneeId: tenant.userId } },
        tenant.token,
      ).then(
        (data) => {
          record.respondedAt = epochNow();
          record.taskId = data.createTask.task.id;
        },
        (error: Error) => {
          // fetch's own message is "fetch failed"; what failed is in its cause.
          const cause = error.cause as { code?: string; message?: string } | undefined;
          record.error = cause ? `${error.message}: ${cause.code ?? cause.message}` : error.message;
        },
      ),
    );
  }
  const sendingSeconds = (performance.now() - started) / 1000;
  await within(Promise.all(inFlight), DRAIN_TIMEOUT_MS, () => "mutations did not all answer");
  return { sent, seconds: sendingSeconds, lastAnswerSeconds: (performance.now() - started) / 1000 };
}

/** Every subscriber of a project gets each of its events: the sum over answered mutations. */
const expectedDeliveries = (sent: Sent[], subscribersOf: Map<string, number[]>) =>
  sent.reduce((n, s) => n + (s.taskId ? (subscribersOf.get(s.projectId)?.length ?? 0) : 0), 0);

/** Checks every delivery against what was sent, and times it. */
function analyse(
  sent: Sent[],
  subscribersOf: Map<string, number[]>,
  deliveries: Delivery[],
  committedAt: Map<string, number> | null,
  announcedAt: Map<string, number>,
) {
  const expected = expectedDeliveries(sent, subscribersOf);
  const seen = new Set<string>();
  let duplicates = 0;
  let mismatched = 0;
  const sinceSend: number[] = [];
  const sinceWritten: number[] = [];
  const sinceCommit: number[] = [];
  const sinceResponse: number[] = [];
  const sinceAnnounced: number[] = [];
  for (const [subscriber, seq, taskId, receivedAt, writtenAt] of deliveries) {
    const s = sent[seq];
    // The subscriber checked the title's project; the task id ties the event to the mutation's answer.
    if (!s || s.taskId !== taskId || !subscribersOf.get(s.projectId)?.includes(subscriber)) {
      mismatched++;
      continue;
    }
    const key = `${subscriber} ${seq}`;
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    sinceSend.push(receivedAt - s.sentAt);
    sinceWritten.push(receivedAt - writtenAt);
    const committed = committedAt?.get(taskId);
    if (committed !== undefined) sinceCommit.push(receivedAt - committed);
    sinceResponse.push(receivedAt - s.respondedAt!);
    const announced = announcedAt.get(taskId);
    if (announced !== undefined) sinceAnnounced.push(receivedAt - announced);
  }
  // The relay's hop, once per task (not per subscriber).
  const commitToRedis = sent.flatMap((s) => {
    const committed = s.taskId ? committedAt?.get(s.taskId) : undefined;
    const announced = s.taskId ? announcedAt.get(s.taskId) : undefined;
    return committed !== undefined && announced !== undefined ? [announced - committed] : [];
  });
  return {
    expected,
    received: deliveries.length,
    unique: seen.size,
    missing: expected - seen.size,
    duplicates,
    mismatched,
    sinceSend,
    sinceWritten,
    sinceCommit,
    sinceResponse,
    commitToRedis,
    sinceAnnounced,
  };
}

/**
 * When each task's `task.changed` reached Redis (epoch ms), heard by a pattern subscriber of the bench's
 * own: it splits the latency into the relay's hop (commit to Redis) and the rest (Redis to the client:
 * projects, then the gateway). Its clock is the bench process's, which also sends the load, so a
 * timestamp can be a little late: the first half then reads longer and the second shorter.
 */
async function tapAnnouncements() {
  const tap = new Redis(PLATFORM_REDIS_URL);
  const announcedAt = new Map<string, number>();
  tap.on("pmessage", (_pattern: string, _channel: string, message: string) => {
    const at = epochNow();
    if (!message.includes('"task.changed"')) return;
    const event = JSON.parse(message) as { topic?: string; payload?: { task?: { id?: string } } };
    const id = event.payload?.task?.id;
    if (event.topic === "task.changed" && id && !announcedAt.has(id)) announcedAt.set(id, at);
  });
  await tap.psubscribe("events:*");
  return { announcedAt, close: () => tap.disconnect() };
}

/**
 * When each task committed, by id, from PostgreSQL's commit timestamps (epoch ms, this machine's clock,
 * as the subscribers' receipt times are): exact where `track_commit_timestamp` is on (a server setting,
 * `ALTER SYSTEM SET track_commit_timestamp = on` and a restart), null where it is off. The tasks are
 * only ever created, so each row's xmin is the transaction that created it.
 */
async function commitTimes(databaseUrl: string, taskIds: string[]): Promise<Map<string, number> | null> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: setting } = await client.query<{ on: boolean }>(
      "SELECT current_setting('track_commit_timestamp') = 'on' AS on",
    );
    if (!setting[0]?.on) return null;
    const { rows } = await client.query<{ id: string; ms: number }>(
      "SELECT id::text, extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000 AS ms FROM tasks WHERE id = ANY($1::uuid[])",
      [taskIds],
    );
    return new Map(rows.map((r) => [r.id, Number(r.ms)]));
  } finally {
    await client.end();
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const withMax = (ms: number[]) =>
  ms.length ? { ...summarize(ms), max: round1(Math.max(...ms)), min: round1(Math.min(...ms)) } : null;

/** Memory of gateway and projects before and after `n` subscriptions, per subscription. */
function perSubscription(before: Memory, after: Memory, n: number) {
  const per = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? null : round1((a - b) / n);
  return {
    before,
    after,
    rssKBPerSubscription: per(after.rssKB, before.rssKB)!,
    rssAnonKBPerSubscription: per(after.rssAnonKB, before.rssAnonKB),
    heapUsedKBPerSubscription: per(after.heapUsedKB, before.heapUsedKB),
    externalKBPerSubscription: per(after.externalKB, before.externalKB),
    fdsPerSubscription: per(after.fds, before.fds),
  };
}

// ---------------------------------------------------------------------------------------------------

const runId = randomBytes(4).toString("hex");
// The machine is shared: a busy one at the start explains a slow run.
const loadAtStart = loadavg().map((x) => Math.round(x * 100) / 100);
const scratch = await createScratchDatabase(BASE_URL);
const dataDir = await mkdtemp(join(tmpdir(), "coditect-bench-subscriptions-"));
const redis = new Redis(PLATFORM_REDIS_URL);
let platform: Platform | undefined;
let tenants: Tenant[] = [];
const groups: Subscribers[] = [];
try {
  console.log(
    `subscriptions benchmark${SMOKE ? " (smoke)" : ""}: ${SIZE.subscribers} subscribers, ${SIZE.tenants} tenants × ${SIZE.projectsPerTenant} projects, ${SIZE.ratePerSecond} mutations/s for ${SIZE.seconds} s`,
  );
  let t0 = performance.now();
  platform = await startPlatform(scratch.url, dataDir);
  const startMs = Math.round(performance.now() - t0);
  console.log(`platform ready in ${startMs} ms; pids ${JSON.stringify(platform.pids)}`);
  const { gatewayUrl, gatewayWsUrl, pids } = platform;

  t0 = performance.now();
  tenants = await seedTenants(gatewayUrl, runId);
  const seedMs = Math.round(performance.now() - t0);
  console.log(`seeded ${tenants.length} tenants (sign-up through the gateway) in ${seedMs} ms`);

  const specs: SubscriberSpec[] = Array.from({ length: SIZE.subscribers }, (_, i) => {
    const tenant = tenants[tenantOf(i)]!;
    return {
      index: i,
      token: tenant.token,
      projectId: tenant.projectIds[projectOf(i)]!,
      ownerEmail: tenant.email,
    };
  });
  const subscribersOf = new Map<string, number[]>();
  for (const spec of specs)
    subscribersOf.set(spec.projectId, [...(subscribersOf.get(spec.projectId) ?? []), spec.index]);

  // The same mutations with nobody subscribed: what the platform does without realtime fan-out.
  const quiet = await cpuWhile({ ...pids, bench: process.pid }, () =>
    sendLoad(gatewayUrl, tenants, BASELINE_SECONDS),
  );
  const quietOk = quiet.result.sent.filter((s) => s.taskId);
  const baseline = {
    seconds: BASELINE_SECONDS,
    mutations: quiet.result.sent.length,
    failed: quiet.result.sent.length - quietOk.length,
    createTaskMs: withMax(quietOk.map((s) => s.respondedAt! - s.sentAt)),
    cpu: quiet.cpu,
    cpuPressurePercent: quiet.cpuPressurePercent,
  };
  console.log(`createTask with no subscriber (${baseline.mutations} at ${SIZE.ratePerSecond}/s, ms):`);
  console.table({ "HTTP round trip": baseline.createTaskMs });
  console.table(quiet.cpu);

  // Warm-up: the first subscriptions load code and build caches in both services (graphql-ws, the SSE
  // client, the planner, the identity data source); that is not what each further subscription costs.
  const warmup = forkSubscribers(specs.slice(0, Math.min(20, specs.length)));
  await warmup.request(
    {
      type: "open",
      url: gatewayWsUrl,
      query: SUBSCRIPTION,
      subscribers: warmup.specs,
      concurrency: 20,
      timeoutMs: 30_000,
    },
    "opened",
  );
  await probeUntilReady(gatewayUrl, tenants, [warmup]);
  await warmup.close();
  // Past the keep-alive timeouts: the warm-up's idle connections are gone before the baseline.
  await sleep(SMOKE ? 1_000 : 8_000);

  const memoryBefore = {
    gateway: await serviceMemory(pids.gateway),
    projects: await serviceMemory(pids.projects),
  };
  for (let k = 0; k < SIZE.subscriberProcesses; k++) {
    groups.push(forkSubscribers(specs.filter((s) => s.index % SIZE.subscriberProcesses === k)));
  }
  const connect = async () => {
    const started = performance.now();
    const opened = await Promise.all(
      groups.map((g) =>
        g.request(
          {
            type: "open",
            url: gatewayWsUrl,
            query: SUBSCRIPTION,
            subscribers: g.specs,
            concurrency: CONNECT_CONCURRENCY,
            timeoutMs: 60_000,
          },
          "opened",
          CONNECT_TIMEOUT_MS,
        ),
      ),
    );
    const connectMs = Math.round(performance.now() - started);
    const failed = opened.flatMap((o) => o.failed);
    console.log(
      `${SIZE.subscribers - failed.length} of ${SIZE.subscribers} subscribers connected in ${connectMs} ms`,
    );
    if (failed.length) console.log(`  failed: ${failed.filter(Boolean).slice(0, 5).join("; ")}`);
    if (failed.length === SIZE.subscribers) throw new Error("no subscriber could connect");

    // Idle: wait until the projects subgraph's descriptors (one per subgraph stream) stop growing.
    let fds = (await memoryOf(pids.projects)).fds;
    let stableSince = performance.now();
    while (performance.now() - stableSince < 2_000 && performance.now() - started < CONNECT_TIMEOUT_MS) {
      await sleep(250);
      const now = (await memoryOf(pids.projects)).fds;
      if (now !== fds) [fds, stableSince] = [now, performance.now()];
    }
    const settledMs = Math.round(stableSince - started);

    return { opened, connectMs, failed, settledMs };
  };
  const heapProfiled = flags["heap-profile"] as Service | undefined;
  let retained: Awaited<ReturnType<typeof retainedAllocations>> | undefined;
  let connected!: Awaited<ReturnType<typeof connect>>;
  if (heapProfiled) {
    retained = await retainedAllocations(pids[heapProfiled], async () => {
      connected = await connect();
    });
    console.log(
      `memory ${heapProfiled} kept after the subscribers connected, by allocating code (kB, sampled)`,
    );
    console.table(retained.byPackageKB);
    console.table(retained.byFunctionKB);
  } else {
    connected = await connect();
  }
  const { connectMs, failed, settledMs } = connected;
  await sleep(SMOKE ? 1_000 : 5_000);
  const subscribed = SIZE.subscribers - failed.length;
  const memory = {
    gateway: perSubscription(memoryBefore.gateway, await serviceMemory(pids.gateway), subscribed),
    projects: perSubscription(memoryBefore.projects, await serviceMemory(pids.projects), subscribed),
  };
  console.log("\nmemory per idle subscription");
  const { before: _gb, after: _ga, ...gatewayPer } = memory.gateway;
  const { before: _pb, after: _pa, ...projectsPer } = memory.projects;
  console.table({ gateway: gatewayPer, projects: projectsPer });

  const probes = await probeUntilReady(gatewayUrl, tenants, groups);
  console.log(`every subscriber saw its probe event (${probes.rounds} round(s), ${probes.ms} ms)`);
  await sleep(2_000);

  const everyPid = {
    ...pids,
    ...Object.fromEntries(groups.map((g, k) => [`subscribers${k}`, g.process.pid!])),
    bench: process.pid,
  };
  const profiled = flags.profile as Service | undefined;
  let profile: CpuProfile | undefined;
  const sendAndDrain = async () => {
    const sending = await sendLoad(gatewayUrl, tenants, SIZE.seconds);
    const expected = expectedDeliveries(sending.sent, subscribersOf);
    const drainDeadline = performance.now() + DRAIN_TIMEOUT_MS;
    while (performance.now() < drainDeadline) {
      const delivered = (await statusOf(groups)).reduce((n, s) => n + s.delivered, 0);
      if (delivered >= expected) break;
      await sleep(100);
    }
    return sending;
  };
  // Event-loop delay and GC pauses of the three services on the delivery path, during the load.
  const watched = (["gateway", "projects", "identity"] as const).filter((name) => name !== profiled);
  let loopStatsOn = true;
  try {
    for (const name of watched) await startLoopStats(pids[name]);
  } catch (error) {
    loopStatsOn = false;
    console.warn(`  no event-loop figures: ${(error as Error).message}`);
  }
  const identityBefore = await requestsAnswered(platform.subgraphUrls.identity);
  const tap = await tapAnnouncements();
  const {
    result: load,
    cpu,
    cpuPressurePercent,
  } = await cpuWhile(everyPid, async () => {
    if (!profiled) return sendAndDrain();
    let sending!: Awaited<ReturnType<typeof sendLoad>>;
    profile = await cpuProfile(pids[profiled], async () => {
      sending = await sendAndDrain();
    });
    return sending;
  });
  const ok = load.sent.filter((s) => s.taskId);
  const identityRequests = (await requestsAnswered(platform.subgraphUrls.identity)) - identityBefore;
  const loopStats: Partial<Record<Service, LoopStats>> = {};
  if (loopStatsOn) for (const name of watched) loopStats[name] = await readLoopStats(pids[name]);
  await sleep(1_000); // a duplicate would have arrived by now

  tap.close();
  const reports = await Promise.all(groups.map((g) => g.request({ type: "report" }, "report")));
  const committedAt = await commitTimes(
    scratch.url,
    ok.map((s) => s.taskId!),
  );
  const result = analyse(
    load.sent,
    subscribersOf,
    reports.flatMap((r) => r.deliveries),
    committedAt,
    tap.announcedAt,
  );
  const violations = {
    crossTenant: reports.reduce((n, r) => n + r.violations.crossTenant, 0),
    crossProject: reports.reduce((n, r) => n + r.violations.crossProject, 0),
    malformed: reports.reduce((n, r) => n + r.violations.malformed, 0),
    mismatchedTaskId: result.mismatched,
    examples: reports.flatMap((r) => r.violations.examples).slice(0, 10),
  };
  const errors = {
    count: reports.reduce((n, r) => n + r.errors.count, 0),
    examples: reports.flatMap((r) => r.errors.examples).slice(0, 10),
  };
  const closes = {
    count: reports.reduce((n, r) => n + r.closes.count, 0),
    examples: reports.flatMap((r) => r.closes.examples).slice(0, 10),
  };
  const latency = {
    sinceSendStamp: withMax(result.sinceSend),
    sinceWritten: withMax(result.sinceWritten),
    sinceCommit: withMax(result.sinceCommit),
    sinceResponse: withMax(result.sinceResponse),
    commitToRedis: withMax(result.commitToRedis),
    sinceAnnounced: withMax(result.sinceAnnounced),
  };
  const mutationMs = withMax(ok.map((s) => s.respondedAt! - s.sentAt));
  // The slowest createTask sent in each second of the load: stalls show as runs of high values.
  const slowestBySecond: number[] = [];
  for (const s of ok) {
    const second = Math.floor((s.sentAt - load.sent[0]!.sentAt) / 1000);
    slowestBySecond[second] = Math.max(slowestBySecond[second] ?? 0, Math.round(s.respondedAt! - s.sentAt));
  }
  await sleep(3_000);
  const memoryAfterLoad = {
    gateway: await serviceMemory(pids.gateway),
    projects: await serviceMemory(pids.projects),
  };

  console.log(
    `\nload: ${load.sent.length} createTask sent in ${load.seconds.toFixed(1)} s (${(load.sent.length / load.seconds).toFixed(1)}/s), the last answered after ${load.lastAnswerSeconds.toFixed(1)} s; ${load.sent.length - ok.length} failed`,
  );
  for (const error of new Set(load.sent.flatMap((s) => (s.error ? [s.error] : []))))
    console.log(`  ${error}`);
  console.log(
    `deliveries: ${result.unique} of ${result.expected} expected, ${result.duplicates} duplicates, ${result.missing} missing`,
  );
  console.log(
    `identity answered ${identityRequests} requests during the load: ${(identityRequests / Math.max(ok.length, 1)).toFixed(2)} per event (${SIZE.subscribers / (SIZE.tenants * SIZE.projectsPerTenant)} subscribers each)`,
  );
  console.log(
    `wrong deliveries: ${violations.crossTenant} cross-tenant, ${violations.crossProject} cross-project, ${violations.malformed} malformed, ${violations.mismatchedTaskId} task id mismatch; ${errors.count} errors, ${closes.count} unexpected closes`,
  );
  for (const e of [...violations.examples, ...errors.examples, ...closes.examples]) console.log(`  ${e}`);
  console.log("\ndelivery latency, commit to client (ms)");
  console.table({
    "since send (title stamp, upper bound)": latency.sinceSendStamp,
    "since written in its transaction (upper bound)": latency.sinceWritten,
    ...(latency.sinceCommit ? { "since commit (PostgreSQL's commit timestamp)": latency.sinceCommit } : {}),
    "since HTTP response (lower bound)": latency.sinceResponse,
    "of which commit to Redis (the relay; per task)": latency.commitToRedis,
    "of which Redis to client (projects, gateway)": latency.sinceAnnounced,
    "createTask HTTP round trip": mutationMs,
  });
  console.log(`slowest createTask per second of the load (ms): ${slowestBySecond.join(" ")}`);
  console.log(
    `CPU during the load (some ready task waited for a core ${cpuPressurePercent ?? "?"} % of the time)`,
  );
  console.table(cpu);
  if (loopStatsOn) {
    console.log("event loop and garbage collection during the load (ms)");
    console.table(
      Object.fromEntries(
        Object.entries(loopStats).map(([name, { loopDelayMs, gc }]) => [
          name,
          {
            "loop delay p50": loopDelayMs.p50,
            p99: loopDelayMs.p99,
            max: loopDelayMs.max,
            "GC pauses": gc.pauses,
            "GC total": gc.totalMs,
            "GC max": gc.maxMs,
            "major GCs": gc.major,
            "major total": gc.majorTotalMs,
            "major max": gc.majorMaxMs,
          },
        ]),
      ),
    );
  }

  const profileSummary = profile && { service: profiled, ...summarizeProfile(profile) };
  if (profile) {
    const file = join(tmpdir(), `subscriptions-${profiled}-${runId}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    console.log(`CPU profile of ${profiled} during the load (self time, ms; raw profile: ${file})`);
    console.table(profileSummary!.byPackage);
    console.table(profileSummary!.byFunction);
  }

  // The target's measure: from the commit itself where PostgreSQL records commit times; otherwise from
  // the task's createdAt, stamped in the committing transaction before the rest of its statements (an
  // upper bound). Since send also counts the mutation's wait for the gateway, the subgraph and a
  // connection, all before the commit.
  const p99 = (latency.sinceCommit ?? latency.sinceWritten)?.p99 ?? Number.POSITIVE_INFINITY;
  const targets = {
    p99UnderMs: {
      target: TARGETS.p99Ms,
      measured: p99,
      measuredFrom: latency.sinceCommit ? "commit" : "createdAt (upper bound)",
      met: p99 < TARGETS.p99Ms,
    },
    gatewayKBPerSubscription: {
      target: TARGETS.gatewayKBPerSubscription,
      measured: memory.gateway.rssKBPerSubscription,
      met: memory.gateway.rssKBPerSubscription < TARGETS.gatewayKBPerSubscription,
    },
    zeroCrossTenant: { met: violations.crossTenant === 0 },
    everyDeliveryExactlyOnce: { met: result.missing === 0 && result.duplicates === 0 },
  };
  console.log("targets");
  console.table(targets);

  const output = {
    benchmark: "subscriptions",
    command: `npx tsx bench/subscriptions.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}`,
    date: new Date().toISOString(),
    machine: { ...machine(), loadAverageAtStart: loadAtStart },
    // The working tree measured: results from uncommitted code say so.
    source: {
      commit: execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim(),
      uncommittedFiles: execFileSync("git", ["status", "--porcelain"], { cwd: ROOT, encoding: "utf8" })
        .split("\n")
        .filter(Boolean).length,
    },
    subscription: SUBSCRIPTION.replace(/\s+/g, " "),
    sizes: { ...SIZE, subscribersPerProject: SIZE.subscribers / (SIZE.tenants * SIZE.projectsPerTenant) },
    setup: {
      platformStartMs: startMs,
      seedMs,
      connectMs,
      subscribed,
      connectFailures: failed.length,
      streamsOpenMs: settledMs,
      probes,
    },
    memory: { ...memory, afterLoad: memoryAfterLoad },
    withoutSubscribers: baseline,
    load: {
      mutations: load.sent.length,
      failed: load.sent.length - ok.length,
      failures: [...new Set(load.sent.flatMap((s) => (s.error ? [s.error] : [])))].slice(0, 5),
      sentPerSecond: round1(load.sent.length / load.seconds),
      lastAnswerAfterSeconds: round1(load.lastAnswerSeconds),
      createTaskMs: mutationMs,
      createTaskSlowestMsBySecond: Array.from(slowestBySecond, (ms) => ms ?? null),
    },
    identityRequestsDuringLoad: {
      total: identityRequests,
      perEvent: Math.round((identityRequests / Math.max(ok.length, 1)) * 100) / 100,
    },
    deliveries: {
      expected: result.expected,
      received: result.received,
      unique: result.unique,
      missing: result.missing,
      duplicates: result.duplicates,
    },
    violations,
    errors,
    closes,
    latencyMs: latency,
    cpuDuringLoad: cpu,
    cpuPressurePercent,
    eventLoopDuringLoad: loopStats,
    ...(profileSummary ? { cpuProfile: profileSummary } : {}),
    ...(retained ? { retainedBySubscriptions: { service: heapProfiled, ...retained } } : {}),
    targets,
  };
  // Committed results are full runs only: a smoke run proves the harness works, and a profiled one is
  // slowed by its profiler. Other sizes get a file of their own (subscriptions.rate-50.json...).
  const variant = ["subscribers", "tenants", "rate", "seconds", "processes", "role"]
    .filter((name) => flags[name as keyof typeof flags] !== undefined)
    .map((name) => (name === "role" ? ".role" : `.${name}-${flags[name as keyof typeof flags]}`))
    .join("");
  const out =
    SMOKE || profiled || heapProfiled
      ? join(tmpdir(), "subscriptions-smoke.json")
      : new URL(`results/subscriptions${variant}.json`, import.meta.url);
  await writeFile(out, `${JSON.stringify(output, null, 2)}\n`);
  console.log(`\nresults: ${out instanceof URL ? out.pathname : out}`);
  // Wrong or lost deliveries fail the run (and CI); missed speed targets are reported, not failed.
  if (
    violations.crossTenant ||
    violations.crossProject ||
    violations.malformed ||
    violations.mismatchedTaskId
  )
    process.exitCode = 1;
  if (result.missing || result.duplicates || errors.count || closes.count || failed.length)
    process.exitCode = 1;
} finally {
  await Promise.all(groups.map((g) => g.close().catch(() => {})));
  await platform?.stop().catch((error) => console.error("could not stop the platform:", error));
  // The relay appended to each tenant's stream; leave the shared Redis as we found it.
  if (tenants.length) await redis.del(...tenants.map((t) => tenantStreamKey(t.tenantId))).catch(() => {});
  redis.disconnect();
  await scratch.drop();
  await rm(dataDir, { recursive: true, force: true });
}
