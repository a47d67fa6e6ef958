/**
 * Row-level security, the backstop behind the tenant-scoped client, against the migrated test database.
 * Every table with a tenant column is covered (so a table added later cannot slip through), the
 * services' role cannot get around it, and code that forgets the tenant filter, or sets no tenant at
 * all, reads and writes nothing of another tenant. Tenants are seeded through the owner's client.
 */
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  APP_ROLE,
  CROSS_TENANT_ROLE,
  createPrismaClient,
  databaseRoleUrls,
  newId,
  Prisma,
  setTenantSql,
  TenantViolationError,
  tenantClient,
} from "./index.ts";

const ownerUrl = inject("databaseUrl");
const roles = databaseRoleUrls(ownerUrl);
const owner = new pg.Pool({ connectionString: ownerUrl, max: 2 });
/** The services' pool, raw: what buggy code that bypasses the tenant client would hold. */
const app = new pg.Pool({ connectionString: roles.app, max: 2 });
const crossTenant = new pg.Pool({ connectionString: roles.crossTenant, max: 1 });
const appPrisma = createPrismaClient({ connectionString: roles.app, poolSize: 2 });

afterAll(async () => {
  await Promise.all([owner.end(), app.end(), crossTenant.end(), appPrisma.$disconnect()]);
});

/** A tenant with two projects, a task and a membership-less organization row, through the owner. */
async function seedTenant(label: string) {
  const id = newId();
  const projects = [newId(), newId()];
  await owner.query("INSERT INTO organizations (id, name, slug, updated_at) VALUES ($1, $2, $3, now())", [
    id,
    `RLS ${label}`,
    `rls-${label}-${id}`,
  ]);
  for (const project of projects) {
    await owner.query(
      "INSERT INTO projects (tenant_id, id, name, key, updated_at) VALUES ($1, $2, $3, $4, now())",
      [id, project, `${label} project`, `K${project.slice(-8).toUpperCase()}`],
    );
  }
  const task = newId();
  await owner.query(
    "INSERT INTO tasks (tenant_id, id, project_id, title, position, updated_at) VALUES ($1, $2, $3, 't', 'a0', now())",
    [id, task, projects[0]],
  );
  return { id, projects, task };
}

/** Runs `work` on one app-role connection inside a transaction that sets `tenantId` (or none). */
async function asApp<T>(tenantId: string | null, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await app.connect();
  try {
    await client.query("BEGIN");
    if (tenantId) await client.query(setTenantSql(tenantId));
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  } finally {
    client.release();
  }
}

const ids = (rows: { id: string }[]) => rows.map((r) => r.id).sort();

