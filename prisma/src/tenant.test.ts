/**
 * The tenant-scoped client against a real PostgreSQL (the migrated test database): every operation on
 * tenant-owned models sees and changes only its own tenant's rows, fills the tenant on create and
 * refuses arguments that name another tenant. Each test seeds two fresh tenants A and B through the
 * raw client and checks B's rows through the raw client afterwards.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  AuditScope,
  appendAuditEntries,
  createPrismaClient,
  databaseRoleUrls,
  emitEvents,
  forTenant,
  newId,
  Prisma,
  TENANT_COLUMN,
  TenantViolationError,
  tenantClient,
} from "./index.ts";

const prisma = createPrismaClient({ connectionString: inject("databaseUrl"), poolSize: 4 });
/** The services' role: row-level security holds it to the tenant the scoped client sets. */
const appPrisma = createPrismaClient({
  connectionString: databaseRoleUrls(inject("databaseUrl")).app,
  poolSize: 4,
});

afterAll(async () => {
  await Promise.all([prisma.$disconnect(), appPrisma.$disconnect()]);
});

interface Tenant {
  id: string;
  projects: [string, string];
  /** Two tasks in the first project, one in the second. */
  tasks: [string, string, string];
}

async function seedTenant(label: string): Promise<Tenant> {
  const id = newId();
  const projects: [string, string] = [newId(), newId()];
  const tasks: [string, string, string] = [newId(), newId(), newId()];
  const slug = `org-${label}-${id}`;
  await prisma.organization.create({ data: { id, name: `Org ${label}`, slug } });
  await prisma.organizationSlug.create({ data: { slug, tenantId: id } });
  await prisma.project.createMany({
    data: projects.map((p, i) => ({ tenantId: id, id: p, name: `${label} project ${i}` })),
  });
  await prisma.task.createMany({
    data: tasks.map((t, i) => ({
      tenantId: id,
      id: t,
      projectId: i < 2 ? projects[0] : projects[1],
      title: `${label} task ${i}`,
      position: `a${i}`,
    })),
  });
  return { id, projects, tasks };
}

/** Two tenants and A's scoped client. */
async function seed() {
  const a = await seedTenant("a");
  const b = await seedTenant("b");
  return { a, b, db: tenantClient(appPrisma, a.id) };
}

/** Everything a tenant owns, read through the raw client: compared before and after to prove B is intact. */
async function snapshot(tenantId: string) {
  const [organization, slugs, projects, tasks] = await Promise.all([
    prisma.organization.findUnique({ where: { id: tenantId } }),
    prisma.organizationSlug.findMany({ where: { tenantId }, orderBy: { slug: "asc" } }),
    prisma.project.findMany({ where: { tenantId }, orderBy: { id: "asc" } }),
    prisma.task.findMany({ where: { tenantId }, orderBy: { id: "asc" } }),
  ]);
  return { organization, slugs, projects, tasks };
}

const sorted = (ids: string[]) => [...ids].sort();
const idsOf = (rows: { id: string }[]) => sorted(rows.map((r) => r.id));

/** The scoped client refuses before any SQL is sent; the refusal surfaces when the query runs. */
async function expectViolation(query: () => PromiseLike<unknown>) {
  await expect((async () => query())()).rejects.toThrow(TenantViolationError);
}

/** Prisma's "record not found" (P2025), which is what a scoped client reports for another tenant's row. */
const notFound = expect.objectContaining({ code: "P2025" });

describe("tenant id validation", () => {
  const bad: [string, unknown][] = [
    ["undefined", undefined],
    ["null", null],
    ["empty string", ""],
    ["not a uuid", "abc"],
    ["SQL-ish", "' OR 1=1 --"],
    ["uuid followed by SQL", `${newId()}'; DROP TABLE projects; --`],
    ["uuid with whitespace", ` ${newId()}`],
    ["upper-case uuid", newId().toUpperCase()],
  ];

  it.each(bad)("forTenant refuses %s", (_label, value) => {
    expect(() => forTenant(value as string)).toThrow(TenantViolationError);
  });

  it.each(bad)("tenantClient refuses %s", (_label, value) => {
    expect(() => tenantClient(prisma, value as string)).toThrow(TenantViolationError);
  });

  it("accepts a canonical uuid", () => {
    expect(() => tenantClient(prisma, newId())).not.toThrow();
  });
});

