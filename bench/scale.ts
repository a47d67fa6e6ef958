// `npx tsx bench/scale.ts [--smoke]`: tenant scale (issue 10, item 2). The COPY seeder
// (bench/lib/seed.ts) grows one database to 1,000, then 100,000, then 1,000,000 organizations, each
// with 3 users and memberships, 2 projects and 20 tasks; at each size it records the rows, the disk
// size and the seeding time, then measures the hot tenant-scoped operations through the gateway (list
// projects, a page of 50 tasks with assignees, create a task) for tenants sampled evenly across the
// whole id space (the oldest, the newest and everything between), with access tokens minted by the
// platform's own signing key, and the database time per request from the services' /metrics.
// Target: p99 at 1,000,000 tenants within 1.25x of p99 at 1,000.
//
// The platform runs as in production (`npm start`, bench/lib/platform.ts) on a scratch database of the
// machine's PostgreSQL, dropped at the end unless `--keep`. Results are written after every size, so a
// run stopped during the largest one keeps what it measured.
//
// Flags: `--smoke` (1,000 organizations and a second per operation, for CI; writes to a temp file),
// `--sizes 1000,100000` (cumulative organization counts), `--samples N` (tenants measured),
// `--seconds S` (per operation and size), `--concurrency C` (requests in flight), `--keep`.
import { mkdtemp, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { accessTokenMinter } from "./lib/credentials.ts";
import { metricsDelta, metricsUrls, scrapeMetrics, timeBreakdown } from "./lib/metrics.ts";
import { OPERATIONS, type Operation, reason, runOperation, type SignedIn } from "./lib/operations.ts";
import { type Platform, startPlatform } from "./lib/platform.ts";
import { DEFAULT_SHAPE, databaseSize, SEEDED_TABLES, seedIds, seedOrganizations } from "./lib/seed.ts";
import { loadAverage, machine, resultHeader } from "./machine.ts";
import { summarize } from "./stats.ts";

const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const { values: flags } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    sizes: { type: "string" },
    samples: { type: "string" },
    seconds: { type: "string" },
    concurrency: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const SMOKE = flags.smoke!;
const positive = (value: string, what: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: not a positive integer: ${value}`);
  return n;
};
const SIZES = (flags.sizes ?? (SMOKE ? "1000" : "1000,100000,1000000"))
  .split(",")
  .map((s) => positive(s, "--sizes"));
if (SIZES.some((s, i) => i > 0 && s <= SIZES[i - 1]!)) throw new Error("--sizes must grow");
const SETTINGS = {
  samples: positive(flags.samples ?? (SMOKE ? "20" : "200"), "--samples"),
  seconds: positive(flags.seconds ?? (SMOKE ? "1" : "20"), "--seconds"),
  concurrency: positive(flags.concurrency ?? "4", "--concurrency"),
  shape: DEFAULT_SHAPE,
};
const TARGET_P99_RATIO = 1.25;
/** Free disk kept after a size is seeded (the estimate is the last size's bytes per organization). */
const KEEP_FREE_GIB = 10;

/** `concurrency` closed loops sending `operation` for `seconds`, round-robin over the sampled tenants. */
async function measure(platform: Platform, operation: Operation, tenants: SignedIn[]) {
  const { gatewayUrl } = platform;
  const urls = metricsUrls(platform);
  const metricsBefore = await scrapeMetrics(urls);
  const latencies: number[] = [];
  const errors: string[] = [];
  let n = 0;
  const until = performance.now() + SETTINGS.seconds * 1000;
  await Promise.all(
    Array.from({ length: SETTINGS.concurrency }, async () => {
      while (performance.now() < until) {
        const i = n++;
        const started = performance.now();
        try {
          await runOperation(gatewayUrl, operation, tenants[i % tenants.length]!, SETTINGS.shape, i);
          latencies.push(performance.now() - started);
        } catch (error) {
          errors.push(reason(error));
        }
      }
    }),
  );
  // The services' own view (their /metrics): time per request in each, the database's included.
  const where = timeBreakdown(metricsDelta(metricsBefore, await scrapeMetrics(urls)), latencies.length);
  const databaseMs = Object.values(where).reduce(
    (ms, byMetric) => ms + (byMetric.db_query_duration_seconds?.msPerRequest ?? 0),
    0,
  );
  return {
    ...summarize(latencies),
    perSecond: Math.round(latencies.length / SETTINGS.seconds),
    errors: errors.length,
    errorExamples: [...new Set(errors)].slice(0, 3),
    databaseMsPerRequest: Math.round(databaseMs * 1000) / 1000,
    servicesMsPerRequest: where,
  };
}

type Measured = Awaited<ReturnType<typeof measure>>;

const loadAtStart = loadAverage();
const scratch = await createScratchDatabase(BASE_URL, "coditect_bch_scale");
const dataDir = await mkdtemp(join(tmpdir(), "coditect-bench-scale-"));
let platform: Platform | undefined;
const sizes: Array<Record<string, unknown> & { organizations: number; ops: Record<Operation, Measured> }> =
  [];
const out = SMOKE
  ? join(tmpdir(), "scale-smoke.json")
  : new URL(`results/scale${flags.sizes ? `.sizes-${SIZES.join("-")}` : ""}.json`, import.meta.url).pathname;

async function writeResults(left: number[]) {
  const first = sizes[0];
  const last = sizes.at(-1);
  const targets =
    first && last && sizes.length > 1
      ? Object.fromEntries(
          OPERATIONS.map((op) => {
            const ratio = Math.round((last.ops[op].p99 / first.ops[op].p99) * 100) / 100;
            return [
              op,
              {
                p99AtSmallestMs: first.ops[op].p99,
                p99AtLargestMs: last.ops[op].p99,
                ratio,
                target: TARGET_P99_RATIO,
                met: ratio <= TARGET_P99_RATIO,
              },
            ];
          }),
        )
      : null;
  const output = {
    ...resultHeader("scale"),
    machine: { ...machine(), loadAverageAtStart: loadAtStart },
    settings: SETTINGS,
    sizes,
    notMeasured: left,
    targets,
  };
  await writeFile(out, `${JSON.stringify(output, null, 2)}\n`);
  return targets;
}

try {
  console.log(
    `scale benchmark${SMOKE ? " (smoke)" : ""}: ${SIZES.join(", ")} organizations (${JSON.stringify(SETTINGS.shape)}); ${SETTINGS.samples} sampled tenants, ${SETTINGS.seconds} s per operation at ${SETTINGS.concurrency} in flight`,
  );
  platform = await startPlatform(scratch.url, dataDir);
  const mint = await accessTokenMinter(platform, dataDir);
  let seeded = 0;
  for (const [index, size] of SIZES.entries()) {
    // Enough disk for this size, judged by what the last one took per organization.
    const previous = sizes.at(-1);
    if (previous) {
      const bytesPerOrg = ((previous.database as { databaseMiB: number }).databaseMiB * 2 ** 20) / seeded;
      const { bavail, bsize } = await statfs(tmpdir());
      const needGiB = (bytesPerOrg * (size - seeded)) / 2 ** 30;
      const freeGiB = (bavail * bsize) / 2 ** 30;
      console.log(`  ${size}: needs about ${needGiB.toFixed(1)} GiB more; ${freeGiB.toFixed(1)} GiB free`);
      if (freeGiB - needGiB < KEEP_FREE_GIB) {
        console.log(`  not enough disk for ${size} organizations: stopping here`);
        await writeResults(SIZES.slice(index));
        break;
      }
    }
    const load = { before: loadAverage() };
    let lastReport = performance.now();
    const seed = await seedOrganizations(scratch.url, seeded, size, SETTINGS.shape, (done) => {
      if (performance.now() - lastReport < 10_000) return;
      lastReport = performance.now();
      console.log(`  seeding: ${seeded + done} of ${size} organizations`);
    });
    seeded = size;
    const database = await databaseSize(scratch.url, SEEDED_TABLES);
    const rows = Object.values(seed.rows).reduce((a, b) => a + b, 0);
    console.log(
      `${size} organizations: seeded ${seed.organizations} more (${rows} rows) in ${(seed.ms / 1000).toFixed(1)} s; database ${database.databaseMiB} MiB`,
    );

    // Evenly over the id space: sample k is organization ⌊(k + ½)·size / samples⌋.
    const samples = Math.min(SETTINGS.samples, size);
    const tenants: SignedIn[] = await Promise.all(
      Array.from({ length: samples }, async (_, k) => {
        const org = Math.floor(((k + 0.5) * size) / samples);
        return { org, token: await mint(ownerOf(org)) };
      }),
    );
    // Warm the services' code paths (not the data: the measured tenants are not touched here).
    const warm: SignedIn = { org: 0, token: await mint(ownerOf(0)) };
    for (const op of OPERATIONS)
      for (let i = 0; i < 20; i++) await runOperation(platform.gatewayUrl, op, warm, SETTINGS.shape, i);

    load.before = loadAverage();
    const ops = {} as Record<Operation, Measured>;
    for (const op of OPERATIONS) ops[op] = await measure(platform, op, tenants);
    const loadAfter = loadAverage();
    console.table(
      Object.fromEntries(
        Object.entries(ops).map(([op, { servicesMsPerRequest: _, ...figures }]) => [op, figures]),
      ),
    );
    sizes.push({
      organizations: size,
      seed: {
        organizationsAdded: seed.organizations,
        rowsAdded: seed.rows,
        seconds: Math.round(seed.ms / 100) / 10,
        rowsPerSecond: Math.round(rows / (seed.ms / 1000)),
      },
      database,
      sampledTenants: tenants.length,
      loadAverage: { beforeMeasuring: load.before, afterMeasuring: loadAfter },
      ops,
    });
    const targets = await writeResults(SIZES.slice(index + 1));
    if (targets) console.table(targets);
  }
  console.log(`\nresults: ${out}`);
  if (sizes.some((s) => Object.values(s.ops).some((o) => o.errors > 0))) process.exitCode = 1;
} finally {
  await platform?.stop().catch((error) => console.error("could not stop the platform:", error));
  if (flags.keep) console.log(`kept the database: ${scratch.url}`);
  else await scratch.drop();
  await rm(dataDir, { recursive: true, force: true });
}

function ownerOf(org: number) {
  return { tenantId: seedIds.organization(org), userId: seedIds.user(org, 0), roles: ["OWNER" as const] };
}
