// The COPY-based seeder: organizations, each with users (and their e-mail lookup rows), memberships,
// projects and tasks, written with PostgreSQL's COPY FROM STDIN (pg-copy-streams) straight into a
// migrated database, as fast as the server takes them; the platform then queries them like any other.
//
// Rows follow the schema's rules: every tenant row carries its organization's id, parents are written
// before children (the foreign keys are checked as the rows arrive; nothing is disabled), globally
// unique values (e-mails, slugs) are unique, task positions are valid fractional-index keys unique per
// column, and ids are UUIDv7 like newId()'s. Ids are derived from the organization's number, so a
// benchmark can name any tenant, user, project or task without keeping a list of them.
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { generateNKeysBetween } from "fractional-indexing";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { hashPassword } from "../../subgraphs/identity/src/modules/accounts/password.ts";

export interface SeedShape {
  /** Per organization; the first is its OWNER, the others MEMBERs. */
  usersPerOrganization: number;
  projectsPerOrganization: number;
  tasksPerProject: number;
  /** A plan to subscribe every organization to (an active subscription row); the free plan without. */
  planCode?: string;
}

export const DEFAULT_SHAPE: SeedShape = {
  usersPerOrganization: 3,
  projectsPerOrganization: 2,
  tasksPerProject: 10,
};

/** Every seeded user's password (one scrypt hash for all: hashing a million would take hours). */
export const SEED_PASSWORD = "bench password, not a secret";

// ---------------------------------------------------------------------------------------------------
// Ids: a UUIDv7 whose timestamp is a fixed instant plus the organization's number (so ids sort, and
// B-trees fill, in seeding order, as with real sign-ups), whose version nibble is followed by the kind
// of row and whose variant is followed by the row's number within its organization.

const EPOCH_MS = Date.UTC(2026, 0, 1);
const KIND = { organization: 0, user: 1, project: 2, task: 3, subscription: 4 } as const;
const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

function seededId(kind: keyof typeof KIND, org: number, n: number): string {
  const ts = hex(EPOCH_MS + org, 12);
  return `${ts.slice(0, 8)}-${ts.slice(8)}-7${hex(KIND[kind], 1)}00-8${hex(n, 3)}-${hex(org, 12)}`;
}

export const seedIds = {
  organization: (org: number) => seededId("organization", org, 0),
  user: (org: number, u: number) => seededId("user", org, u),
  project: (org: number, p: number) => seededId("project", org, p),
  task: (org: number, p: number, t: number, shape: SeedShape) =>
    seededId("task", org, p * shape.tasksPerProject + t),
  subscription: (org: number) => seededId("subscription", org, 0),
  email: (org: number, u: number) => `u${u}.o${org}@seed.example.test`,
};

// ---------------------------------------------------------------------------------------------------
// Rows, as COPY's text format (tab separated; none of the values need escaping).

const STATUSES = ["TODO", "IN_PROGRESS", "DONE"] as const;
const PRIORITIES = ["LOW", "MEDIUM", "HIGH", "URGENT"] as const;

interface Table {
  name: string;
  columns: string[];
  rows(org: number, out: string[]): void;
}

function tables(shape: SeedShape, passwordHash: string, now: string): Table[] {
  if (shape.tasksPerProject * shape.projectsPerOrganization > 4096 || shape.usersPerOrganization > 4096)
    throw new Error("at most 4,096 rows of a kind per organization");
  // One column's positions serve every project: keys only need to be unique within a column.
  const perColumn = Math.ceil(shape.tasksPerProject / STATUSES.length);
  const positions = generateNKeysBetween(null, null, perColumn);
  const row = (...values: Array<string | number | null>) =>
    values.map((v) => (v === null ? "\\N" : String(v))).join("\t");
  return [
    {
      name: "organizations",
      columns: ["id", "name", "slug", "created_at", "updated_at"],
      rows: (o, out) => out.push(row(seedIds.organization(o), `Seeded ${o}`, `seeded-${o}`, now, now)),
    },
    {
      name: "organization_slugs",
      columns: ["slug", "tenant_id"],
      rows: (o, out) => out.push(row(`seeded-${o}`, seedIds.organization(o))),
    },
    {
      name: "users",
      columns: ["id", "email", "name", "password_hash", "created_at", "updated_at"],
      rows: (o, out) => {
        for (let u = 0; u < shape.usersPerOrganization; u++)
          out.push(row(seedIds.user(o, u), seedIds.email(o, u), `User ${u} of ${o}`, passwordHash, now, now));
      },
    },
    {
      name: "user_emails",
      columns: ["email", "user_id"],
      rows: (o, out) => {
        for (let u = 0; u < shape.usersPerOrganization; u++)
          out.push(row(seedIds.email(o, u), seedIds.user(o, u)));
      },
    },
    {
      name: "memberships",
      columns: ["tenant_id", "user_id", "role", "email", "name", "created_at"],
      rows: (o, out) => {
        for (let u = 0; u < shape.usersPerOrganization; u++)
          out.push(
            row(
              seedIds.organization(o),
              seedIds.user(o, u),
              u === 0 ? "OWNER" : "MEMBER",
              seedIds.email(o, u),
              `User ${u} of ${o}`,
              now,
            ),
          );
      },
    },
    {
      name: "projects",
      columns: ["tenant_id", "id", "key", "name", "created_at", "updated_at"],
      rows: (o, out) => {
        for (let p = 0; p < shape.projectsPerOrganization; p++)
          out.push(row(seedIds.organization(o), seedIds.project(o, p), `P${p}`, `Project ${p}`, now, now));
      },
    },
    ...(shape.planCode
      ? [
          {
            name: "subscriptions",
            columns: ["tenant_id", "id", "plan_code", "status", "current_period_start", "updated_at"],
            rows: (o: number, out: string[]) =>
              out.push(
                row(seedIds.organization(o), seedIds.subscription(o), shape.planCode!, "ACTIVE", now, now),
              ),
          },
        ]
      : []),
    {
      name: "tasks",
      columns: [
        "tenant_id",
        "id",
        "project_id",
        "title",
        "status",
        "priority",
        "assignee_id",
        "reporter_id",
        "position",
        "created_at",
        "updated_at",
      ],
      rows: (o, out) => {
        const tenant = seedIds.organization(o);
        for (let p = 0; p < shape.projectsPerOrganization; p++) {
          const project = seedIds.project(o, p);
          for (let t = 0; t < shape.tasksPerProject; t++) {
            out.push(
              row(
                tenant,
                seedIds.task(o, p, t, shape),
                project,
                `Task ${t} of project ${p}`,
                STATUSES[t % STATUSES.length]!,
                PRIORITIES[t % PRIORITIES.length]!,
                seedIds.user(o, t % shape.usersPerOrganization),
                seedIds.user(o, 0),
                positions[Math.floor(t / STATUSES.length)]!,
                now,
                now,
              ),
            );
          }
        }
      },
    },
  ];
}