describe("reads on a tenant-owned model", () => {
  it("findMany returns only the tenant's rows, also when the filter names both tenants", async () => {
    const { a, b, db } = await seed();
    expect(idsOf(await db.project.findMany())).toEqual(sorted(a.projects));
    expect(idsOf(await db.task.findMany())).toEqual(sorted(a.tasks));
    const both = await db.project.findMany({ where: { tenantId: { in: [a.id, b.id] } } });
    expect(idsOf(both)).toEqual(sorted(a.projects));
    expect(await db.project.findMany({ where: { id: { in: b.projects } } })).toEqual([]);
    await expectViolation(() => db.project.findMany({ where: { tenantId: b.id } }));
  });

  it("findFirst finds the tenant's row and not the other tenant's", async () => {
    const { a, b, db } = await seed();
    expect((await db.project.findFirst({ where: { id: a.projects[0] } }))?.tenantId).toBe(a.id);
    expect(await db.project.findFirst({ where: { id: b.projects[0] } })).toBeNull();
    expect(await db.project.findFirst({ where: { name: "b project 0" } })).toBeNull();
    await expectViolation(() => db.project.findFirst({ where: { tenantId: b.id } }));
  });

  it("findFirstOrThrow treats the other tenant's row as missing", async () => {
    const { a, b, db } = await seed();
    expect((await db.task.findFirstOrThrow({ where: { id: a.tasks[0] } })).id).toBe(a.tasks[0]);
    await expect(db.task.findFirstOrThrow({ where: { id: b.tasks[0] } })).rejects.toEqual(notFound);
    await expectViolation(() => db.task.findFirstOrThrow({ where: { tenantId: b.id, id: b.tasks[0] } }));
  });

  it("findUnique on the compound key: own row found, other tenant's row null, naming B refused", async () => {
    const { a, b, db } = await seed();
    const own = await db.project.findUnique({
      where: { tenantId_id: { tenantId: a.id, id: a.projects[0] } },
    });
    expect(own?.id).toBe(a.projects[0]);
    // Our tenant in the key, B's row id: the pinned tenant keeps it out.
    expect(
      await db.project.findUnique({ where: { tenantId_id: { tenantId: a.id, id: b.projects[0] } } }),
    ).toBeNull();
    await expectViolation(() =>
      db.project.findUnique({ where: { tenantId_id: { tenantId: b.id, id: b.projects[0] } } }),
    );
  });

  it("findUniqueOrThrow treats the other tenant's row as missing and refuses naming B", async () => {
    const { a, b, db } = await seed();
    const own = await db.task.findUniqueOrThrow({
      where: { tenantId_id: { tenantId: a.id, id: a.tasks[2] } },
    });
    expect(own.projectId).toBe(a.projects[1]);
    await expect(
      db.task.findUniqueOrThrow({ where: { tenantId_id: { tenantId: a.id, id: b.tasks[2] } } }),
    ).rejects.toEqual(notFound);
    await expectViolation(() =>
      db.task.findUniqueOrThrow({ where: { tenantId_id: { tenantId: b.id, id: b.tasks[2] } } }),
    );
  });

  it("count counts only the tenant's rows", async () => {
    const { a, b, db } = await seed();
    expect(await db.project.count()).toBe(2);
    expect(await db.task.count()).toBe(3);
    expect(await db.task.count({ where: { projectId: a.projects[0] } })).toBe(2);
    expect(await db.task.count({ where: { projectId: b.projects[0] } })).toBe(0);
    await expectViolation(() => db.task.count({ where: { tenantId: b.id } }));
  });

  it("aggregate aggregates only the tenant's rows", async () => {
    const { b, db } = await seed();
    const result = await db.task.aggregate({
      _count: { _all: true },
      _min: { title: true },
      _max: { title: true },
    });
    expect(result._count._all).toBe(3);
    expect(result._min.title).toBe("a task 0");
    expect(result._max.title).toBe("a task 2");
    await expectViolation(() => db.task.aggregate({ where: { tenantId: b.id }, _count: true }));
  });

  it("groupBy groups only the tenant's rows", async () => {
    const { a, b, db } = await seed();
    const byTenant = await db.task.groupBy({ by: ["tenantId"], _count: { _all: true } });
    expect(byTenant).toEqual([{ tenantId: a.id, _count: { _all: 3 } }]);
    const byProject = await db.task.groupBy({
      by: ["projectId"],
      _count: { _all: true },
      orderBy: { projectId: "asc" },
    });
    expect(byProject).toEqual(
      sorted(a.projects).map((projectId) => ({
        projectId,
        _count: { _all: projectId === a.projects[0] ? 2 : 1 },
      })),
    );
    await expectViolation(() => db.task.groupBy({ by: ["projectId"], where: { tenantId: b.id } }));
  });
});

