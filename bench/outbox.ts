// `npx tsx bench/outbox.ts [--smoke]`: what the transactional outbox costs and how fast it delivers.
//   1. added latency: the same mutation (create a project in an interactive transaction through the tenant
//      client) with and without `emitEvent`, one writer and then 8 concurrent writers;
//   2. relay throughput: a backlog committed while no relay runs, then drained to Redis by a fresh relay,
//      with every tenant's stream checked against what was committed;
//   3. steady state: commit -> Redis pub/sub latency while writers commit at a fixed rate.
// It runs on a scratch database of its own (the relay leads one per database, and must be ours) and
// drops it at the end. `--smoke` shrinks every loop to seconds, for CI, and writes to a temp file only.
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@app/common";
import {
  createPrismaClient,
  emitEvent,
  newId,
  type PrismaClient,
  type TenantClient,
  tenantClient,
} from "@app/db";
import { Redis } from "ioredis";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { createRedisSink, tenantStreamKey } from "../worker/src/outbox/redis-sink.ts";
import { createRelay } from "../worker/src/outbox/relay.ts";
import { machine } from "./machine.ts";
import { type Summary, sleep, summarize, within } from "./stats.ts";

const SMOKE = process.argv.includes("--smoke");
const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const TENANTS = 100;
const WRITERS = 8;
const SIZE = SMOKE
  ? { warmup: 20, runs: 100, block: 25, concurrentTx: 400, backlog: 1_000, ratePerSecond: 100, seconds: 1 }
  : {
      warmup: 200,
      runs: 2_000,
      block: 100,
      concurrentTx: 8_000,
      backlog: 20_000,
      ratePerSecond: 200,
      seconds: 10,
    };
// Every wait on the system under test is bounded, so a broken relay fails the run instead of hanging it.
const DELIVERY_TIMEOUT_MS = 120_000;

/** What the relay reported delivered: events, and batches (one per tenant per round). */
interface Deliveries {
  events: number;
  batches: number;
  onBatch?: () => void;
}

interface Emitted {
  tenantId: string;
  id: string;
  seq: bigint;
}

/**
 * The mutation under test: what `createProject` in the projects subgraph does, optionally without its
 * event. `marks` receives timestamps after BEGIN, the project's INSERT, the event (two statements) and
 * COMMIT, to show where the time goes; the seam costs a few microseconds and is the same for both.
 */
async function createProject(
  db: TenantClient,
  tenantId: string,
  withEvent: boolean,
  marks: number[] = [],
): Promise<Emitted | null> {
  const mark = <T>(value: T) => {
    marks.push(performance.now());
    return value;
  };
  const result = await db.$transaction(async (tx) => {
    mark(null);
    const project = mark(await tx.project.create({ data: { tenantId, id: newId(), name: "bench" } }));
    if (!withEvent) return null;
    const event = mark(
      await emitEvent(tx, tenantId, {
        topic: "project.created",
        payload: { projectId: project.id, name: project.name },
      }),
    );
    return { tenantId, ...event };
  });
  return mark(result);
}

const difference = (a: Summary, b: Summary) => ({
  p50: Math.round((a.p50 - b.p50) * 1000) / 1000,
  p95: Math.round((a.p95 - b.p95) * 1000) / 1000,
  p99: Math.round((a.p99 - b.p99) * 1000) / 1000,
  mean: Math.round((a.mean - b.mean) * 1000) / 1000,
});

/** Runs `count` mutations on `writers` concurrent loops, each transaction on the next tenant in turn. */
async function concurrently(
  clients: TenantClient[],
  tenantIds: string[],
  count: number,
  writers: number,
  withEvent: boolean,
  onCommitted: (event: Emitted | null) => void = () => {},
) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        onCommitted(await createProject(clients[i % TENANTS]!, tenantIds[i % TENANTS]!, withEvent));
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const { user, system } = process.cpuUsage(cpu);
  return { latencies, elapsedMs: performance.now() - started, cpuMs: (user + system) / 1000 };
}