/** COPY's input for organizations [from, to) of one table, produced as the server takes it. */
function copyInput(table: Table, from: number, to: number): Readable {
  const CHUNK = 500;
  let next = from;
  return new Readable({
    read() {
      if (next >= to) {
        this.push(null);
        return;
      }
      const out: string[] = [];
      const end = Math.min(to, next + CHUNK);
      for (; next < end; next++) table.rows(next, out);
      this.push(`${out.join("\n")}\n`);
    },
  });
}

export interface SeedResult {
  organizations: number;
  rows: Record<string, number>;
  ms: number;
}

/**
 * Seeds organizations [from, to) into a migrated database. Each batch of organizations is one
 * transaction (one COPY per table, parents first), so a failure leaves whole organizations only.
 */
export async function seedOrganizations(
  databaseUrl: string,
  from: number,
  to: number,
  shape: SeedShape = DEFAULT_SHAPE,
  progress?: (done: number) => void,
): Promise<SeedResult> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const rows: Record<string, number> = {};
  try {
    // A crash loses the last batches, not consistency; the seeder reruns from scratch anyway.
    await client.query("SET synchronous_commit = off");
    const all = tables(shape, await hashPassword(SEED_PASSWORD), new Date().toISOString());
    const BATCH = 20_000;
    for (let batchStart = from; batchStart < to; batchStart += BATCH) {
      const batchEnd = Math.min(to, batchStart + BATCH);
      await client.query("BEGIN");
      for (const table of all) {
        const copy = client.query(
          copyFrom(`COPY ${table.name} (${table.columns.map((c) => `"${c}"`).join(", ")}) FROM STDIN`),
        );
        await pipeline(copyInput(table, batchStart, batchEnd), copy);
        rows[table.name] = (rows[table.name] ?? 0) + Number(copy.rowCount);
      }
      await client.query("COMMIT");
      progress?.(batchEnd - from);
    }
    // Fresh statistics, as autovacuum would gather them: plans at a million rows are what we measure.
    await client.query(`ANALYZE ${all.map((t) => t.name).join(", ")}`);
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
  return { organizations: to - from, rows, ms: Math.round(performance.now() - started) };
}

/** Rows per table and on-disk size (tables, indexes, TOAST) of the database, for the results. */
export async function databaseSize(databaseUrl: string, tableNames: string[]) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; rows: string; bytes: string }>(
      `SELECT c.relname AS name, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c WHERE c.relkind = 'r' AND c.relname = ANY($1)`,
      [tableNames],
    );
    const { rows: db } = await client.query<{ bytes: string }>(
      "SELECT pg_database_size(current_database()) AS bytes",
    );
    const MiB = (b: string) => Math.round(Number(b) / 2 ** 20);
    return {
      databaseMiB: MiB(db[0]!.bytes),
      tables: Object.fromEntries(rows.map((r) => [r.name, { rows: Number(r.rows), MiB: MiB(r.bytes) }])),
    };
  } finally {
    await client.end();
  }
}

export const SEEDED_TABLES = [
  "subscriptions",
  "organizations",
  "organization_slugs",
  "users",
  "user_emails",
  "memberships",
  "projects",
  "tasks",
];