describe("writes on a tenant-owned model", () => {
  it("create fills the tenant and refuses another tenant's id", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    const id = newId();
    const created = await db.project.create({
      data: { id, name: "new" } as Prisma.ProjectUncheckedCreateInput,
    });
    expect(created.tenantId).toBe(a.id);
    expect((await prisma.project.findMany({ where: { id } })).map((p) => p.tenantId)).toEqual([a.id]);

    const stray = newId();
    await expectViolation(() => db.project.create({ data: { tenantId: b.id, id: stray, name: "stray" } }));
    expect(await prisma.project.findMany({ where: { id: stray } })).toEqual([]);
    expect(await snapshot(b.id)).toEqual(before);
  });

  it("create cannot point a task at the other tenant's project", async () => {
    const { b, db } = await seed();
    const before = await snapshot(b.id);
    // The foreign key carries tenant_id: (A, B's project) does not exist.
    await expect(
      db.task.create({
        data: {
          id: newId(),
          projectId: b.projects[0],
          title: "x",
          position: "a0",
        } as Prisma.TaskUncheckedCreateInput,
      }),
    ).rejects.toThrow();
    expect(await snapshot(b.id)).toEqual(before);
  });

  it("createMany fills the tenant in every row and refuses the batch when one row names B", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    const ids = [newId(), newId()];
    const rows = ids.map((id) => ({ id, name: id }) as Prisma.ProjectCreateManyInput);
    expect(await db.project.createMany({ data: rows })).toEqual({ count: 2 });
    const stored = await prisma.project.findMany({ where: { id: { in: ids } } });
    expect(stored.map((p) => p.tenantId)).toEqual([a.id, a.id]);

    const more = [newId(), newId()];
    await expectViolation(() =>
      db.project.createMany({
        data: [
          { id: more[0], name: "ok" } as Prisma.ProjectCreateManyInput,
          { tenantId: b.id, id: more[1]!, name: "stray" },
        ],
      }),
    );
    expect(await prisma.project.findMany({ where: { id: { in: more } } })).toEqual([]);
    expect(await snapshot(b.id)).toEqual(before);
  });

  it("createManyAndReturn fills the tenant and refuses a row naming B", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    const ids = [newId(), newId()];
    const created = await db.task.createManyAndReturn({
      data: ids.map(
        (id, i) =>
          ({ id, projectId: a.projects[1], title: id, position: `b${i}0` }) as Prisma.TaskCreateManyInput,
      ),
    });
    expect(created.map((t) => t.tenantId)).toEqual([a.id, a.id]);
    expect(await prisma.task.count({ where: { tenantId: a.id, id: { in: ids } } })).toBe(2);

    const stray = newId();
    await expectViolation(() =>
      db.task.createManyAndReturn({
        data: [{ tenantId: b.id, id: stray, projectId: b.projects[0], title: "stray", position: "c000" }],
      }),
    );
    expect(await prisma.task.findMany({ where: { id: stray } })).toEqual([]);
    expect(await snapshot(b.id)).toEqual(before);
  });

  it("update changes the tenant's row, cannot reach B's row, and cannot move a row to B", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    const renamed = await db.project.update({
      where: { tenantId_id: { tenantId: a.id, id: a.projects[0] } },
      data: { name: "renamed" },
    });
    expect(renamed.name).toBe("renamed");

    await expect(
      db.project.update({
        where: { tenantId_id: { tenantId: a.id, id: b.projects[0] } },
        data: { name: "x" },
      }),
    ).rejects.toEqual(notFound);
    await expectViolation(() =>
      db.project.update({
        where: { tenantId_id: { tenantId: b.id, id: b.projects[0] } },
        data: { name: "x" },
      }),
    );
    await expectViolation(() =>
      db.project.update({
        where: { tenantId_id: { tenantId: a.id, id: a.projects[1] } },
        data: { tenantId: b.id },
      }),
    );
    await expectViolation(() =>
      db.project.update({
        where: { tenantId_id: { tenantId: a.id, id: a.projects[1] } },
        data: { tenantId: { set: b.id } },
      }),
    );
    expect(await snapshot(b.id)).toEqual(before);
    const stillA = await prisma.project.findMany({ where: { id: a.projects[1] } });
    expect(stillA.map((p) => p.tenantId)).toEqual([a.id]);
  });

  it("nested writes cannot pull B's rows into A or push A's rows into B", async () => {
    const { a, b, db } = await seed();
    // A project without tasks: nothing else holds it in A by foreign key.
    const lonely = newId();
    await prisma.project.create({ data: { tenantId: a.id, id: lonely, name: "lonely" } });
    const before = await snapshot(b.id);

    await expectViolation(() =>
      db.project.update({
        where: { tenantId_id: { tenantId: a.id, id: a.projects[0] } },
        data: { tasks: { connect: { tenantId_id: { tenantId: b.id, id: b.tasks[0] } } } },
      }),
    );
    await expectViolation(() =>
      db.organization.update({
        where: { id: a.id },
        data: { projects: { connect: { tenantId_id: { tenantId: b.id, id: b.projects[1] } } } },
      }),
    );
    await expectViolation(() =>
      db.project.update({
        where: { tenantId_id: { tenantId: a.id, id: lonely } },
        data: { organization: { connect: { id: b.id } } },
      }),
    );
    await expectViolation(() =>
      db.task.update({
        where: { tenantId_id: { tenantId: a.id, id: a.tasks[0] } },
        data: { project: { connect: { tenantId_id: { tenantId: b.id, id: b.projects[0] } } } },
      }),
    );

    // Nested creates are refused as well: the extension cannot see into them.
    const nested = newId();
    await expectViolation(() =>
      db.project.create({
        data: { id: nested, name: "n", tasks: { create: { id: newId(), title: "t" } } },
      } as Prisma.ProjectCreateArgs),
    );
    expect(await prisma.project.findMany({ where: { id: nested } })).toEqual([]);

    expect(await snapshot(b.id)).toEqual(before);
    expect((await prisma.project.findMany({ where: { id: lonely } })).map((p) => p.tenantId)).toEqual([a.id]);
    expect(idsOf(await prisma.task.findMany({ where: { tenantId: a.id } }))).toEqual(sorted(a.tasks));
  });

  it("updateMany changes only the tenant's rows", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    expect(await db.task.updateMany({ data: { title: "bulk" } })).toEqual({ count: 3 });
    const own = await prisma.task.findMany({ where: { tenantId: a.id } });
    expect(own.map((t) => t.title)).toEqual(["bulk", "bulk", "bulk"]);
    // A filter naming B's rows matches nothing.
    expect(await db.task.updateMany({ where: { id: { in: b.tasks } }, data: { title: "x" } })).toEqual({
      count: 0,
    });
    await expectViolation(() => db.task.updateMany({ where: { tenantId: b.id }, data: { title: "x" } }));
    await expectViolation(() => db.project.updateMany({ data: { tenantId: b.id } }));
    expect(await snapshot(b.id)).toEqual(before);
  });

  it("upsert updates or creates within the tenant and never touches B", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    const updated = await db.project.upsert({
      where: { tenantId_id: { tenantId: a.id, id: a.projects[0] } },
      create: { id: a.projects[0], name: "unused" } as Prisma.ProjectUncheckedCreateInput,
      update: { name: "upserted" },
    });
    expect(updated.name).toBe("upserted");

    const fresh = newId();
    const created = await db.project.upsert({
      where: { tenantId_id: { tenantId: a.id, id: fresh } },
      create: { id: fresh, name: "created" } as Prisma.ProjectUncheckedCreateInput,
      update: { name: "unused" },
    });
    expect(created.tenantId).toBe(a.id);

    // B's row id under our tenant: not found, so a row is created in A; B's row is not updated.
    const shadow = await db.project.upsert({
      where: { tenantId_id: { tenantId: a.id, id: b.projects[0] } },
      create: { id: b.projects[0], name: "shadow" } as Prisma.ProjectUncheckedCreateInput,
      update: { name: "hijacked" },
    });
    expect(shadow).toMatchObject({ tenantId: a.id, name: "shadow" });

    const key = { tenantId_id: { tenantId: a.id, id: newId() } };
    await expectViolation(() =>
      db.project.upsert({
        where: { tenantId_id: { tenantId: b.id, id: b.projects[0] } },
        create: { id: b.projects[0], name: "x" } as Prisma.ProjectUncheckedCreateInput,
        update: { name: "x" },
      }),
    );
    await expectViolation(() =>
      db.project.upsert({
        where: key,
        create: { tenantId: b.id, id: key.tenantId_id.id, name: "x" },
        update: { name: "x" },
      }),
    );
    await expectViolation(() =>
      db.project.upsert({
        where: { tenantId_id: { tenantId: a.id, id: a.projects[1] } },
        create: { id: a.projects[1], name: "x" } as Prisma.ProjectUncheckedCreateInput,
        update: { tenantId: b.id },
      }),
    );
    expect(await prisma.project.findMany({ where: { id: key.tenantId_id.id } })).toEqual([]);
    expect(await snapshot(b.id)).toEqual(before);
  });

  it("delete removes the tenant's row and cannot reach B's", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    await db.task.delete({ where: { tenantId_id: { tenantId: a.id, id: a.tasks[0] } } });
    expect(await prisma.task.findMany({ where: { id: a.tasks[0] } })).toEqual([]);
    await expect(
      db.task.delete({ where: { tenantId_id: { tenantId: a.id, id: b.tasks[0] } } }),
    ).rejects.toEqual(notFound);
    await expectViolation(() =>
      db.task.delete({ where: { tenantId_id: { tenantId: b.id, id: b.tasks[0] } } }),
    );
    expect(await snapshot(b.id)).toEqual(before);
  });

  it("deleteMany without a filter deletes only the tenant's rows", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    expect(await db.task.deleteMany({ where: { id: { in: [...a.tasks, ...b.tasks] } } })).toEqual({
      count: 3,
    });
    expect(await db.project.deleteMany()).toEqual({ count: 2 });
    expect(await prisma.project.count({ where: { tenantId: a.id } })).toBe(0);
    await expectViolation(() => db.task.deleteMany({ where: { tenantId: b.id } }));
    expect(await snapshot(b.id)).toEqual(before);
  });
});