describe("every tenant table is behind row-level security", () => {
  it("covers each table with a tenant column, and organizations: ENABLE, FORCE, both policies, grants", async () => {
    const { rows } = await owner.query<{
      table: string;
      rls: boolean;
      forced: boolean;
      tenantPolicy: string | null;
      tenantRoles: string[] | null;
      crossPolicy: string | null;
      crossRoles: string[] | null;
      appCanWrite: boolean;
    }>(`
      SELECT c.relname AS table, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
        (SELECT qual FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
           AND p.policyname = 'tenant_isolation' AND p.cmd = 'ALL' AND p.permissive = 'PERMISSIVE') AS "tenantPolicy",
        (SELECT roles::text[] FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
           AND p.policyname = 'tenant_isolation') AS "tenantRoles",
        (SELECT qual FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
           AND p.policyname = 'cross_tenant' AND p.cmd = 'ALL') AS "crossPolicy",
        (SELECT roles::text[] FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
           AND p.policyname = 'cross_tenant') AS "crossRoles",
        -- One privilege per call: with a list, has_table_privilege answers whether ANY is held. UPDATE
        -- and DELETE are not required: audit_entries is append-only for the services.
        (has_table_privilege('${APP_ROLE}', c.oid, 'SELECT')
          AND has_table_privilege('${APP_ROLE}', c.oid, 'INSERT')) AS "appCanWrite"
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        AND (c.relname = 'organizations' OR EXISTS (SELECT 1 FROM pg_attribute a
          WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
      ORDER BY c.relname`);
    expect(rows.map((r) => r.table)).toEqual(expect.arrayContaining(["organizations", "projects", "tasks"]));
    const problems = rows.flatMap((r) => {
      const column = r.table === "organizations" ? "id" : "tenant_id";
      const expected = `(${column} = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)`;
      return [
        !r.rls && `${r.table}: row-level security is not enabled`,
        !r.forced && `${r.table}: row-level security is not forced (the owner would bypass it)`,
        r.tenantPolicy !== expected &&
          `${r.table}: tenant_isolation policy is ${r.tenantPolicy ?? "missing"}`,
        JSON.stringify(r.tenantRoles) !== '["public"]' &&
          `${r.table}: tenant_isolation must apply to every role`,
        r.crossPolicy !== "true" && `${r.table}: cross_tenant policy is ${r.crossPolicy ?? "missing"}`,
        JSON.stringify(r.crossRoles) !== `["${CROSS_TENANT_ROLE}"]` &&
          `${r.table}: cross_tenant must apply to ${CROSS_TENANT_ROLE} only`,
        !r.appCanWrite && `${r.table}: ${APP_ROLE} is not granted SELECT and INSERT`,
      ].filter(Boolean);
    });
    // A migration that creates a tenant table calls `SELECT secure_tenant_table('<table>')`.
    expect(problems).toEqual([]);
  });

  it("leaves no table unreachable: the cross-tenant role may read every table", async () => {
    const { rows } = await owner.query<{ table: string }>(`
      SELECT c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> '_migrations'
        AND NOT has_table_privilege('${CROSS_TENANT_ROLE}', c.oid, 'SELECT')`);
    expect(rows.map((r) => r.table)).toEqual([]);
  });

  it("the services' roles are neither superusers nor exempt from row-level security, and own no table", async () => {
    const { rows } = await owner.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>(
      "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname",
      [[APP_ROLE, CROSS_TENANT_ROLE]],
    );
    expect(rows).toEqual([
      { rolname: APP_ROLE, rolsuper: false, rolbypassrls: false },
      { rolname: CROSS_TENANT_ROLE, rolsuper: false, rolbypassrls: false },
    ]);
    const owned = await owner.query(
      "SELECT relname FROM pg_class WHERE pg_get_userbyid(relowner) = ANY($1)",
      [[APP_ROLE, CROSS_TENANT_ROLE]],
    );
    expect(owned.rows).toEqual([]);
  });

  it("keeps users, their e-mails and credentials away from the application role", async () => {
    for (const table of ["users", "user_emails"]) {
      await expect(app.query(`SELECT * FROM ${table} LIMIT 1`)).rejects.toThrow(/permission denied/);
    }
    // The plan catalogue is public: tenants read it, and cannot change it.
    await expect(app.query("SELECT code FROM plans LIMIT 1")).resolves.toBeDefined();
    await expect(app.query("DELETE FROM plans")).rejects.toThrow(/permission denied/);
  });

  it("the application role cannot switch row-level security off or take over a table", async () => {
    await expect(app.query("SET row_security = off; SELECT * FROM projects")).rejects.toThrow(
      /row-level security/,
    );
    await expect(app.query("ALTER TABLE projects DISABLE ROW LEVEL SECURITY")).rejects.toThrow(
      /must be owner/,
    );
    await expect(app.query(`SET ROLE ${CROSS_TENANT_ROLE}`)).rejects.toThrow(/permission denied/);
  });
});

