import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { dataQueries, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { addMember, client, createProject, createTask } from "./helpers.ts";

/**
 * The acceptance criterion of issue 7: a page of 50 tasks with their assignees, through the gateway,
 * costs one SQL query per entity type. Counted on the SQL the shared Prisma client sends.
 */

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(() => platform?.close());

/** The tables a statement reads, by the names Prisma and our SQL write them. */
function tablesOf(sql: string): string[] {
  return [...sql.matchAll(/\b(?:FROM|JOIN)\s+(?:"public"\.)?"(\w+)"/gi)].map((m) => m[1]!);
}

describe("a page of 50 tasks with their assignees through the gateway", () => {
  it("costs one tasks query and one memberships query, whatever the number of rows", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "count");
    const api = client(platform, owner.token);
    const members = [
      owner,
      ...(await Promise.all([1, 2, 3].map((n) => addMember(platform, owner, "MEMBER", `m${n}`)))),
    ];
    const project = await createProject(api, { name: "Counted" });
    for (let i = 0; i < 50; i++) {
      await createTask(api, {
        projectId: project.id,
        title: `task ${i}`,
        assigneeId: members[i % 4]!.userId,
      });
    }

    platform.queries.length = 0;
    const page = await api.run(
      `query($projectId: ID!) {
        tasks(projectId: $projectId, first: 50) { edges { node { title assignee { id email name } } } }
      }`,
      { projectId: project.id },
    );

    const edges = page.tasks.edges as Array<{
      node: { title: string; assignee: { id: string; email: string } };
    }>;
    expect(edges).toHaveLength(50);
    for (const [i, { node }] of edges.entries()) {
      expect(node.title).toBe(`task ${i}`);
      expect(node.assignee).toMatchObject({ id: members[i % 4]!.userId, email: members[i % 4]!.email });
    }

    const statements = dataQueries(platform.queries);
    const reading = (table: string) => statements.filter((sql) => tablesOf(sql).includes(table));
    expect(reading("tasks"), statements.join("\n---\n")).toHaveLength(1);
    expect(reading("memberships"), statements.join("\n---\n")).toHaveLength(1);
    // Nothing else: no users lookup (the profile lives in memberships), no query per row.
    expect(statements, statements.join("\n---\n")).toHaveLength(2);
    // 50 tasks made one by one through the gateway: a busy machine needs more than the default 30 s, and
    // a timed-out test's writes would still be running, counted by the next test.
  }, 120_000);

  it("also for the tasks of several projects in one request (one tasks query for all of them)", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "count-many");
    const api = client(platform, owner.token);
    for (const name of ["One", "Two", "Three"]) {
      const project = await createProject(api, { name });
      for (let i = 0; i < 3; i++) {
        await createTask(api, { projectId: project.id, title: `${name} ${i}`, assigneeId: owner.userId });
      }
    }

    platform.queries.length = 0;
    const data = await api.run(`{
      projects { edges { node { name
        taskCounts { status count }
        tasks(first: 2) { edges { node { title assignee { email } } } pageInfo { hasNextPage } }
      } } }
    }`);

    const projects = data.projects.edges.map((e: { node: unknown }) => e.node);
    expect(projects).toHaveLength(3);
    for (const project of projects) {
      expect(project.tasks.edges.map((e: { node: { title: string } }) => e.node.title)).toEqual([
        `${project.name} 0`,
        `${project.name} 1`,
      ]);
      expect(project.tasks.pageInfo.hasNextPage).toBe(true);
      expect(project.tasks.edges[0].node.assignee.email).toBe(owner.email);
      expect(project.taskCounts.find((c: { status: string }) => c.status === "TODO").count).toBe(3);
    }
    const statements = dataQueries(platform.queries);
    const byTable = statements.map(tablesOf);
    // projects, tasks (one windowed query for the three projects), task counts, memberships.
    expect(
      byTable.filter((t) => t[0] === "projects"),
      statements.join("\n---\n"),
    ).toHaveLength(1);
    expect(
      byTable.filter((t) => t[0] === "tasks"),
      statements.join("\n---\n"),
    ).toHaveLength(2);
    expect(byTable.filter((t) => t[0] === "memberships")).toHaveLength(1);
    expect(statements).toHaveLength(4);
  }, 60_000);
});

describe("createTask", () => {
  /** The statements of one createTask, as `<verb> <table>`, with its COMMITs. */
  async function statementsOf(create: () => Promise<unknown>) {
    platform.queries.length = 0;
    await create();
    const statements = dataQueries(platform.queries);
    return {
      // The first table named: Prisma writes `"public"."tasks"`, the outbox's own SQL `"outbox_events"`.
      kinds: statements.map(
        (sql) => `${sql.trim().split(/\s/)[0]} ${/(?:"public"\.)?"(\w+)"/.exec(sql)?.[1]}`,
      ),
      listing: statements.join("\n---\n"),
      commits: platform.queries.filter((sql) => /^\s*COMMIT\b/i.test(sql)).length,
    };
  }

  it("checks, writes the task, its timeline entry, both events and the audit entry in one transaction", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "count-create");
    const api = client(platform, owner.token);
    const member = await addMember(platform, owner, "MEMBER");
    const project = await createProject(api, { name: "Written" });
    // The first write of a token warms what every later request finds cached.
    await createTask(api, { projectId: project.id, title: "first", assigneeId: member.userId });

    const assigned = await statementsOf(() =>
      createTask(api, { projectId: project.id, title: "counted", assigneeId: member.userId }),
    );
    expect(assigned.kinds, assigned.listing).toEqual([
      "SELECT projects", // live and not archived
      "SELECT memberships", // the assignee is a member
      "SELECT tasks", // the card's place in its column
      "INSERT tasks",
      "INSERT activities",
      "INSERT outbox_sequences", // task.changed and activity.recorded numbered at once...
      "INSERT outbox_events", // ...and written in one statement (prisma/src/outbox.ts)
      "INSERT audit_entries",
      "SELECT memberships", // after the commit: the answer's assignee and reporter, as the tenant sees them
    ]);
    expect(assigned.commits).toBe(1);

    // Assigning yourself: the gateway vouched for your membership (the answer still reads it).
    const own = await statementsOf(() =>
      createTask(api, { projectId: project.id, title: "mine", assigneeId: owner.userId }),
    );
    expect(own.kinds, own.listing).toEqual(assigned.kinds.slice(0, 1).concat(assigned.kinds.slice(2)));
    expect(own.commits).toBe(1);
  });
});