describe("Organization (tenant column `id`)", () => {
  it("reads see only the own organization", async () => {
    const { a, b, db } = await seed();
    expect((await db.organization.findMany()).map((o) => o.id)).toEqual([a.id]);
    expect(
      (await db.organization.findMany({ where: { id: { in: [a.id, b.id] } } })).map((o) => o.id),
    ).toEqual([a.id]);
    expect(await db.organization.count({ where: { slug: `org-b-${b.id}` } })).toBe(0);
    await expectViolation(() => db.organization.findUnique({ where: { id: b.id } }));
  });

  it("writes change only the own organization", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    expect(await db.organization.updateMany({ data: { name: "Renamed" } })).toEqual({ count: 1 });
    expect((await prisma.organization.findUniqueOrThrow({ where: { id: a.id } })).name).toBe("Renamed");
    await expectViolation(() => db.organization.update({ where: { id: b.id }, data: { name: "x" } }));
    await expectViolation(() => db.organization.update({ where: { id: a.id }, data: { id: b.id } }));
    await expectViolation(() => db.organization.deleteMany({ where: { id: b.id } }));
    expect(await snapshot(b.id)).toEqual(before);
  });
});

describe("OrganizationSlug (a global lookup whose rows belong to a tenant)", () => {
  it("a tenant sees and changes only its own slugs", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    const bSlug = `org-b-${b.id}`;
    expect((await db.organizationSlug.findMany()).map((s) => s.slug)).toEqual([`org-a-${a.id}`]);
    expect(await db.organizationSlug.findUnique({ where: { slug: bSlug } })).toBeNull();
    await expect(
      db.organizationSlug.update({ where: { slug: bSlug }, data: { slug: "taken-over" } }),
    ).rejects.toEqual(notFound);
    await expectViolation(() =>
      db.organizationSlug.update({ where: { slug: `org-a-${a.id}` }, data: { tenantId: b.id } }),
    );
    await expectViolation(() =>
      db.organizationSlug.create({ data: { slug: `x-${newId()}`, tenantId: b.id } }),
    );
    expect(await db.organizationSlug.deleteMany({ where: { slug: bSlug } })).toEqual({ count: 0 });
    const extra = `extra-${newId()}`;
    await db.organizationSlug.create({ data: { slug: extra } as Prisma.OrganizationSlugCreateInput });
    expect((await prisma.organizationSlug.findUniqueOrThrow({ where: { slug: extra } })).tenantId).toBe(a.id);
    expect(await snapshot(b.id)).toEqual(before);
  });
});