/** 1. The outbox row's price: the same transaction with and without it. */
async function addedLatency(clients: TenantClient[], tenantIds: string[]) {
  const run = (i: number, withEvent: boolean, marks?: number[]) =>
    createProject(clients[i % TENANTS]!, tenantIds[i % TENANTS]!, withEvent, marks);
  // Warm-up: connections opened, statements and the tenants' sequence rows in place for both variants.
  for (let i = 0; i < SIZE.warmup; i++) await run(i, i % 2 === 0);

  // Alternating blocks, so drift (autovacuum, table growth, a noisy neighbour) hits both variants alike.
  const sequential = { without: [] as number[], with: [] as number[] };
  const phaseNames = ["begin", "insertProject", "emitEvent", "commit"];
  const phases = new Map(phaseNames.map((name) => [name, [] as number[]]));
  for (let block = 0; block < (2 * SIZE.runs) / SIZE.block; block++) {
    const withEvent = block % 2 === 1;
    for (let i = 0; i < SIZE.block; i++) {
      const marks = [performance.now()];
      await run(block * SIZE.block + i, withEvent, marks);
      (withEvent ? sequential.with : sequential.without).push(marks.at(-1)! - marks[0]!);
      if (!withEvent) continue;
      for (const [k, name] of phaseNames.entries()) phases.get(name)!.push(marks[k + 1]! - marks[k]!);
    }
  }

  // Node CPU per transaction too: on a small machine the client side (Prisma) is what saturates first.
  const concurrent = {
    without: { latencies: [] as number[], ms: 0, cpuMs: 0 },
    with: { latencies: [] as number[], ms: 0, cpuMs: 0 },
  };
  const rounds = 4;
  for (let round = 0; round < 2 * rounds; round++) {
    const withEvent = round % 2 === 1;
    const r = await concurrently(clients, tenantIds, SIZE.concurrentTx / rounds, WRITERS, withEvent);
    const side = withEvent ? concurrent.with : concurrent.without;
    side.latencies.push(...r.latencies);
    side.ms += r.elapsedMs;
    side.cpuMs += r.cpuMs;
  }

  const seqWithout = summarize(sequential.without);
  const seqWith = summarize(sequential.with);
  const concWithout = summarize(concurrent.without.latencies);
  const concWith = summarize(concurrent.with.latencies);
  const throughput = (side: typeof concurrent.with) => ({
    txPerSecond: Math.round((side.latencies.length / side.ms) * 1000),
    nodeCpuMsPerTx: Math.round((side.cpuMs / side.latencies.length) * 1000) / 1000,
  });
  return {
    sequential: {
      withoutEvent: seqWithout,
      withEvent: seqWith,
      addedMs: difference(seqWith, seqWithout),
      withEventPhasesMs: Object.fromEntries([...phases].map(([name, ms]) => [name, summarize(ms)])),
    },
    concurrent: {
      writers: WRITERS,
      withoutEvent: { ...throughput(concurrent.without), ...concWithout },
      withEvent: { ...throughput(concurrent.with), ...concWith },
      addedMs: difference(concWith, concWithout),
    },
  };
}

