/**
 * The audit log through the gateway: every mutation that changes a tenant leaves exactly one entry
 * (actor, action, target, time, request id) written in the transaction of the change; a refused or
 * failed mutation leaves none; ADMINs page and filter their own organization's log and nobody else's.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { databaseRoleUrls } from "@app/db";
import { buildSchema, isObjectType } from "graphql";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform } from "./platform.ts";

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
}, 60_000);
afterAll(async () => {
  await platform?.close();
});

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;

/** Runs one operation with a request id of our own, which the audit entry must carry. */
async function run(tenant: Tenant, query: string, variables: Record<string, unknown> = {}) {
  const requestId = `audit-${randomUUID()}`;
  const res = await gql(platform.gatewayUrl, query, {
    token: tenant.token,
    variables,
    headers: { "x-request-id": requestId },
  });
  return { res, requestId };
}

async function mutate(tenant: Tenant, query: string, variables: Record<string, unknown>) {
  const { res, requestId } = await run(tenant, query, variables);
  if (res.errors?.length || !res.data) throw new Error(JSON.stringify(res.errors));
  return { data: res.data, requestId };
}

const AUDIT_LOG = /* GraphQL */ `
  query ($filter: AuditLogFilter, $first: Int, $after: String) {
    auditLog(filter: $filter, first: $first, after: $after) {
      edges { cursor node { id actorType actorId action targetType targetId requestId createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

interface Entry {
  id: string;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  requestId: string;
  createdAt: string;
}

async function auditLog(tenant: Tenant, variables: Record<string, unknown> = {}) {
  const { res } = await run(tenant, AUDIT_LOG, { first: 100, ...variables });
  if (res.errors?.length) throw new Error(JSON.stringify(res.errors));
  return res.data!.auditLog as {
    edges: { cursor: string; node: Entry }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

describe("every mutation leaves one audit entry in the transaction of its change", () => {
  it("records actor, action, target and request id for each change, newest first", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "audit");
    const project = await mutate(
      owner,
      `mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id version } } }`,
      {
        input: { name: "Audited" },
      },
    );
    const projectId = project.data.createProject.project.id as string;
    const renamed = await mutate(
      owner,
      `mutation($input: UpdateProjectInput!) { updateProject(input: $input) { project { id } } }`,
      {
        input: { id: projectId, version: project.data.createProject.project.version, name: "Audited 2" },
      },
    );
    const task = await mutate(
      owner,
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id version } } }`,
      {
        input: { projectId, title: "Trace me" },
      },
    );
    const taskId = task.data.createTask.task.id as string;
    const comment = await mutate(
      owner,
      `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }`,
      {
        input: { taskId, body: "Noted" },
      },
    );
    const deleted = await mutate(
      owner,
      `mutation($input: DeleteTaskInput!) { deleteTask(input: $input) { task { id } } }`,
      {
        input: { id: taskId, version: task.data.createTask.task.version },
      },
    );
    const organization = await mutate(
      owner,
      `mutation($input: RenameOrganizationInput!) { renameOrganization(input: $input) { organization { id } } }`,
      {
        input: { name: "Audit Renamed" },
      },
    );

    const log = await auditLog(owner);
    const entries = log.edges.map((e) => e.node).filter((e) => e.action !== "signUp");
    const expected = [
      {
        action: "renameOrganization",
        targetType: "Organization",
        targetId: owner.tenantId,
        requestId: organization.requestId,
      },
      { action: "deleteTask", targetType: "Task", targetId: taskId, requestId: deleted.requestId },
      {
        action: "addComment",
        targetType: "Comment",
        targetId: comment.data.addComment.comment.id,
        requestId: comment.requestId,
      },
      { action: "createTask", targetType: "Task", targetId: taskId, requestId: task.requestId },
      { action: "updateProject", targetType: "Project", targetId: projectId, requestId: renamed.requestId },
      { action: "createProject", targetType: "Project", targetId: projectId, requestId: project.requestId },
    ];
    expect(
      entries.map(({ action, targetType, targetId, requestId }) => ({
        action,
        targetType,
        targetId,
        requestId,
      })),
    ).toEqual(expected);
    for (const entry of entries) {
      expect(entry).toMatchObject({ actorType: "USER", actorId: owner.userId });
      expect(Date.now() - Date.parse(entry.createdAt)).toBeLessThan(120_000);
    }
  });

  it("leaves no entry for a refused, invalid or failed mutation, nor for a query", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "audit-none");
    const before = (await auditLog(owner)).edges.length;
    const refused = await run(
      owner,
      `mutation($input: UpdateProjectInput!) { updateProject(input: $input) { project { id } } }`,
      {
        input: { id: randomUUID(), version: 1, name: "nope" },
      },
    );
    expect(refused.res.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const invalid = await run(
      owner,
      `mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }`,
      {
        input: { name: "" },
      },
    );
    expect(invalid.res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    await run(owner, `{ currentOrganization { id name } }`);
    expect((await auditLog(owner)).edges.length).toBe(before);
  });
});

