/**
 * The client's prepared statements (createPrismaClient's statement names), on one connection so that
 * PostgreSQL's view of that session's prepared statements is the client's.
 */
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createPrismaClient } from "./index.ts";

const prisma = createPrismaClient({ connectionString: inject("databaseUrl"), poolSize: 1 });
afterAll(() => prisma.$disconnect());

/** The statements the client's one connection holds prepared (a query without parameters: not one). */
const prepared = () =>
  prisma.$queryRawUnsafe<Array<{ statement: string }>>("SELECT statement FROM pg_prepared_statements");

describe("prepared statements", () => {
  it("keeps a Prisma statement prepared across runs, and statements without parameters unprepared", async () => {
    const slug = `prepared-${randomBytes(4).toString("hex")}`;
    for (let i = 0; i < 3; i++) {
      await prisma.$transaction((tx) => tx.organizationSlug.findFirst({ where: { slug } }));
    }

    const statements = (await prepared()).map((row) => row.statement);
    const lookups = statements.filter((sql) => sql.includes(`"organization_slugs"`));
    expect(lookups, statements.join("\n")).toHaveLength(1);
    expect(statements.filter((sql) => /^\s*(BEGIN|COMMIT|SELECT statement)\b/i.test(sql))).toEqual([]);
  });

  it("leaves a statement that selects * unprepared, so it keeps working after a migration adds a column", async () => {
    const table = `prepared_${randomBytes(4).toString("hex")}`;
    await prisma.$executeRawUnsafe(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    try {
      await prisma.$executeRawUnsafe(`INSERT INTO ${table} VALUES (1)`);
      const read = () => prisma.$queryRawUnsafe<object[]>(`SELECT * FROM ${table} WHERE id = $1`, 1);
      expect(await read()).toEqual([{ id: 1 }]);

      await prisma.$executeRawUnsafe(`ALTER TABLE ${table} ADD COLUMN note text NOT NULL DEFAULT 'added'`);

      // Prepared, PostgreSQL would refuse it: "cached plan must not change result type".
      expect(await read()).toEqual([{ id: 1, note: "added" }]);
      expect((await prepared()).filter((row) => row.statement.includes(table))).toEqual([]);
    } finally {
      await prisma.$executeRawUnsafe(`DROP TABLE ${table}`);
    }
  });
});
