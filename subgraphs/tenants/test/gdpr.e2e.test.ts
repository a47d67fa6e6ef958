import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { createLogger } from "@app/common";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../../test/eventually.ts";
import { gql, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { createScratchDatabase } from "../../../test/scratch-db.ts";
import { createOrganizationJobs } from "../../../worker/src/jobs/organization-jobs.ts";
import { codeOf, ok, tokenWithRoles } from "./helpers.ts";

/**
 * GDPR through the gateway, with the real worker: the export archive holds every row of the tenant, in
 * every table with a tenant column (found in the catalogue, so a table added later fails this test if
 * the export leaves it out), and no row of another tenant; deletion after the grace period leaves no row
 * of the tenant in any table and nothing of the others changed; deleteMyAccount.
 */

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;
const suffix = randomBytes(3).toString("hex");
const GRACE_SECONDS = 5;
const PASSWORD = "correct horse battery staple";

let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let platform: Platform;
let db: pg.Pool;
let a: Tenant;
let b: Tenant;

const EXPORTS = `{ organizationExports { id status rowCount byteSize downloadUrl } }`;

/** Every table with a tenant column, with its primary key columns, from the catalogue. */
async function tenantTables() {
  const { rows } = await db.query<{ table: string; column: string; key: string[] }>(`
    SELECT c.relname AS "table", CASE WHEN c.relname = 'organizations' THEN 'id' ELSE 'tenant_id' END AS "column",
      array(SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY a.attnum)::text[] AS "key"
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r'
      AND (c.relname = 'organizations' OR EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped))
    ORDER BY 1`);
  return rows;
}

/** The primary keys of a tenant's rows in each tenant table. */
async function tenantRowKeys(tenantId: string) {
  const keys: Record<string, string[]> = {};
  for (const { table, column, key } of await tenantTables()) {
    const { rows } = await db.query(`SELECT * FROM "${table}" WHERE "${column}" = $1`, [tenantId]);
    keys[table] = rows.map((row) => JSON.stringify(key.map((k) => String(row[k])))).sort();
  }
  return keys;
}

async function seed(tenant: Tenant, label: string) {
  const project = await ok(
    platform.gatewayUrl,
    `mutation($n: String!) { createProject(input: { name: $n }) { project { id } } }`,
    {
      token: tenant.token,
      variables: { n: `${label} project` },
    },
  );
  const projectId = project.createProject.project.id;
  const task = await ok(
    platform.gatewayUrl,
    `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
    {
      token: tenant.token,
      variables: { input: { projectId, title: `${label} task` } },
    },
  );
  await ok(
    platform.gatewayUrl,
    `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }`,
    {
      token: tenant.token,
      variables: { input: { taskId: task.createTask.task.id, body: `${label} comment` } },
    },
  );
  await ok(
    platform.gatewayUrl,
    `mutation($d: String!) { addOrganizationDomain(input: { domain: $d }) { domain { id } } }`,
    {
      token: tenant.token,
      variables: { d: `${label}-${suffix}.example.org` },
    },
  );
  await ok(
    platform.gatewayUrl,
    `mutation { updateOrganizationSettings(input: { featureFlags: [BETA_FEATURES] }) { organization { id } } }`,
    {
      token: tenant.token,
    },
  );
}

beforeAll(async () => {
  // The worker's relay leads per database: a database of our own.
  scratch = await createScratchDatabase(inject("databaseUrl"), "coditect_gdpr");
  platform = await startPlatform(scratch.url, {
    worker: true,
    tenants: { ORGANIZATION_DELETION_GRACE_SECONDS: String(GRACE_SECONDS) },
    gateway: { ORGANIZATION_CACHE_TTL_SECONDS: "1" },
  });
  db = new pg.Pool({ connectionString: scratch.url, max: 2 });
  a = await signUpTenant(platform.gatewayUrl, `gdpr-a-${suffix}`);
  b = await signUpTenant(platform.gatewayUrl, `gdpr-b-${suffix}`);
  await seed(a, "a");
  await seed(b, "b");
});

afterAll(async () => {
  await db?.end();
  await platform?.close();
  await scratch?.drop();
});

describe("exportOrganization", () => {
  it("is the OWNER's alone", async () => {
    for (const role of ["ADMIN", "MEMBER", "VIEWER"]) {
      const token = await tokenWithRoles(platform.keysDir, a.token, [role]);
      expect(
        codeOf(
          await gql(platform.gatewayUrl, `mutation { exportOrganization { export { id } } }`, { token }),
        ),
        role,
      ).toBe("FORBIDDEN");
      expect(codeOf(await gql(platform.gatewayUrl, EXPORTS, { token })), role).toBe("FORBIDDEN");
    }
    expect(codeOf(await gql(platform.gatewayUrl, `mutation { exportOrganization { export { id } } }`))).toBe(
      "UNAUTHENTICATED",
    );
  });

  it("builds one archive with every row of the tenant, in every tenant table, and none of another", async () => {
    const started = await ok(
      platform.gatewayUrl,
      `mutation { exportOrganization { export { id status downloadUrl } } }`,
      { token: a.token },
    );
    expect(started.exportOrganization.export).toMatchObject({ status: "PENDING", downloadUrl: null });
    const exportId = started.exportOrganization.export.id;
    const ready = await eventually(
      async () =>
        (await ok(platform.gatewayUrl, EXPORTS, { token: a.token })).organizationExports.find(
          (e: { id: string }) => e.id === exportId,
        ),
      (e) => e?.status === "READY",
      20_000,
    );
    expect(ready.downloadUrl).toMatch(/^\/downloads\/exports\//);
    // B sees none of A's exports.
    expect((await ok(platform.gatewayUrl, EXPORTS, { token: b.token })).organizationExports).toEqual([]);

    const response = await fetch(new URL(ready.downloadUrl, platform.gatewayUrl));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/gzip");
    const lines = gunzipSync(Buffer.from(await response.arrayBuffer()))
      .toString("utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const [header, ...rows] = lines;
    expect(header).toMatchObject({ format: "coditect-organization-export", tenantId: a.tenantId, exportId });
    expect(rows.length).toBe(ready.rowCount);

    const tables = await tenantTables();
    // Every tenant table is in the archive, whatever its name: a table added later is covered.
    expect([...header.tables].sort()).toEqual(tables.map((t) => t.table).sort());
    const dbKeys = await tenantRowKeys(a.tenantId);
    for (const { table, column, key } of tables) {
      const exported = rows.filter((r) => r.table === table).map((r) => r.row);
      // None of another tenant.
      for (const row of exported) expect(row[column], table).toBe(a.tenantId);
      expect(exported.map((row) => JSON.stringify(key.map((k) => String(row[k])))).sort(), table).toEqual(
        dbKeys[table],
      );
    }
    // The seeded data is there, across subgraphs.
    for (const table of [
      "organizations",
      "memberships",
      "projects",
      "tasks",
      "comments",
      "activities",
      "organization_domains",
      "organization_slugs",
      "outbox_events",
    ])
      expect(dbKeys[table]!.length, table).toBeGreaterThan(0);
  });

  it("refuses forged, tampered and unknown download links", async () => {
    const origin = new URL(platform.gatewayUrl).origin;
    const { organizationExports } = await ok(platform.gatewayUrl, EXPORTS, { token: a.token });
    const url: string = organizationExports[0].downloadUrl;
    const token = url.split("/").at(-1)!;
    const [h, p, s] = token.split(".");
    const forgedPayload = Buffer.from(
      JSON.stringify({
        tid: b.tenantId,
        eid: organizationExports[0].id,
        aud: "coditect-export-download",
        exp: 9999999999,
      }),
    ).toString("base64url");
    for (const bad of [
      `${h}.${forgedPayload}.${s}`,
      `${h}.${p}.${s!.slice(0, -2)}xx`,
      "not-a-token",
      "..%2f..%2fetc%2fpasswd",
    ]) {
      const res = await fetch(`${origin}/downloads/exports/${bad}`);
      expect(res.status, bad).toBe(403);
    }
    expect((await fetch(`${origin}/downloads/exports/${token}`, { method: "POST" })).status).toBe(405);
  });
});

describe("deleteOrganization", () => {
  it("needs the OWNER and the current slug, is cancellable until due, then purges every row of the tenant and only its rows", async () => {
    const slug = (await ok(platform.gatewayUrl, `{ currentOrganization { slug } }`, { token: a.token }))
      .currentOrganization.slug;
    const DELETE = `mutation($s: String!) { deleteOrganization(input: { confirmSlug: $s }) { organization { deletionScheduledAt } } }`;
    const admin = await tokenWithRoles(platform.keysDir, a.token, ["ADMIN"]);
    expect(codeOf(await gql(platform.gatewayUrl, DELETE, { token: admin, variables: { s: slug } }))).toBe(
      "FORBIDDEN",
    );
    const wrong = await gql(platform.gatewayUrl, DELETE, {
      token: a.token,
      variables: { s: "not-the-slug" },
    });
    expect(codeOf(wrong)).toBe("BAD_USER_INPUT");
    expect(wrong.errors![0]!.message).toContain("input.confirmSlug");

    // Scheduled, then cancelled: a purge run finds nothing due.
    const scheduled = await ok(platform.gatewayUrl, DELETE, { token: a.token, variables: { s: slug } });
    expect(new Date(scheduled.deleteOrganization.organization.deletionScheduledAt).getTime()).toBeGreaterThan(
      Date.now(),
    );
    const cancelled = await ok(
      platform.gatewayUrl,
      `mutation { cancelOrganizationDeletion { organization { deletionScheduledAt } } }`,
      { token: a.token },
    );
    expect(cancelled.cancelOrganizationDeletion.organization.deletionScheduledAt).toBeNull();

    const jobs = createOrganizationJobs({
      databaseUrl: scratch.url,
      exportDir: platform.exportDir,
      redisUrl: undefined,
      logger: createLogger("test", "silent"),
    });
    try {
      const bBefore = await tenantRowKeys(b.tenantId);
      await ok(platform.gatewayUrl, DELETE, { token: a.token, variables: { s: slug } });
      // Not yet due: a purge run leaves it, and the organization still works.
      await jobs.purgeDueOrganizations();
      expect((await tenantRowKeys(a.tenantId)).organizations).toHaveLength(1);
      expect(
        (await ok(platform.gatewayUrl, `{ currentOrganization { id } }`, { token: a.token }))
          .currentOrganization.id,
      ).toBe(a.tenantId);
      await new Promise((r) => setTimeout(r, GRACE_SECONDS * 1000 + 200));
      const late = await gql(
        platform.gatewayUrl,
        `mutation { cancelOrganizationDeletion { organization { id } } }`,
        { token: a.token },
      );
      expect(codeOf(late)).toBe("CONFLICT");

      // The platform's worker runs the same job every minute: either may be the one that purges it.
      await jobs.purgeDueOrganizations();
      const left = await tenantRowKeys(a.tenantId);
      for (const [table, keys] of Object.entries(left)) expect(keys, table).toEqual([]);
      expect(await readdir(join(platform.exportDir)).then((d) => d.includes(a.tenantId))).toBe(false);
      // The others' rows are exactly as they were.
      expect(await tenantRowKeys(b.tenantId)).toEqual(bBefore);
      // The deleted organization's still-valid token is refused within the cache lifetime.
      const refused = await eventually(
        () => gql(platform.gatewayUrl, `{ currentOrganization { id } }`, { token: a.token }),
        (res) => codeOf(res) === "UNAUTHENTICATED",
        5_000,
      );
      expect(refused.errors![0]!.extensions!.reason).toBe("ORGANIZATION_DELETED");
      expect(
        (
          await ok(platform.gatewayUrl, `query($s: String!) { organizationBySlug(slug: $s) { name } }`, {
            variables: { s: slug },
          })
        ).organizationBySlug,
      ).toBeNull();
    } finally {
      await jobs.close();
    }
  });
});

describe("deleteMyAccount", () => {
  const DELETE_ME = `mutation($e: String!) { deleteMyAccount(input: { confirmEmail: $e }) { deletedUserId scheduledOrganizationIds } }`;

  it("is refused while the caller is the only OWNER of an organization with other members", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, `sole-owner-${suffix}`);
    // Another member, seeded directly (invitations are identity's to test).
    const member = await signUpTenant(platform.gatewayUrl, `member-${suffix}`);
    await db.query(
      `INSERT INTO memberships (tenant_id, user_id, role, email, name) VALUES ($1, $2, 'MEMBER', $3, 'M')`,
      [owner.tenantId, member.userId, member.email],
    );
    const res = await gql(platform.gatewayUrl, DELETE_ME, {
      token: owner.token,
      variables: { e: owner.email },
    });
    expect(codeOf(res)).toBe("CONFLICT");
    expect(res.errors![0]!.extensions!.organizationIds).toEqual([owner.tenantId]);
    expect((await db.query("SELECT 1 FROM users WHERE id = $1", [owner.userId])).rowCount).toBe(1);
  });

  it("deletes the account everywhere and schedules the organizations it was alone in", async () => {
    const me = await signUpTenant(platform.gatewayUrl, `leaver-${suffix}`);
    const second = await ok(
      platform.gatewayUrl,
      `mutation { createOrganization(input: { name: "Leaver two" }) { organization { id } } }`,
      { token: me.token },
    );
    const wrong = await gql(platform.gatewayUrl, DELETE_ME, {
      token: me.token,
      variables: { e: "someone@else.test" },
    });
    expect(codeOf(wrong)).toBe("BAD_USER_INPUT");
    const res = await ok(platform.gatewayUrl, DELETE_ME, {
      token: me.token,
      variables: { e: me.email.toUpperCase() },
    });
    expect(res.deleteMyAccount.deletedUserId).toBe(me.userId);
    expect([...res.deleteMyAccount.scheduledOrganizationIds].sort()).toEqual(
      [me.tenantId, second.createOrganization.organization.id].sort(),
    );
    for (const table of ["users", "user_emails", "memberships"]) {
      const column = table === "users" ? "id" : "user_id";
      expect(
        (await db.query(`SELECT 1 FROM "${table}" WHERE "${column}" = $1`, [me.userId])).rowCount,
        table,
      ).toBe(0);
    }
    const login = await gql(
      platform.gatewayUrl,
      `mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }`,
      {
        variables: { input: { email: me.email, password: PASSWORD } },
      },
    );
    expect(codeOf(login)).toBe("UNAUTHENTICATED");
    const due = await db.query(
      "SELECT id FROM organizations WHERE id = ANY($1) AND deletion_scheduled_at IS NOT NULL",
      [[me.tenantId, second.createOrganization.organization.id]],
    );
    expect(due.rowCount).toBe(2);
    // Each organization's log says why its member left.
    const logged = await db.query(
      "SELECT tenant_id FROM audit_entries WHERE actor_id = $1 AND action = 'deleteMyAccount'",
      [me.userId],
    );
    expect(logged.rows.map((r) => r.tenant_id).sort()).toEqual(
      [me.tenantId, second.createOrganization.organization.id].sort(),
    );
  });
});
