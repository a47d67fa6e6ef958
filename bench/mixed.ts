// `npx tsx bench/mixed.ts [--smoke]`: mixed load (issue 10, item 3). 1,000 concurrent virtual users
// spread over 10,000 tenants (seeded by bench/lib/seed.ts; each user serves ten tenants in turn, with
// an access token per tenant minted by the platform's signing key), 80% reads (list projects, a page of
// 50 tasks with assignees) and 20% writes (create a task), through the gateway. The offered rate is
// stepped up until p99 passes 100 ms or a request fails; the highest step that held is then run for
// 60 s, which gives the figure: the highest throughput held with p99 under 100 ms and no errors.
//
// Each user sends its next request on a schedule (every users/rate seconds, from a random phase) and
// never has two in flight; latency counts from the scheduled time, so a slow answer that delays the
// next request is not hidden (no coordinated omission). Where the time goes: CPU per process (gateway,
// each subgraph, worker, this load generator, PostgreSQL and the rest of the machine) from /proc, and
// the services' own /metrics histograms (summed durations) where they publish them.
//
// Flags: `--smoke` (100 users over 200 tenants, two short steps, for CI; writes to a temp file),
// `--users N`, `--tenants T`, `--rates 100,200,...` (steps, requests/s), `--step-seconds S`,
// `--seconds D` (the final run).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { accessTokenMinter } from "./lib/credentials.ts";
import { metricsDelta, metricsUrls, scrapeMetrics, timeBreakdown } from "./lib/metrics.ts";
import { type Operation, reason, runOperation, type SignedIn } from "./lib/operations.ts";
import { cpuWhile, type Platform, startPlatform } from "./lib/platform.ts";
import { DEFAULT_SHAPE, seedIds, seedOrganizations } from "./lib/seed.ts";
import { loadAverage, machine, resultHeader } from "./machine.ts";
import { sleep, summarize } from "./stats.ts";