describe("global models are out of reach", () => {
  it("Plan, User and UserEmail are refused on a tenant-scoped client", async () => {
    const { db } = await seed();
    const id = newId();
    await expect(db.plan.findMany()).rejects.toThrow(TenantViolationError);
    await expect(db.user.findUnique({ where: { id } })).rejects.toThrow(TenantViolationError);
    await expect(
      db.user.create({ data: { id, email: `${id}@example.test`, name: "U", passwordHash: "x" } }),
    ).rejects.toThrow(TenantViolationError);
    await expect(db.userEmail.deleteMany()).rejects.toThrow(TenantViolationError);
    expect(await prisma.user.findUnique({ where: { id } })).toBeNull();
  });
});

type RawClient = Record<"$queryRaw" | "$executeRaw" | "$queryRawUnsafe" | "$executeRawUnsafe", unknown>;

/** Calls each raw method the way callers would (tagged template or string) and expects a refusal. */
function expectRawRefused(client: object) {
  const raw = client as RawClient;
  const tagged = ["$queryRaw", "$executeRaw"] as const;
  const unsafe = ["$queryRawUnsafe", "$executeRawUnsafe"] as const;
  for (const method of tagged) {
    const fn = raw[method] as (strings: TemplateStringsArray) => unknown;
    expect(() => fn`SELECT 1`, method).toThrow(TenantViolationError);
  }
  for (const method of unsafe) {
    const fn = raw[method] as (sql: string) => unknown;
    expect(() => fn("SELECT 1"), method).toThrow(TenantViolationError);
  }
}

