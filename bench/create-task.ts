// `npx tsx bench/create-task.ts [--smoke] [--profile]`: what one `createTask` costs in CPU, the mutation
// that 100/s of fills two cores in bench/subscriptions.ts. The platform runs in this one process
// (test/platform.ts: the real gateway and subgraphs on port 0, no worker), so `process.cpuUsage()` over
// a run of mutations sent one after another is the whole platform's CPU per mutation, client included:
//   - "projects": straight to the projects subgraph, with the signed context the gateway would send;
//   - "gateway": through the gateway with the user's token (the gateway's own work added).
// The two alternate in blocks, so the machine's other load falls on both alike. It also counts the SQL
// statements each mutation sends. `--profile` adds a CPU profile of the "projects" runs (self time by
// package and function). Scratch database of its own, dropped at the end; `--smoke` runs a few seconds
// and writes a temp file instead of bench/results/create-task.json.
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INTERNAL_CONTEXT_HEADER, signInternalContext } from "@app/common";
import { startPlatform } from "../test/platform.ts";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { type CpuProfile, summarizeProfile } from "./inspector.ts";
import { gql } from "./lib/platform.ts";
import { loadAverage, resultHeader } from "./machine.ts";
import { summarize } from "./stats.ts";

const SMOKE = process.argv.includes("--smoke");
const PROFILE = process.argv.includes("--profile");
const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const SIZE = SMOKE ? { warmup: 20, blocks: 2, block: 10 } : { warmup: 300, blocks: 10, block: 100 };

const SIGN_UP = `mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken organizationId user { id } }
}`;
const CREATE_PROJECT = `mutation { createProject(input: { name: "Board" }) { project { id } } }`;
// What bench/subscriptions.ts sends: the task assigned to its creator.
const CREATE_TASK = `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`;

interface Run {
  cpuUs: number[];
  wallMs: number[];
  statements: number;
}

const scratch = await createScratchDatabase(BASE_URL, "coditect_bench_create_task");
const platform = await startPlatform(scratch.url);
try {
  console.log(
    `create-task benchmark${SMOKE ? " (smoke)" : ""}: ${SIZE.blocks} blocks of ${SIZE.block} per route after ${SIZE.warmup} warm-up, one at a time, in one process`,
  );
  const { signUp } = await gql<{
    signUp: { accessToken: string; organizationId: string; user: { id: string } };
  }>(platform.gatewayUrl, SIGN_UP, {
    input: {
      email: `owner-${Date.now()}@example.test`,
      password: "correct horse battery staple",
      organizationName: "Bench",
    },
  });
  const token = signUp.accessToken;
  const project = await gql<{ createProject: { project: { id: string } } }>(
    platform.gatewayUrl,
    CREATE_PROJECT,
    {},
    token,
  );
  const input = (n: number) => ({
    projectId: project.createProject.project.id,
    title: `Task ${n}`,
    assigneeId: signUp.user.id,
  });
  // The gateway signs a context per request; the straight route reuses one (its signing is the gateway's cost).
  const context = await signInternalContext(platform.internalSecret, {
    requestId: "bench-create-task",
    principal: { tenantId: signUp.organizationId, userId: signUp.user.id, roles: ["OWNER"] },
  });
  const routes = {
    projects: (n: number) =>
      gql(platform.subgraphUrls.projects, CREATE_TASK, { input: input(n) }, undefined, {
        [INTERNAL_CONTEXT_HEADER]: context,
      }),
    gateway: (n: number) => gql(platform.gatewayUrl, CREATE_TASK, { input: input(n) }, token),
  };
  type Route = keyof typeof routes;

  let n = 0;
  for (const route of Object.keys(routes) as Route[]) {
    for (let i = 0; i < SIZE.warmup; i++) await routes[route](n++);
  }
  const runs: Record<Route, Run> = {
    projects: { cpuUs: [], wallMs: [], statements: 0 },
    gateway: { cpuUs: [], wallMs: [], statements: 0 },
  };
  for (let b = 0; b < SIZE.blocks; b++) {
    for (const route of Object.keys(routes) as Route[]) {
      const run = runs[route];
      platform.queries.length = 0;
      for (let i = 0; i < SIZE.block; i++) {
        const cpu = process.cpuUsage();
        const started = performance.now();
        await routes[route](n++);
        run.wallMs.push(performance.now() - started);
        const used = process.cpuUsage(cpu);
        run.cpuUs.push(used.user + used.system);
      }
      run.statements += platform.queries.length;
    }
  }

  const perRoute = Object.fromEntries(
    (Object.keys(runs) as Route[]).map((route) => {
      const run = runs[route];
      const cpu = summarize(run.cpuUs.map((us) => us / 1000));
      return [
        route,
        {
          mutations: run.cpuUs.length,
          cpuMsMean: cpu.mean,
          cpuMsP50: cpu.p50,
          wallMsP50: summarize(run.wallMs).p50,
          wallMsP99: summarize(run.wallMs).p99,
          statementsPerMutation: run.statements / run.cpuUs.length,
        },
      ];
    }),
  );
  console.log("CPU of the whole process per createTask (ms), and SQL statements sent per mutation:");
  console.table(perRoute);
  // Profiled apart from the measured runs, which the profiler would slow.
  const profiled = SIZE.blocks * SIZE.block;
  const summary = PROFILE
    ? summarizeProfile(await profileOf(() => repeat(routes.projects, profiled)), 25)
    : null;
  if (summary) {
    const ms = (x: number) => Math.round((x / profiled) * 1000) / 1000;
    console.log("profile of the straight runs, self time per mutation (ms), by package:");
    console.table(Object.fromEntries(Object.entries(summary.byPackage).map(([k, v]) => [k, ms(v)])));
    console.log("by function:");
    console.table(Object.fromEntries(Object.entries(summary.byFunction).map(([k, v]) => [k, ms(v)])));
  }
  // One statement list, for the reader: what a createTask sends, in order.
  platform.queries.length = 0;
  await routes.projects(n++);
  const statements = platform.queries.map((sql) => sql.replace(/\s+/g, " ").slice(0, 120));
  console.log("statements of one createTask:");
  for (const sql of statements) console.log(`  ${sql}`);

  const result = {
    ...resultHeader("create-task"),
    loadAverageAtStart: loadAverage(),
    sizes: SIZE,
    perRoute,
    statements,
    profile: summary,
  };
  // Committed results are full runs only; a smoke run proves the harness works and leaves them alone.
  const out = SMOKE
    ? join(tmpdir(), "create-task-smoke.json")
    : new URL("results/create-task.json", import.meta.url);
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nresults: ${out instanceof URL ? out.pathname : out}`);
} finally {
  await platform.close();
  await scratch.drop();
}

async function repeat(send: (n: number) => Promise<unknown>, times: number) {
  for (let i = 0; i < times; i++) await send(i);
}

/** A CPU profile of this process while `during` runs (sampled every 200 µs). */
async function profileOf(during: () => Promise<unknown>): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
    await during();
    const { profile } = await session.post("Profiler.stop");
    return profile as unknown as CpuProfile;
  } finally {
    session.disconnect();
  }
}
