import { Prisma } from "@app/db";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { searchCondition } from "../src/modules/tasks/tasks.query.ts";
import {
  addMember,
  type Client,
  client,
  codes,
  createProject,
  createTask,
  type Page,
  type Tenant,
  titles,
} from "./helpers.ts";

/** Filters, full-text search, orderings and cursors; never another tenant's task. */

let platform: Platform;
let owner: Tenant;
let api: Client;
let member: Awaited<ReturnType<typeof addMember>>;
let projectId: string;
let otherProjectId: string;

const LIST = `query($projectId: ID!, $filter: TaskFilter, $orderBy: TaskOrder, $first: Int, $after: String) {
  tasks(projectId: $projectId, filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    edges { node { title } } pageInfo { hasNextPage endCursor }
  }
}`;

const list = async (filter: Record<string, unknown>, orderBy?: Record<string, unknown>) =>
  titles((await api.run(LIST, { projectId, filter, orderBy })).tasks);

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  owner = await signUpTenant(platform.gatewayUrl, "reads");
  api = client(platform, owner.token);
  member = await addMember(platform, owner, "MEMBER", "reads-member");
  projectId = (await createProject(api, { name: "Reads" })).id;
  otherProjectId = (await createProject(api, { name: "Other" })).id;
  const t = (title: string, rest: Record<string, unknown> = {}) =>
    createTask(api, { projectId, title, ...rest });
  await t("Deploy to production", {
    description: "Roll out the **new** release after the smoke tests.",
    priority: "URGENT",
    status: "IN_PROGRESS",
    assigneeId: owner.userId,
    labels: ["ops", "release"],
    dueDate: "2026-12-01T09:00:00.000Z",
  });
  await t("Write release notes", {
    description: "Summarise what changed for customers.",
    priority: "HIGH",
    assigneeId: member.userId,
    labels: ["docs", "release"],
    dueDate: "2026-11-28T17:00:00.000Z",
  });
  await t("Fix login bug", {
    description: "Users on Safari cannot deploy their sessions. Naïve café test.",
    priority: "LOW",
    status: "DONE",
    assigneeId: member.userId,
    labels: ["bug"],
  });
  await t("Plan the offsite", { priority: "MEDIUM", dueDate: "2027-01-15T00:00:00.000Z" });
  await createTask(api, {
    projectId: otherProjectId,
    title: "Deploy the other project",
    assigneeId: owner.userId,
  });
});
afterAll(() => platform?.close());