const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const { values: flags } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    users: { type: "string" },
    tenants: { type: "string" },
    rates: { type: "string" },
    "step-seconds": { type: "string" },
    seconds: { type: "string" },
  },
});
const SMOKE = flags.smoke!;
const positive = (value: string, what: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: not a positive integer: ${value}`);
  return n;
};
const SIZE = {
  users: positive(flags.users ?? (SMOKE ? "100" : "1000"), "--users"),
  tenants: positive(flags.tenants ?? (SMOKE ? "200" : "10000"), "--tenants"),
  rates: (flags.rates ?? (SMOKE ? "20,40" : "100,200,300,400,500,600,800,1000"))
    .split(",")
    .map((r) => positive(r, "--rates")),
  stepSeconds: positive(flags["step-seconds"] ?? (SMOKE ? "2" : "20"), "--step-seconds"),
  seconds: positive(flags.seconds ?? (SMOKE ? "3" : "60"), "--seconds"),
  shape: DEFAULT_SHAPE,
};
const TARGET = { p99Ms: 100 };
/** 80% reads, 20% writes. */
const MIX: Array<[Operation, number]> = [
  ["listProjects", 0.4],
  ["pageOfTasks", 0.4],
  ["createTask", 0.2],
];

function pick(): Operation {
  let r = Math.random();
  for (const [op, share] of MIX) {
    if (r < share) return op;
    r -= share;
  }
  return MIX[0]![0];
}

/** `users` virtual users at `rate` requests/s in total for `seconds`. */
async function offer(gatewayUrl: string, tenants: SignedIn[], rate: number, seconds: number) {
  const intervalMs = (SIZE.users * 1000) / rate;
  const byOp: Record<Operation, number[]> = { listProjects: [], pageOfTasks: [], createTask: [] };
  const all: number[] = [];
  /** Every answered request, for the slowest few: which operation, when in the step, how long. */
  const answered: Array<{ op: Operation; atSeconds: number; ms: number }> = [];
  const errors: string[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: SIZE.users }, async (_, user) => {
      // The user's own tenants: user, user + users, user + 2·users...
      const own = tenants.filter((_, t) => t % SIZE.users === user);
      let due = started + Math.random() * intervalMs;
      for (let k = 0; due < end; k++, due += intervalMs) {
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const op = pick();
        try {
          await runOperation(gatewayUrl, op, own[k % own.length]!, SIZE.shape, n++);
          const ms = performance.now() - due;
          byOp[op].push(ms);
          all.push(ms);
          answered.push({ op, atSeconds: Math.round(due - started) / 1000, ms: Math.round(ms * 10) / 10 });
        } catch (error) {
          errors.push(`${op}: ${reason(error)}`);
        }
      }
    }),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  return {
    offeredPerSecond: rate,
    achievedPerSecond: Math.round(all.length / wallSeconds),
    latencyMs: summarize(all),
    byOperationMs: Object.fromEntries(Object.entries(byOp).map(([op, ms]) => [op, summarize(ms)])),
    // What holds the p99 up: slow requests bunched at one moment point at the machine (a pause of a
    // process), spread over the step at something per request.
    slowest: answered.sort((a, b) => b.ms - a.ms).slice(0, 8),
    errors: errors.length,
    errorExamples: [...new Set(errors)].slice(0, 5),
  };
}
type Step = Awaited<ReturnType<typeof offer>>;
const held = (step: Step) => step.errors === 0 && step.latencyMs.p99 < TARGET.p99Ms;

const loadAtStart = loadAverage();
const scratch = await createScratchDatabase(BASE_URL, "coditect_bch_mixed");
const dataDir = await mkdtemp(join(tmpdir(), "coditect-bench-mixed-"));
let platform: Platform | undefined;
try {
  console.log(
    `mixed load benchmark${SMOKE ? " (smoke)" : ""}: ${SIZE.users} users over ${SIZE.tenants} tenants, 80% reads / 20% writes; steps ${SIZE.rates.join(", ")} req/s of ${SIZE.stepSeconds} s, then ${SIZE.seconds} s at the highest that held`,
  );
  const seed = await seedOrganizations(scratch.url, 0, SIZE.tenants, SIZE.shape);
  console.log(`seeded ${SIZE.tenants} organizations in ${(seed.ms / 1000).toFixed(1)} s`);
  platform = await startPlatform(scratch.url, dataDir);
  const { gatewayUrl, pids } = platform;
  const mint = await accessTokenMinter(platform, dataDir);
  const tenants: SignedIn[] = await Promise.all(
    Array.from({ length: SIZE.tenants }, async (_, org) => ({
      org,
      token: await mint({
        tenantId: seedIds.organization(org),
        userId: seedIds.user(org, 0),
        roles: ["OWNER"],
      }),
    })),
  );
  // Warm-up: code paths, the planner's cache, connection pools.
  await offer(gatewayUrl, tenants, SIZE.rates[0]!, SMOKE ? 1 : 5);

  const steps: Array<Step & { loadAverage: number[] }> = [];
  for (const rate of SIZE.rates) {
    const step = {
      ...(await offer(gatewayUrl, tenants, rate, SIZE.stepSeconds)),
      loadAverage: loadAverage(),
    };
    steps.push(step);
    console.log(
      `  ${rate} req/s offered: ${step.achievedPerSecond} answered/s, p50 ${step.latencyMs.p50} ms, p99 ${step.latencyMs.p99} ms, ${step.errors} errors (load ${step.loadAverage.join(" ")})`,
    );
    for (const e of step.errorExamples) console.log(`    ${e}`);
    console.log(
      `    slowest: ${step.slowest.map((r) => `${r.op} ${r.ms} ms at ${r.atSeconds} s`).join(", ")}`,
    );
    if (!held(step)) break;
  }

  // The final run: the highest step that held, for the full time; one step lower if it does not hold.
  const urls = metricsUrls(platform);
  const candidates = steps.filter(held).map((s) => s.offeredPerSecond);
  let final: (Step & { cpu: unknown; cpuPressurePercent: number | null; metrics: unknown }) | undefined;
  const tried: Step[] = [];
  const loadBefore = loadAverage();
  while (candidates.length) {
    const rate = candidates.pop()!;
    const metricsBefore = await scrapeMetrics(urls);
    const run = await cpuWhile({ ...pids, bench: process.pid }, () =>
      offer(gatewayUrl, tenants, rate, SIZE.seconds),
    );
    const metrics = metricsDelta(metricsBefore, await scrapeMetrics(urls));
    console.log(
      `final ${rate} req/s for ${SIZE.seconds} s: ${run.result.achievedPerSecond} answered/s, p99 ${run.result.latencyMs.p99} ms, ${run.result.errors} errors`,
    );
    for (const e of run.result.errorExamples) console.log(`    ${e}`);
    tried.push(run.result);
    if (held(run.result)) {
      const answered = run.result.achievedPerSecond * SIZE.seconds;
      final = {
        ...run.result,
        cpu: run.cpu,
        cpuPressurePercent: run.cpuPressurePercent,
        metrics: { timeBreakdown: timeBreakdown(metrics, answered), raw: metrics },
      };
      console.log("CPU during the final run");
      console.table(run.cpu);
      console.log("time summed by the services' duration histograms (ms per answered request)");
      for (const [service, byMetric] of Object.entries(timeBreakdown(metrics, answered)))
        console.log(
          `  ${service}: ${Object.entries(byMetric)
            .map(([name, t]) => `${name} ${t.msPerRequest} (${t.count})`)
            .join(", ")}`,
        );
      break;
    }
  }

  const output = {
    ...resultHeader("mixed"),
    machine: { ...machine(), loadAverageAtStart: loadAtStart, loadAverageBeforeFinal: loadBefore },
    sizes: SIZE,
    mix: Object.fromEntries(MIX),
    seedSeconds: Math.round(seed.ms / 100) / 10,
    steps,
    finalRunsTried: tried.map((t) => ({
      offered: t.offeredPerSecond,
      p99: t.latencyMs.p99,
      errors: t.errors,
      errorExamples: t.errorExamples,
      slowest: t.slowest,
    })),
    result: final
      ? {
          heldPerSecond: final.achievedPerSecond,
          offeredPerSecond: final.offeredPerSecond,
          latencyMs: final.latencyMs,
          byOperationMs: final.byOperationMs,
          slowest: final.slowest,
          errors: final.errors,
          cpu: final.cpu,
          cpuPressurePercent: final.cpuPressurePercent,
          metrics: final.metrics,
        }
      : null,
    target: { p99UnderMs: TARGET.p99Ms, noErrors: true },
  };
  const out = SMOKE
    ? join(tmpdir(), "mixed-smoke.json")
    : new URL("results/mixed.json", import.meta.url).pathname;
  await writeFile(out, `${JSON.stringify(output, null, 2)}\n`);
  console.log(`\nresults: ${out}`);
  if (!final) console.log("no offered rate held p99 under 100 ms without errors");
  // Failures at the lowest rate are a broken platform (and fail CI); above it they mark the limit.
  if (steps[0]!.errors > 0) process.exitCode = 1;
} finally {
  await platform?.stop().catch((error) => console.error("could not stop the platform:", error));
  await scratch.drop();
  await rm(dataDir, { recursive: true, force: true });
}
