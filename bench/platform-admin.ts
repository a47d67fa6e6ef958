/**
 * Platform administration at a million tenants: the support team's queries (newest first, name search,
 * exact slug, next page, one organization) against a database seeded with `--tenants` organizations
 * (default 1,000,000), each with a member, and a project in three of ten. Every call runs the real
 * audited path (subgraphs/tenants/src/modules/platform/cross-tenant.ts), audit entries included.
 *
 * Usage: DATABASE_URL=postgresql://... npx tsx bench/platform-admin.ts [--seed] [--tenants N] [--runs N]
 * (`--seed` fills an empty, migrated database first; it takes about 90 s per million on this machine).
 */
import { parseArgs } from "node:util";
import { createPrismaClient } from "@app/db";
import pg from "pg";
import { createPlatformAccess } from "../subgraphs/tenants/src/modules/platform/cross-tenant.ts";

const { values } = parseArgs({
  options: {
    seed: { type: "boolean", default: false },
    tenants: { type: "string", default: "1000000" },
    runs: { type: "string", default: "30" },
  },
});
const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is not set");
const tenants = Number(values.tenants);
const runs = Number(values.runs);

if (values.seed) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  // UUIDv7-shaped ids in creation order; names from ten companies so a prefix matches a tenth of them.
  await client.query(
    `
    INSERT INTO organizations (id, name, slug, status, updated_at)
    SELECT (lpad(to_hex(1700000000000 + i), 12, '0') || '7' || lpad(to_hex(i % 4096), 3, '0') || '8' || lpad(to_hex(i), 15, '0'))::uuid,
           (ARRAY['Acme','Globex','Initech','Umbrella','Hooli','Stark','Wayne','Wonka','Tyrell','Cyberdyne'])[1 + i % 10] || ' ' || i,
           'org-' || i, CASE WHEN i % 100 = 0 THEN 'SUSPENDED'::organization_status ELSE 'ACTIVE' END, now()
    FROM generate_series(1, $1::int) AS i`,
    [tenants],
  );
  await client.query("INSERT INTO organization_slugs (slug, tenant_id) SELECT slug, id FROM organizations");
  await client.query(`INSERT INTO memberships (tenant_id, user_id, role, email, name)
    SELECT id, gen_random_uuid(), 'OWNER', 'u' || slug || '@x.test', 'U' FROM organizations`);
  await client.query(`INSERT INTO projects (tenant_id, id, name, key, updated_at)
    SELECT id, gen_random_uuid(), 'P', 'P1', now() FROM organizations WHERE right(slug, 1) IN ('1', '2', '3')`);
  await client.query("ANALYZE");
  await client.end();
  console.log(`seeded ${tenants} organizations in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const db = createPrismaClient({ connectionString: url, poolSize: 4 });
const platform = createPlatformAccess(db);
const actor = { userId: "0190f2d4-7a4b-7c3e-8a1b-00000000a0a0", requestId: "bench" };
const page = { status: null, take: 20, after: null } as const;

async function measure(name: string, call: () => Promise<unknown>) {
  await call();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(1);
  console.log(`${name.padEnd(44)} median ${at(0.5).padStart(7)} ms   p95 ${at(0.95).padStart(7)} ms`);
}

const first = await platform.list(actor, { ...page, search: "acme 12" });
console.log(
  `organizations: ${tenants}; runs per query: ${runs}; page size 20 (with plan, member and project counts, audited)`,
);
await measure("newest first, first page", () => platform.list(actor, { ...page, search: null }));
await measure("name prefix 'acme 12', first page", () =>
  platform.list(actor, { ...page, search: "acme 12" }),
);
await measure("name prefix 'acme 12', next page", () =>
  platform.list(actor, { ...page, search: "acme 12", after: first.pageInfo.endCursor }),
);
await measure("name prefix 'a' (a tenth of all), first page", () =>
  platform.list(actor, { ...page, search: "a" }),
);
await measure("exact slug 'org-777777'", () => platform.list(actor, { ...page, search: "org-777777" }));
await measure("suspended only, newest first", () =>
  platform.list(actor, { ...page, search: null, status: "SUSPENDED" }),
);
await measure("one organization (view)", () => platform.view(actor, first.edges[0]!.node.id));
await db.$disconnect();