describe("code that forgets the tenant filter", () => {
  it("reads only the tenant of its transaction, whatever the query asks for", async () => {
    const a = await seedTenant("a");
    const b = await seedTenant("b");
    // Deliberately buggy: no WHERE tenant_id at all, or naming the other tenant's rows.
    const seen = await asApp(a.id, async (client) => ({
      projects: (await client.query("SELECT id FROM projects")).rows,
      bProjects: (await client.query("SELECT id FROM projects WHERE id = ANY($1)", [b.projects])).rows,
      bTenant: (await client.query("SELECT id FROM projects WHERE tenant_id = $1", [b.id])).rows,
      tasks: (await client.query("SELECT id FROM tasks")).rows,
      organizations: (await client.query("SELECT id FROM organizations")).rows,
      joined: (await client.query("SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id")).rows,
    }));
    expect(seen.projects.map((r) => r.id)).toEqual(expect.arrayContaining(a.projects));
    expect(seen.projects.map((r) => r.id)).not.toEqual(expect.arrayContaining([b.projects[0]]));
    expect(ids(seen.projects)).toEqual([...a.projects].sort());
    expect(seen.bProjects).toEqual([]);
    expect(seen.bTenant).toEqual([]);
    expect(ids(seen.tasks)).toEqual([a.task]);
    expect(ids(seen.organizations)).toEqual([a.id]);
    expect(ids(seen.joined)).toEqual([a.task]);
  });

  it("reads no tenant rows with no tenant set: a fresh connection, and one whose transaction ended", async () => {
    await seedTenant("c");
    // The acceptance check: the raw connection role, no tenant, no rows (and no error).
    for (const table of ["projects", "tasks", "organizations", "memberships", "outbox_events"]) {
      const { rows } = await app.query(`SELECT count(*)::int AS n FROM ${table}`);
      expect(rows[0].n, table).toBe(0);
    }
    // After a transaction with SET LOCAL the setting lingers in the session as '': still no rows.
    const client = await app.connect();
    try {
      await client.query("BEGIN");
      await client.query(setTenantSql(newId()));
      await client.query("COMMIT");
      const { rows } = await client.query("SELECT count(*)::int AS n FROM projects");
      expect(rows[0].n).toBe(0);
    } finally {
      client.release();
    }
  });

  it("writes only its own tenant's rows: no insert into, update of, move to or delete of another tenant", async () => {
    const a = await seedTenant("d");
    const b = await seedTenant("e");
    const before = (await owner.query("SELECT * FROM projects WHERE tenant_id = $1 ORDER BY id", [b.id]))
      .rows;
    await expect(
      asApp(a.id, (c) =>
        c.query(
          "INSERT INTO projects (tenant_id, id, name, key, updated_at) VALUES ($1, $2, 'x', 'X1', now())",
          [b.id, newId()],
        ),
      ),
    ).rejects.toThrow(/row-level security/);
    await expect(
      asApp(a.id, (c) => c.query("UPDATE projects SET tenant_id = $1 WHERE id = $2", [b.id, a.projects[0]])),
    ).rejects.toThrow(/row-level security/);
    const changed = await asApp(a.id, async (c) => ({
      updated: (await c.query("UPDATE projects SET name = 'hijacked'")).rowCount,
      deleted: (await c.query("DELETE FROM tasks WHERE tenant_id = $1", [b.id])).rowCount,
    }));
    expect(changed).toEqual({ updated: 2, deleted: 0 });
    // With no tenant, nothing can be written at all.
    await expect(
      app.query(
        "INSERT INTO projects (tenant_id, id, name, key, updated_at) VALUES ($1, $2, 'x', 'X2', now())",
        [a.id, newId()],
      ),
    ).rejects.toThrow(/row-level security/);
    expect((await app.query("DELETE FROM projects")).rowCount).toBe(0);
    expect(
      (await owner.query("SELECT * FROM projects WHERE tenant_id = $1 ORDER BY id", [b.id])).rows,
    ).toEqual(before);
  });

  it("the cross-tenant role sees every tenant (it is used only in the named places)", async () => {
    const a = await seedTenant("f");
    const b = await seedTenant("g");
    const { rows } = await crossTenant.query(
      "SELECT DISTINCT tenant_id FROM projects WHERE tenant_id = ANY($1)",
      [[a.id, b.id]],
    );
    expect(rows.map((r) => r.tenant_id).sort()).toEqual([a.id, b.id].sort());
  });
});