/** 2. A backlog committed with no relay running, then drained by a fresh relay, and checked. */
async function relayThroughput(
  prisma: PrismaClient,
  clients: TenantClient[],
  tenantIds: string[],
  redis: Redis,
  deliveries: Deliveries,
  startRelay: () => void,
) {
  // Section 1 left events no relay ever saw; start every tenant at seq 1 so the check below is exact.
  await prisma.$executeRaw`TRUNCATE outbox_events, outbox_sequences`;
  const expected = new Map<string, string[]>(tenantIds.map((id) => [id, []]));
  const commit = await concurrently(clients, tenantIds, SIZE.backlog, WRITERS, true, (event) => {
    expected.get(event!.tenantId)![Number(event!.seq) - 1] = event!.id;
  });

  const started = performance.now();
  const done = new Promise<void>((resolve) => {
    deliveries.onBatch = () => deliveries.events >= SIZE.backlog && resolve();
  });
  startRelay();
  await within(
    done,
    DELIVERY_TIMEOUT_MS,
    () => `relay delivered ${deliveries.events} of ${SIZE.backlog} events`,
  );
  const drainMs = performance.now() - started;

  // Correctness: each tenant's stream holds exactly its committed events, in seq order, once.
  const pending = await prisma.outboxEvent.count({ where: { deliveredAt: null } });
  if (pending !== 0)
    throw new Error(`${pending} events still pending after the relay reported all delivered`);
  for (const [tenantId, ids] of expected) {
    const entries = await redis.xrange(tenantStreamKey(tenantId), "-", "+");
    const got = entries.map(([entryId, fields]) => {
      const event = JSON.parse(fields[1]!) as { id: string; seq: string; tenantId: string };
      return `${entryId} ${event.seq} ${event.id} ${event.tenantId}`;
    });
    const want = ids.map((id, i) => `0-${i + 1} ${i + 1} ${id} ${tenantId}`);
    if (got.join("\n") !== want.join("\n")) {
      throw new Error(
        `stream of tenant ${tenantId} differs from its outbox:\n${got.join("\n")}\n--- want\n${want.join("\n")}`,
      );
    }
  }
  return {
    events: SIZE.backlog,
    tenants: TENANTS,
    commitMs: Math.round(commit.elapsedMs),
    drainMs: Math.round(drainMs),
    batches: deliveries.batches,
    eventsPerSecond: Math.round((SIZE.backlog / drainMs) * 1000),
    verified: true,
  };
}

/** 3. Commit -> Redis latency with writers committing at a fixed rate, the relay already running. */
async function steadyState(clients: TenantClient[], tenantIds: string[], deliveries: Deliveries) {
  const batchesBefore = deliveries.batches;
  const committedAt = new Map<string, number>();
  const receivedAt = new Map<string, number>();
  const subscriber = new Redis(REDIS_URL);
  try {
    subscriber.on("pmessage", (_pattern, _channel, message) => {
      const { id } = JSON.parse(message) as { id: string };
      if (!receivedAt.has(id)) receivedAt.set(id, performance.now());
    });
    await subscriber.psubscribe("events:*");

    const total = SIZE.ratePerSecond * SIZE.seconds;
    const writes: Promise<void>[] = [];
    const started = performance.now();
    // Open loop: event i is due at i/rate whatever the previous ones took, as independent users would.
    for (let i = 0; i < total; i++) {
      const wait = started + (i * 1000) / SIZE.ratePerSecond - performance.now();
      if (wait > 0) await sleep(wait);
      const write = createProject(clients[i % TENANTS]!, tenantIds[i % TENANTS]!, true).then((event) => {
        committedAt.set(event!.id, performance.now());
      });
      write.catch(() => {}); // handled by Promise.all below; not an unhandled rejection meanwhile
      writes.push(write);
    }
    await Promise.all(writes);
    const writeSeconds = (performance.now() - started) / 1000;
    const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
    while ([...committedAt.keys()].some((id) => !receivedAt.has(id))) {
      if (performance.now() > deadline) throw new Error("not every committed event reached the subscriber");
      await sleep(20);
    }
    const latencies = [...committedAt].map(([id, at]) => receivedAt.get(id)! - at);
    return {
      targetPerSecond: SIZE.ratePerSecond,
      achievedPerSecond: Math.round(total / writeSeconds),
      events: total,
      // Fewer batches than events means the relay found several of a tenant's events waiting at once.
      relayBatches: deliveries.batches - batchesBefore,
      latencyMs: { ...summarize(latencies), max: Math.round(Math.max(...latencies) * 1000) / 1000 },
    };
  } finally {
    subscriber.disconnect();
  }
}