describe("filters", () => {
  it("by status, assignee, label and due range; every condition must hold", async () => {
    expect(await list({ status: ["IN_PROGRESS", "DONE"] })).toEqual([
      "Deploy to production",
      "Fix login bug",
    ]);
    expect(await list({ assigneeId: member.userId })).toEqual(["Write release notes", "Fix login bug"]);
    expect(await list({ label: "release" })).toEqual(["Deploy to production", "Write release notes"]);
    expect(await list({ label: "releas" })).toEqual([]);
    expect(
      await list({ dueOnOrAfter: "2026-11-28T17:00:00.000Z", dueBefore: "2026-12-01T09:00:00.000Z" }),
    ).toEqual(["Write release notes"]);
    expect(await list({ dueOnOrAfter: "2026-11-29T00:00:00Z" })).toEqual([
      "Deploy to production",
      "Plan the offsite",
    ]);
    expect(await list({ label: "release", assigneeId: member.userId, status: ["TODO"] })).toEqual([
      "Write release notes",
    ]);
    expect(await list({})).toHaveLength(4);
  });

  it("full-text search over title and description, by word prefixes, case and accents as written", async () => {
    expect(await list({ search: "deploy" })).toEqual(["Deploy to production", "Fix login bug"]);
    expect(await list({ search: "depl prod" })).toEqual(["Deploy to production"]);
    expect(await list({ search: "RELEASE" })).toEqual(["Deploy to production", "Write release notes"]);
    expect(await list({ search: "customers" })).toEqual(["Write release notes"]);
    expect(await list({ search: "café" })).toEqual(["Fix login bug"]);
    expect(await list({ search: "new release" })).toEqual(["Deploy to production"]);
    expect(await list({ search: "deploy", status: ["DONE"] })).toEqual(["Fix login bug"]);
    expect(await list({ search: "nothing-like-this" })).toEqual([]);
    // Query syntax is not ours to pass through: quotes and operators are just separators.
    expect(await list({ search: "deploy' & !(x" })).toEqual([]);
    expect(await list({ search: "'deploy':*" })).toEqual(["Deploy to production", "Fix login bug"]);
  });

  it("a search of punctuation only is BAD_USER_INPUT naming filter.search", async () => {
    const res = await api.attempt(LIST, { projectId, filter: { search: "&&&" } });
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
    expect(res.errors?.[0]?.extensions?.fields).toEqual([
      { field: "filter.search", message: "must contain a letter or a digit" },
    ]);
  });

  it("never returns another tenant's tasks, even for the same words", async () => {
    const other = await signUpTenant(platform.gatewayUrl, "reads-other");
    const otherApi = client(platform, other.token);
    const theirs = await createProject(otherApi, { name: "Theirs" });
    await createTask(otherApi, {
      projectId: theirs.id,
      title: "Deploy to production",
      description: "release",
      assigneeId: other.userId,
      labels: ["release"],
    });
    expect(await list({ search: "deploy production" })).toEqual(["Deploy to production"]);
    expect(
      titles((await otherApi.run(LIST, { projectId: theirs.id, filter: { search: "deploy" } })).tasks),
    ).toEqual(["Deploy to production"]);
    // Their project id through our token: nothing.
    expect(
      titles((await api.run(LIST, { projectId: theirs.id, filter: { search: "deploy" } })).tasks),
    ).toEqual([]);
    const mine = await api.run(`{ myTasks(filter: { search: "deploy" }) { edges { node { title } } } }`);
    expect(titles(mine.myTasks).sort()).toEqual(["Deploy the other project", "Deploy to production"]);
  });

  it("the search expression is the one of the tenant-leading GIN index", async () => {
    const [index] = await platform.prisma.$queryRaw<Array<{ indexdef: string }>>`
      SELECT indexdef FROM pg_indexes WHERE indexname = 'tasks_search_idx'`;
    expect(index?.indexdef).toMatch(/USING gin \(tenant_id, to_tsvector\('simple'::regconfig/);
    // Only that index can serve the text condition: with sequential scans off, the plan must use it,
    // which it can only if tasks.query.ts repeats the indexed expression exactly.
    const plan = await platform.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe("SET LOCAL enable_seqscan = off");
      return tx.$queryRaw<Array<{ "QUERY PLAN": string }>>(
        Prisma.sql`EXPLAIN SELECT t.id FROM "tasks" AS t WHERE ${searchCondition("'deploy':*")}`,
      );
    });
    expect(plan.map((row) => row["QUERY PLAN"]).join("\n")).toContain("tasks_search_idx");
  });
});

describe("orderings and cursors", () => {
  const pageThrough = async (orderBy: Record<string, unknown>, filter: Record<string, unknown> = {}) => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const data: Page = await api.run(LIST, { projectId, filter, orderBy, first: 1, after });
      seen.push(...titles(data.tasks));
      if (!data.tasks.pageInfo.hasNextPage) return seen;
      after = data.tasks.pageInfo.endCursor;
    }
    throw new Error("did not end");
  };

  it("pages one by one through every ordering and direction, as the full list orders them", async () => {
    const expected = {
      "CREATED_AT:ASC": ["Deploy to production", "Write release notes", "Fix login bug", "Plan the offsite"],
      "DUE_DATE:ASC": ["Write release notes", "Deploy to production", "Plan the offsite", "Fix login bug"],
      "DUE_DATE:DESC": ["Fix login bug", "Plan the offsite", "Deploy to production", "Write release notes"],
      "PRIORITY:DESC": ["Deploy to production", "Write release notes", "Plan the offsite", "Fix login bug"],
      "POSITION:ASC": ["Write release notes", "Plan the offsite", "Deploy to production", "Fix login bug"],
    };
    for (const [key, titlesInOrder] of Object.entries(expected)) {
      const [field, direction] = key.split(":");
      expect(await list({}, { field, direction }), key).toEqual(titlesInOrder);
      expect(await pageThrough({ field, direction }), key).toEqual(titlesInOrder);
    }
    expect(await pageThrough({ field: "PRIORITY", direction: "DESC" }, { search: "release" })).toEqual([
      "Deploy to production",
      "Write release notes",
    ]);
  });

  it("refuses a cursor of another ordering, and one it did not issue", async () => {
    const first = await api.run(LIST, { projectId, first: 1, orderBy: { field: "DUE_DATE" } });
    const cursor = first.tasks.pageInfo.endCursor;
    const mixed = await api.attempt(LIST, {
      projectId,
      first: 1,
      after: cursor,
      orderBy: { field: "PRIORITY" },
    });
    expect(codes(mixed)).toEqual(["BAD_USER_INPUT"]);
    expect(mixed.errors?.[0]?.message).toContain("after: was issued for another ordering");
    for (const forged of [
      "garbage",
      Buffer.from(JSON.stringify({ o: "DUE_DATE:ASC", k: ["'; DROP TABLE tasks; --", "x"] })).toString(
        "base64url",
      ),
      Buffer.from(JSON.stringify({ o: "POSITION:ASC", k: ["TODO", "a0' OR 1=1", owner.userId] })).toString(
        "base64url",
      ),
    ]) {
      const res = await api.attempt(LIST, { projectId, after: forged, orderBy: { field: "DUE_DATE" } });
      expect(codes(res), forged).toEqual(["BAD_USER_INPUT"]);
    }
  });
});