describe("raw SQL and transactions", () => {
  it("raw SQL is refused on the tenant client", () => {
    expectRawRefused(tenantClient(prisma, newId()));
  });

  it("raw SQL is refused on the client an interactive transaction hands out", async () => {
    const db = tenantClient(prisma, newId());
    let checked = false;
    await db.$transaction(async (tx) => {
      expectRawRefused(tx);
      checked = true;
    });
    expect(checked).toBe(true);
  });

  it("an interactive transaction stays scoped and rolls back on a violation", async () => {
    const { a, b, db } = await seed();
    const before = await snapshot(b.id);
    const id = newId();
    const seen = await db.$transaction(async (tx) => {
      const created = await tx.project.create({
        data: { id, name: "in tx" } as Prisma.ProjectUncheckedCreateInput,
      });
      expect(created.tenantId).toBe(a.id);
      return { projects: await tx.project.findMany(), tasks: await tx.task.count() };
    });
    expect(idsOf(seen.projects)).toEqual(sorted([...a.projects, id]));
    expect(seen.tasks).toBe(3);

    const rolledBack = newId();
    await expect(
      db.$transaction(async (tx) => {
        await tx.project.create({
          data: { id: rolledBack, name: "x" } as Prisma.ProjectUncheckedCreateInput,
        });
        await tx.project.updateMany({ where: { tenantId: b.id }, data: { name: "x" } });
      }),
    ).rejects.toThrow(TenantViolationError);
    expect(await prisma.project.findMany({ where: { id: rolledBack } })).toEqual([]);
    expect(await snapshot(b.id)).toEqual(before);
  });

  it("a batch transaction stays scoped", async () => {
    const { a, db } = await seed();
    const [projects, tasks] = await db.$transaction([db.project.findMany(), db.task.count()]);
    expect(idsOf(projects)).toEqual(sorted(a.projects));
    expect(tasks).toBe(3);
  });
});