const scratch = await createScratchDatabase(BASE_URL);
const prisma = createPrismaClient({ connectionString: scratch.url, poolSize: WRITERS + 2 });
const redis = new Redis(REDIS_URL);
const tenantIds = Array.from({ length: TENANTS }, () => newId());
// Set once section 2 starts the relay; a holder, since TypeScript does not see the assignment in the callback.
const running: { relay?: ReturnType<typeof createRelay> } = {};
const deliveries: Deliveries = { events: 0, batches: 0 };
try {
  await prisma.organization.createMany({
    data: tenantIds.map((id, i) => ({ id, name: `Bench ${i}`, slug: `bench-${id}` })),
  });
  // One client per tenant, built once: the per-request `$extends` cost is the same with or without the
  // event and would only add noise to the difference we are after.
  const clients = tenantIds.map((id) => tenantClient(prisma, id));

  console.log(
    `outbox benchmark${SMOKE ? " (smoke)" : ""}: ${TENANTS} tenants, scratch database ${scratch.url}`,
  );
  const latency = await addedLatency(clients, tenantIds);
  console.log("\n1. create-project transaction, one writer (ms)");
  console.table({
    "without event": latency.sequential.withoutEvent,
    "with event": latency.sequential.withEvent,
    added: latency.sequential.addedMs,
  });
  console.log("   the transaction with its event, phase by phase (ms)");
  console.table(latency.sequential.withEventPhasesMs);
  console.log(`   ${WRITERS} concurrent writers (ms, tx/s)`);
  console.table({
    "without event": latency.concurrent.withoutEvent,
    "with event": latency.concurrent.withEvent,
    added: latency.concurrent.addedMs,
  });

  const throughput = await relayThroughput(prisma, clients, tenantIds, redis, deliveries, () => {
    const relay = createRelay({
      databaseUrl: scratch.url,
      sink: createRedisSink(redis),
      jobs: { insert: async () => {} }, // no routes, so no jobs: this measures the Redis path alone
      routes: {},
      logger: createLogger("bench-relay", "warn"),
      onDelivered: (count) => {
        deliveries.events += count;
        deliveries.batches++;
        deliveries.onBatch?.();
      },
    });
    running.relay = relay;
    relay.start();
  });
  console.log("\n2. relay draining a backlog (commit -> Redis, verified in seq order per tenant)");
  console.table({ backlog: throughput });

  // Each delivered event left a dead entry in the relay's "pending" index region, which its scan reads
  // until vacuum; autovacuum would clear them at a moment of its choosing, possibly mid-measurement.
  await prisma.$executeRawUnsafe("VACUUM outbox_events");
  const steady = await steadyState(clients, tenantIds, deliveries);
  console.log("\n3. steady state, commit -> pub/sub receipt (ms)");
  console.table({
    [`${steady.targetPerSecond} events/s`]: {
      ...steady.latencyMs,
      achievedPerSecond: steady.achievedPerSecond,
      relayBatches: steady.relayBatches,
    },
  });

  const result = {
    benchmark: "outbox",
    command: `npx tsx bench/outbox.ts${SMOKE ? " --smoke" : ""}`,
    date: new Date().toISOString(),
    machine: machine(),
    sizes: { tenants: TENANTS, ...SIZE },
    addedLatency: latency,
    relayThroughput: throughput,
    steadyState: steady,
  };
  // Committed results are full runs only; a smoke run proves the harness works and leaves them alone.
  const out = SMOKE ? join(tmpdir(), "outbox-smoke.json") : new URL("results/outbox.json", import.meta.url);
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nresults: ${out instanceof URL ? out.pathname : out}`);
} finally {
  await running.relay?.stop();
  // The streams are keyed by this run's tenants; leave the shared Redis as we found it.
  await redis.del(...tenantIds.map(tenantStreamKey)).catch(() => {});
  redis.disconnect();
  await prisma.$disconnect();
  await scratch.drop();
}
