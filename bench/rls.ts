// `npx tsx bench/rls.ts [--smoke]`: what row-level security costs on the hot queries (list projects, a
// page of tasks, one task by key, create a task), measured through the tenant-scoped client as the
// services use it:
//   - "filter only": the tenant filter in every query (what the client did before row-level security), on
//     a role the policies do not apply to, no transaction around single queries;
//   - "SET LOCAL, no policy": the tenant client as the services use it, which sets the tenant for
//     row-level security (prisma/src/tenant-pool.ts: a lone read is `BEGIN READ ONLY; SET LOCAL
//     app.tenant_id`, the query and COMMIT written at once; a transaction's BEGIN carries the SET), on a
//     role the policies do not apply to;
//   - "RLS": the services' setup: that client as coditect_app, with the policies evaluated;
//   - "RLS, SET as a statement": the same on a client the pool does not help (built with `$extends`),
//     which is what every client did before: each lone operation in a Prisma interactive transaction,
//     BEGIN, SET LOCAL, query, COMMIT, four round trips.
// They run interleaved, one call each in turn, so the shared machine's load falls on all alike.
// Scratch database of its own, dropped at the end. `--smoke` runs a few seconds and writes a temp file.
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createPrismaClient,
  databaseRoleUrls,
  newId,
  type PrismaClient,
  scopeArgs,
  type TenantClient,
  tenantClient,
} from "@app/db";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { loadAverage, resultHeader } from "./machine.ts";
import { summarize } from "./stats.ts";

const SMOKE = process.argv.includes("--smoke");
const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const SIZE = SMOKE
  ? { tenants: 3, tasksPerTenant: 200, warmup: 10, runs: 40 }
  : { tenants: 20, tasksPerTenant: 2_000, warmup: 100, runs: 1_500 };

/** The tenant client as it was before row-level security: the filter pinned, no transaction. */
function filterOnlyClient(prisma: PrismaClient, tenantId: string) {
  return prisma.$extends({
    query: {
      $allModels: {
        $allOperations({ model, operation, args, query }) {
          return query(scopeArgs(model, operation, args as Record<string, unknown>, tenantId));
        },
      },
    },
  }) as unknown as TenantClient;
}

async function seed(prisma: PrismaClient) {
  const tenants: Tenant[] = [];
  for (let t = 0; t < SIZE.tenants; t += 1) {
    const id = newId();
    await prisma.organization.create({ data: { id, name: `rls bench ${t}`, slug: `rls-bench-${id}` } });
    const projects = [newId(), newId(), newId()];
    await prisma.project.createMany({
      data: projects.map((p, i) => ({ tenantId: id, id: p, name: `project ${i}`, key: `P${i}${t}` })),
    });
    const tasks = Array.from({ length: SIZE.tasksPerTenant }, (_, i) => ({
      tenantId: id,
      id: newId(),
      projectId: projects[0]!,
      title: `task ${i}`,
      position: `a${String(i).padStart(6, "0")}`,
    }));
    for (let i = 0; i < tasks.length; i += 1_000)
      await prisma.task.createMany({ data: tasks.slice(i, i + 1_000) });
    tenants.push({ id, project: projects[0]!, task: tasks[0]!.id });
  }
  await prisma.$executeRawUnsafe("ANALYZE");
  return tenants;
}

type Tenant = { id: string; project: string; task: string };
type Query = (db: TenantClient, tenant: Tenant) => Promise<unknown>;

const QUERIES: Record<string, Query> = {
  "list projects": (db) =>
    db.project.findMany({ where: { deletedAt: null }, orderBy: { id: "asc" }, take: 21 }),
  "page of tasks": (db, tenant) =>
    db.task.findMany({
      where: { projectId: tenant.project, deletedAt: null },
      orderBy: { id: "asc" },
      take: 51,
    }),
  // By primary key, as a service looks one row up (the tenant client asks it as findFirst).
  "one task (findUnique)": (db, tenant) =>
    db.task.findUnique({ where: { tenantId_id: { tenantId: tenant.id, id: tenant.task } } }),
  // As the projects subgraph creates one: an interactive transaction.
  "create task": (db, tenant) =>
    db.$transaction(async (tx) =>
      tx.task.create({
        data: { id: newId(), projectId: tenant.project, title: "bench", position: `z${newId()}` } as never,
      }),
    ),
};

const database = await createScratchDatabase(BASE_URL, "coditect_tna_bench");
const owner = createPrismaClient({ connectionString: database.url, poolSize: 2 });
const app = createPrismaClient({ connectionString: databaseRoleUrls(database.url).app, poolSize: 2 });
try {
  const loadBefore = loadAverage();
  const tenants = await seed(owner);
  // Not built by createPrismaClient, so the tenant client sets the tenant with a statement of its own.
  const appUnaided = app.$extends({}) as unknown as PrismaClient;
  const variants: Record<string, (tenantId: string) => TenantClient> = {
    "filter only": (id) => filterOnlyClient(owner, id),
    "SET LOCAL, no policy": (id) => tenantClient(owner, id),
    RLS: (id) => tenantClient(app, id),
    "RLS, SET as a statement": (id) => tenantClient(appUnaided, id),
  };
  const names = Object.keys(variants);
  const results: Record<string, Record<string, ReturnType<typeof summarize>>> = {};
  for (const [queryName, run] of Object.entries(QUERIES)) {
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let i = 0; i < SIZE.warmup + SIZE.runs; i += 1) {
      const tenant = tenants[i % tenants.length]!;
      // Rotate the order, so no variant always runs right after another's commit.
      for (let k = 0; k < names.length; k += 1) {
        const name = names[(i + k) % names.length]!;
        const db = variants[name]!(tenant.id);
        const started = performance.now();
        await run(db, tenant);
        if (i >= SIZE.warmup) samples[name]!.push(performance.now() - started);
      }
    }
    results[queryName] = Object.fromEntries(names.map((n) => [n, summarize(samples[n]!)]));
    console.log(`\n${queryName} (ms)`);
    console.table(results[queryName]);
  }
  const overhead = Object.fromEntries(
    Object.entries(results).map(([query, r]) => [
      query,
      {
        rlsVsFilterOnlyP50Percent: Math.round((r.RLS!.p50 / r["filter only"]!.p50 - 1) * 1000) / 10,
        policyVsSetLocalP50Percent: Math.round((r.RLS!.p50 / r["SET LOCAL, no policy"]!.p50 - 1) * 1000) / 10,
        setAsStatementVsFilterOnlyP50Percent:
          Math.round((r["RLS, SET as a statement"]!.p50 / r["filter only"]!.p50 - 1) * 1000) / 10,
      },
    ]),
  );
  console.log("\noverhead of row-level security (p50)");
  console.table(overhead);
  const result = {
    ...resultHeader("rls"),
    loadAverage: { before: loadBefore, after: loadAverage() },
    sizes: SIZE,
    latencyMs: results,
    overhead,
  };
  const out = SMOKE ? join(tmpdir(), "rls-smoke.json") : new URL("results/rls.json", import.meta.url);
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nresults: ${out instanceof URL ? out.pathname : out}`);
} finally {
  await Promise.all([owner.$disconnect(), app.$disconnect()]);
  await database.drop();
}