describe("the tenant-scoped client over the application role", () => {
  it("sets the tenant for every operation: alone, in an interactive and in a batch transaction, and in $findManySql", async () => {
    const a = await seedTenant("h");
    await seedTenant("i");
    const db = tenantClient(appPrisma, a.id);
    expect(ids(await db.project.findMany())).toEqual([...a.projects].sort());
    expect(await db.task.count()).toBe(1);
    const inTx = await db.$transaction(async (tx) => ({
      projects: await tx.project.findMany(),
      sql: await tx.$findManySql("Task", {
        where: Prisma.sql`true`,
        orderBy: Prisma.sql`t.id`,
        take: 10,
      }),
    }));
    expect(ids(inTx.projects)).toEqual([...a.projects].sort());
    expect(ids(inTx.sql)).toEqual([a.task]);
    const [projects, tasks] = await db.$transaction([db.project.findMany(), db.task.findMany()]);
    expect(ids(projects)).toEqual([...a.projects].sort());
    expect(ids(tasks)).toEqual([a.task]);
    const viaSql = await db.$findManySql("Task", {
      where: Prisma.sql`true`,
      orderBy: Prisma.sql`t.id`,
      take: 10,
    });
    expect(ids(viaSql)).toEqual([a.task]);
    const created = await db.project.create({
      data: { id: newId(), name: "through RLS", key: "RLSNEW" } as never,
    });
    expect(created.tenantId).toBe(a.id);
  });

  it("keeps each operation's tenant to itself: tenants in the same tick, other clients in a transaction", async () => {
    const a = await seedTenant("k");
    const b = await seedTenant("l");
    const dbA = tenantClient(appPrisma, a.id);
    const dbB = tenantClient(appPrisma, b.id);
    // One tick: Prisma batches the findUniques of a tick, and the lone reads share the pool.
    const [orgA, orgB, projectsA, projectsB] = await Promise.all([
      dbA.organization.findUnique({ where: { id: a.id } }),
      dbB.organization.findUnique({ where: { id: b.id } }),
      dbA.project.findMany(),
      dbB.project.findMany(),
    ]);
    expect([orgA?.id, orgB?.id]).toEqual([a.id, b.id]);
    expect(ids(projectsA)).toEqual([...a.projects].sort());
    expect(ids(projectsB)).toEqual([...b.projects].sort());
    // The raw client called inside A's transaction is not given A's tenant: it still sees nothing.
    const raw = await dbA.$transaction(async () => appPrisma.project.findMany({ where: { tenantId: a.id } }));
    expect(raw).toEqual([]);
  });

  it("sets the tenant on a client that createPrismaClient did not build, with a statement of its own", async () => {
    const a = await seedTenant("n");
    const db = tenantClient(appPrisma.$extends({}) as unknown as typeof appPrisma, a.id);
    expect(ids(await db.project.findMany())).toEqual([...a.projects].sort());
    const sql = { where: Prisma.sql`true`, orderBy: Prisma.sql`t.id`, take: 10 };
    expect(ids(await db.$findManySql("Task", sql))).toEqual([a.task]);
    expect(await db.$transaction(async (tx) => tx.task.count())).toBe(1);
  });

  it("a lone read that fails is rolled back and frees its connection", async () => {
    const a = await seedTenant("m");
    const db = tenantClient(appPrisma, a.id);
    const broken = { where: Prisma.sql`t.no_such_column = 1`, orderBy: Prisma.sql`t.id`, take: 1 };
    // More failures than the pool has connections: a connection kept would leave the last read waiting.
    for (let i = 0; i < 3; i += 1)
      await expect(db.$findManySql("Task", broken)).rejects.toThrow(/no_such_column/);
    expect(ids(await db.project.findMany())).toEqual([...a.projects].sort());
  });

  it("the raw application-role client, with no tenant, finds nothing", async () => {
    await seedTenant("j");
    expect(await appPrisma.project.findMany({ take: 5 })).toEqual([]);
    expect(await appPrisma.organization.count()).toBe(0);
  });

  it("refuses a malformed tenant before any SQL", () => {
    expect(() => setTenantSql("x'; RESET ROLE; --")).toThrow(TenantViolationError);
  });
});