describe("other reads", () => {
  it("task(id), myTasks, User.assignedTasks across subgraphs, taskCounts and reporter", async () => {
    const assigned = await api.run(
      `query($projectId: ID!, $filter: TaskFilter) { tasks(projectId: $projectId, filter: $filter) { edges { node { id } } } }`,
      { projectId, filter: { assigneeId: member.userId } },
    );
    const taskId = assigned.tasks.edges[0].node.id as string;
    const one = await api.run(`query($id: ID!) { task(id: $id) { title assignee { email } } }`, {
      id: taskId,
    });
    expect(one.task).toEqual({ title: "Write release notes", assignee: { email: member.email } });

    const mine = await client(platform, member.token).run(`{
      myTasks(orderBy: { field: PRIORITY, direction: DESC }) { edges { node { title reporter { email } project { name } } } }
      me { email assignedTasks(filter: { status: [DONE] }) { edges { node { title assignee { email } } } } }
    }`);
    expect(mine.myTasks.edges.map((e: { node: unknown }) => e.node)).toEqual([
      { title: "Write release notes", reporter: { email: owner.email }, project: { name: "Reads" } },
      { title: "Fix login bug", reporter: { email: owner.email }, project: { name: "Reads" } },
    ]);
    expect(mine.me).toEqual({
      email: member.email,
      assignedTasks: { edges: [{ node: { title: "Fix login bug", assignee: { email: member.email } } }] },
    });

    const COUNTS = `query($projectId: ID!, $id: ID!) { taskCounts(projectId: $projectId) { status count } task(id: $id) { id } }`;
    const counts = await api.run(COUNTS, { projectId, id: taskId });
    expect(counts.taskCounts).toEqual([
      { status: "TODO", count: 2 },
      { status: "IN_PROGRESS", count: 1 },
      { status: "IN_REVIEW", count: 0 },
      { status: "DONE", count: 1 },
      { status: "CANCELED", count: 0 },
    ]);
    expect(counts.task).toEqual({ id: taskId });
    // Another tenant asking for our project and task: zeros and null.
    const outsider = await signUpTenant(platform.gatewayUrl, "reads-outsider");
    const theirs = await client(platform, outsider.token).run(COUNTS, { projectId, id: taskId });
    expect(theirs.taskCounts.map((c: { count: number }) => c.count)).toEqual([0, 0, 0, 0, 0]);
    expect(theirs.task).toBeNull();
  });

  it("validates filters with field-level errors", async () => {
    const res = await api.attempt(LIST, {
      projectId,
      filter: { assigneeId: "nope", label: "", dueOnOrAfter: "2026-01-01T00:00:00Z" },
    });
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
    expect(res.errors?.[0]?.extensions?.fields).toEqual([
      { field: "filter.assigneeId", message: "must be a user id" },
      { field: "filter.label", message: "must not be empty" },
    ]);
  });
});