describe("auditLog", () => {
  it("pages newest first with cursors and filters by action, actor, target and time", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "audit-page");
    // Three projects: the free plan's limit.
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { data } = await mutate(
        owner,
        `mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }`,
        {
          input: { name: `P${i}` },
        },
      );
      ids.push(data.createProject.project.id);
    }
    const filter = { action: "createProject" };
    const first = await auditLog(owner, { first: 2, filter });
    expect(first.edges.map((e) => e.node.targetId)).toEqual([ids[2], ids[1]]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = await auditLog(owner, { first: 2, after: first.pageInfo.endCursor, filter });
    expect(second.edges.map((e) => e.node.targetId)).toEqual([ids[0]]);
    expect(second.pageInfo.hasNextPage).toBe(false);

    expect((await auditLog(owner, { filter: { targetId: ids[1] } })).edges).toHaveLength(1);
    expect(
      (await auditLog(owner, { filter: { actorId: owner.userId, action: "createProject" } })).edges,
    ).toHaveLength(3);
    expect((await auditLog(owner, { filter: { actorId: randomUUID() } })).edges).toHaveLength(0);
    expect(
      (await auditLog(owner, { filter: { since: new Date(Date.now() + 60_000).toISOString() } })).edges,
    ).toHaveLength(0);
    expect((await auditLog(owner, { filter: { until: "2000-01-01T00:00:00Z" } })).edges).toHaveLength(0);

    const bad = await run(owner, AUDIT_LOG, { filter: { actorId: "not-an-id" } });
    expect(bad.res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(bad.res.errors?.[0]?.message).toContain("filter.actorId");
  });

  it("shows an organization only its own entries, and only to ADMIN or OWNER", async () => {
    const a = await signUpTenant(platform.gatewayUrl, "audit-a");
    const b = await signUpTenant(platform.gatewayUrl, "audit-b");
    const { data } = await mutate(
      a,
      `mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }`,
      {
        input: { name: "A's secret" },
      },
    );
    const bLog = await auditLog(b, { filter: { targetId: data.createProject.project.id } });
    expect(bLog.edges).toEqual([]);
    expect((await auditLog(b)).edges.every((e) => e.node.actorId !== a.userId)).toBe(true);

    // A MEMBER of A is refused.
    const member = await signUpTenant(platform.gatewayUrl, "audit-member");
    await platform.prisma.membership.create({
      data: { tenantId: a.tenantId, userId: member.userId, role: "MEMBER", email: member.email, name: "m" },
    });
    const login = await gql(
      platform.gatewayUrl,
      `mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }`,
      {
        variables: {
          input: {
            email: member.email,
            password: "correct horse battery staple",
            organizationId: a.tenantId,
          },
        },
      },
    );
    const memberToken = login.data?.logIn?.accessToken as string;
    const refused = await gql(platform.gatewayUrl, AUDIT_LOG, { token: memberToken });
    expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  it("is append-only for the services' role", async () => {
    const app = new pg.Client({ connectionString: databaseRoleUrls(inject("databaseUrl")).app });
    await app.connect();
    try {
      await expect(app.query("UPDATE audit_entries SET action = 'x'")).rejects.toThrow(/permission denied/);
      await expect(app.query("DELETE FROM audit_entries")).rejects.toThrow(/permission denied/);
    } finally {
      await app.end();
    }
  });
});

/**
 * Every mutation of the supergraph, by how its audit entry is written. A new mutation fails this test
 * until it is listed: most need nothing (they write through the tenant-scoped client, which records
 * them), but one that writes through the cross-tenant client must append its entry itself.
 */
const THROUGH_TENANT_CLIENT = [
  // projects
  "createProject",
  "updateProject",
  "archiveProject",
  "unarchiveProject",
  "deleteProject",
  "restoreProject",
  "createTask",
  "updateTask",
  "moveTask",
  "deleteTask",
  "restoreTask",
  "addComment",
  "editComment",
  "deleteComment",
  // tenants
  "renameOrganization",
  "changeOrganizationSlug",
  "updateOrganizationSettings",
  "addOrganizationDomain",
  "verifyOrganizationDomain",
  "removeOrganizationDomain",
  "deleteOrganization",
  "cancelOrganizationDeletion",
  "exportOrganization",
  "registerOperation",
  "deleteRegisteredOperation",
  // identity
  "createApiKey",
  "revokeApiKey",
  "inviteMember",
  "resendInvitation",
  "revokeInvitation",
  "changeMemberRole",
  "removeMember",
  "updateProfile",
  // billing
  "startCheckout",
  "changePlan",
  "cancelSubscription",
  "resumeSubscription",
];
/**
 * Written through the cross-tenant client or a client of another tenant, so they append their entries
 * themselves with appendAuditEntries: platform administration in the organization's log with the
 * administrator as a PLATFORM_ADMIN actor (subgraphs/tenants/src/modules/platform/cross-tenant.ts,
 * checked by subgraphs/tenants/test/platform-admin.e2e.test.ts), and the new organization's creation
 * (subgraphs/tenants/test/organizations.e2e.test.ts).
 */
const EXPLICIT = [
  "suspendOrganization",
  "reactivateOrganization",
  "setOrganizationLimits",
  "createOrganization",
];
/**
 * Not a change to a tenant's data, so no entry: credentials and sessions (the user's own, global), reads
 * that are mutations only for caching reasons, and sign-up, which creates the tenant.
 */
const NOT_TENANT_CHANGES = [
  "signUp",
  "logIn",
  "completeLogIn",
  "refreshToken",
  "logOut",
  "switchOrganization",
  "changePassword",
  "requestPasswordReset",
  "resetPassword",
  "sendEmailVerification",
  "verifyEmail",
  "enrollTotp",
  "confirmTotp",
  "disableTotp",
  "regenerateRecoveryCodes",
  "acceptInvitation",
  "deleteMyAccount",
  "createBillingPortalSession",
  // The global plan catalogue (platform administrators), not one tenant's data.
  "updatePlan",
];

describe("the list of audited mutations", () => {
  it("classifies every mutation of the supergraph exactly once", () => {
    const sdl = readFileSync(new URL("../schema/supergraph.graphql", import.meta.url), "utf8");
    const schema = buildSchema(sdl, { assumeValidSDL: true });
    const mutation = schema.getMutationType();
    expect(isObjectType(mutation)).toBe(true);
    const fields = Object.keys(mutation!.getFields()).sort();
    const listed = [...THROUGH_TENANT_CLIENT, ...EXPLICIT, ...NOT_TENANT_CHANGES];
    expect(new Set(listed).size, "a mutation listed twice").toBe(listed.length);
    expect(
      fields.filter((f) => !listed.includes(f)),
      "mutations no list names",
    ).toEqual([]);
    expect(
      listed.filter((f) => !fields.includes(f)),
      "listed mutations that no longer exist",
    ).toEqual([]);
  });
});