describe("TENANT_COLUMN", () => {
  // The generated client's per-model scalar field lists: the runtime view of prisma/schema.
  const scalarFields = (model: string): string[] => {
    const fields = (Prisma as unknown as Record<string, Record<string, string> | undefined>)[
      `${model}ScalarFieldEnum`
    ];
    if (!fields) throw new Error(`generated client has no ${model}ScalarFieldEnum`);
    return Object.values(fields);
  };

  it("lists every model that has a tenantId field", () => {
    const models = Object.values(Prisma.ModelName);
    expect(models.length).toBeGreaterThan(0);
    const withTenant = models.filter((model) => scalarFields(model).includes("tenantId"));
    expect(withTenant).toContain("Project");
    const listed = Object.keys(TENANT_COLUMN);
    expect(withTenant.filter((model) => !listed.includes(model))).toEqual([]);
  });

  it("names a real model and a real field for every entry", () => {
    for (const [model, column] of Object.entries(TENANT_COLUMN)) {
      expect(Object.values(Prisma.ModelName), model).toContain(model);
      expect(scalarFields(model), model).toContain(column);
    }
  });
});

describe("$findManySql", () => {
  const everything = { where: Prisma.sql`TRUE`, orderBy: Prisma.sql`t."id"`, take: 100 };

  it("returns only the tenant's rows, even for a fragment that matches everything", async () => {
    const { a, b, db } = await seed();
    const rows = await db.$findManySql("Task", everything);
    expect(idsOf(rows)).toEqual(sorted(a.tasks));
    // An OR in the caller's fragment stays inside its parentheses: it cannot widen the tenant filter.
    const widened = await db.$findManySql("Task", {
      ...everything,
      where: Prisma.sql`FALSE OR t."tenant_id" = ${b.id}::uuid`,
    });
    expect(widened).toEqual([]);
  });

  it("returns rows exactly as findMany does, for every model it reads", async () => {
    const { a, db } = await seed();
    await db.comment.create({
      data: { tenantId: a.id, id: newId(), taskId: a.tasks[0], authorId: newId(), body: "hi" },
    });
    await db.activity.create({
      data: {
        tenantId: a.id,
        id: newId(),
        projectId: a.projects[0],
        actorId: newId(),
        verb: "TASK_CREATED",
        targetType: "TASK",
        targetId: a.tasks[0],
        diff: { title: { to: "x" } },
      },
    });
    expect(await db.$findManySql("Task", everything)).toEqual(
      await db.task.findMany({ orderBy: { id: "asc" } }),
    );
    expect(await db.$findManySql("Comment", everything)).toEqual(await db.comment.findMany());
    expect(await db.$findManySql("Activity", everything)).toEqual(await db.activity.findMany());
  });

  it("takes the first rows of each partition in one query, also in a transaction", async () => {
    const { a, db } = await seed();
    const firstOfEach = await db.$transaction((tx) =>
      tx.$findManySql("Task", { ...everything, take: 1, partitionBy: Prisma.sql`t."project_id"` }),
    );
    // Two tasks in the first project, one in the second: the first of each, by id.
    expect(idsOf(firstOfEach)).toEqual(sorted([a.tasks[0], a.tasks[2]]));
  });

  it("refuses models it does not know", async () => {
    const { db } = await seed();
    await expect(db.$findManySql("Project" as "Task", everything)).rejects.toThrow(TenantViolationError);
  });
});

describe("the outbox through the tenant-scoped client", () => {
  it("numbers a transaction's events in order, counts them as a write, and refuses a client outside one", async () => {
    const a = await seedTenant("outbox");
    const audit = new AuditScope(a.id, { type: "USER", id: newId() }, "outbox-test");
    const db = tenantClient(appPrisma, a.id, audit);
    audit.begin("announce");
    const emitted = await db.$transaction((tx) =>
      emitEvents(tx, a.id, [
        { topic: "first", payload: { n: 1 } },
        { topic: "second", payload: { n: 2 } },
      ]),
    );
    expect(emitted.map((e) => e.seq)).toEqual([1n, 2n]);
    const rows = await prisma.outboxEvent.findMany({ where: { tenantId: a.id }, orderBy: { seq: "asc" } });
    expect(rows.map((r) => [r.seq, r.topic, r.payload])).toEqual([
      [1n, "first", { n: 1 }],
      [2n, "second", { n: 2 }],
    ]);
    // Its only write: the mutation's audit entry committed with it.
    expect(await prisma.auditEntry.count({ where: { tenantId: a.id, action: "announce" } })).toBe(1);
    await expect(emitEvents(db, a.id, [{ topic: "outside", payload: {} }])).rejects.toThrow(TypeError);
    await expect(emitEvents(prisma, a.id, [{ topic: "outside", payload: {} }])).rejects.toThrow(TypeError);
  });
});

describe("the audit log through the tenant-scoped client", () => {
  it("appends a mutation's own entry once, refuses another tenant's rows, needs a transaction, and chunks a long list", async () => {
    const a = await seedTenant("audit");
    const b = await seedTenant("audit-b");
    const actor = { type: "USER" as const, id: newId() };
    const audit = new AuditScope(a.id, actor, "audit-test");
    const db = tenantClient(appPrisma, a.id, audit);
    const entry = {
      tenantId: a.id,
      actor,
      action: "renameProject",
      targetType: "Project",
      targetId: a.projects[0],
      requestId: "audit-test",
    };
    audit.begin("renameProject");
    await db.$transaction(async (tx) => {
      await tx.project.update({
        where: { tenantId_id: { tenantId: a.id, id: a.projects[0] } },
        data: { name: "renamed" },
      });
      await appendAuditEntries(tx, [entry]);
    });
    // The entry the mutation wrote is its only one: the client adds none at commit.
    const written = await prisma.auditEntry.findMany({ where: { tenantId: a.id } });
    expect(written).toEqual([
      expect.objectContaining({
        actorType: "USER",
        actorId: actor.id,
        action: "renameProject",
        targetType: "Project",
        targetId: a.projects[0],
        requestId: "audit-test",
        createdAt: expect.any(Date),
      }),
    ]);

    // Raw SQL passes no tenant filter: rows of another tenant are refused before any is sent.
    audit.begin("trespass");
    await expectViolation(() =>
      db.$transaction((tx) => appendAuditEntries(tx, [{ ...entry, tenantId: b.id }])),
    );
    await expectViolation(() => db.$transaction((tx) => emitEvents(tx, b.id, [{ topic: "x", payload: {} }])));
    expect(await prisma.auditEntry.count({ where: { tenantId: b.id } })).toBe(0);
    expect(await prisma.outboxEvent.count({ where: { tenantId: b.id } })).toBe(0);
    await expect(appendAuditEntries(db, [entry])).rejects.toThrow(TypeError);
    await expect(appendAuditEntries(prisma, [entry])).rejects.toThrow(TypeError);

    // The cross-tenant client's transaction writes to several tenants' logs in one statement.
    const system = { ...entry, actor: { type: "SYSTEM" as const, id: null }, action: "sweep" };
    await prisma.$transaction((tx) =>
      appendAuditEntries(tx, [system, { ...system, tenantId: b.id, targetId: null }]),
    );
    // More entries than one statement has parameters for (65,535): written in chunks, in order.
    const many = Array.from({ length: 9_000 }, (_, i) => ({
      ...system,
      action: "bulk",
      targetId: String(i),
    }));
    await prisma.$transaction((tx) => appendAuditEntries(tx, many));
    const bulk = await prisma.auditEntry.findMany({
      where: { tenantId: a.id, action: "bulk" },
      orderBy: { id: "asc" },
      select: { targetId: true },
    });
    expect(bulk.map((e) => e.targetId)).toEqual(many.map((e) => e.targetId));
    const swept = await prisma.auditEntry.findMany({
      where: { action: "sweep", tenantId: { in: [a.id, b.id] } },
    });
    expect(swept.map((e) => [e.tenantId, e.actorType, e.actorId, e.targetId]).sort()).toEqual(
      [
        [a.id, "SYSTEM", null, a.projects[0]],
        [b.id, "SYSTEM", null, null],
      ].sort(),
    );
  });
});
