import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { activityFromSnapshot, commentFromSnapshot, TOPICS, taskFromSnapshot } from "../src/events.ts";
import {
  type Client,
  client,
  codes,
  createProject,
  createTask,
  DELETE_TASK,
  MOVE_TASK,
  RESTORE_TASK,
  type Tenant,
  UPDATE_TASK,
} from "./helpers.ts";

/**
 * The timeline and the outbox events: one activity entry per change, written with the change (a failed
 * change writes none), and events in the exact shape the subscriptions consume.
 */

let platform: Platform;
let owner: Tenant;
let api: Client;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  owner = await signUpTenant(platform.gatewayUrl, "events");
  api = client(platform, owner.token);
});
afterAll(() => platform?.close());

/** The tenant's events after `seq`, in order. */
async function eventsAfter(tenantId: string, seq: bigint) {
  const rows = await platform.prisma.outboxEvent.findMany({
    where: { tenantId, seq: { gt: seq } },
    orderBy: { seq: "asc" },
  });
  return rows.map((row) => ({ topic: row.topic, payload: row.payload as Record<string, unknown> }));
}
const lastSeq = async (tenantId: string) =>
  (await platform.prisma.outboxSequence.findUnique({ where: { tenantId } }))?.seq ?? 0n;

/** A row as its snapshot must be: the row through JSON (dates to ISO strings), nothing else. */
const asSnapshot = (row: object) => JSON.parse(JSON.stringify(row));

describe("task.changed, comment.added and activity.recorded", () => {
  it("carry the full row snapshots, the kind and the actor, for every change", async () => {
    const project = await createProject(api, { name: "Evented" });
    const seq = await lastSeq(owner.tenantId);

    const created = await createTask(api, {
      projectId: project.id,
      title: "Watch me",
      labels: ["x"],
      dueDate: "2026-12-01T00:00:00Z",
      assigneeId: owner.userId,
    });
    const other = await createTask(api, { projectId: project.id, title: "Neighbour" });
    await api.run(UPDATE_TASK, {
      input: { id: created.id, version: 1, title: "Watch me now", priority: "HIGH" },
    });
    await api.run(MOVE_TASK, { input: { id: created.id, version: 2, status: "IN_PROGRESS" } });
    await api.run(MOVE_TASK, {
      input: { id: other.id, version: 1, status: "IN_PROGRESS", beforeId: created.id },
    });
    await api.run(DELETE_TASK, { input: { id: created.id, version: 3 } });
    await api.run(RESTORE_TASK, { input: { id: created.id, version: 4 } });
    const comment = (
      await api.run(
        `mutation($id: ID!) { addComment(input: { taskId: $id, body: "Looks *good*" }) { comment { id } } }`,
        {
          id: created.id,
        },
      )
    ).addComment.comment;

    const events = await eventsAfter(owner.tenantId, seq);
    const taskEvents = events.filter((e) => e.topic === TOPICS.taskChanged).map((e) => e.payload);
    expect(taskEvents.map((p) => [p.kind, (p.task as { id: string }).id])).toEqual([
      ["CREATED", created.id],
      ["CREATED", other.id],
      ["UPDATED", created.id],
      ["MOVED", created.id],
      ["MOVED", other.id],
      ["DELETED", created.id],
      ["UPDATED", created.id],
    ]);
    const row = await platform.prisma.task.findFirstOrThrow({ where: { id: created.id } });
    // The last event is the restore: its snapshot is the row as it is now, exactly.
    expect(taskEvents.at(-1)).toEqual({
      kind: "UPDATED",
      projectId: project.id,
      task: asSnapshot(row),
      actorId: owner.userId,
    });
    expect(Object.keys(taskEvents.at(-1)!.task as object).sort()).toEqual(Object.keys(row).sort());
    expect(taskFromSnapshot(taskEvents.at(-1)!.task)).toEqual(row);
    // Each snapshot is the row as that change left it.
    expect(taskEvents.map((p) => (p.task as { version: number }).version)).toEqual([1, 1, 2, 3, 2, 4, 5]);
    expect(taskEvents[3]!.task).toMatchObject({
      status: "IN_PROGRESS",
      title: "Watch me now",
      priority: "HIGH",
    });
    expect((taskEvents[5]!.task as { deletedAt: string | null }).deletedAt).toEqual(expect.any(String));

    const commentRow = await platform.prisma.comment.findFirstOrThrow({ where: { id: comment.id } });
    const commentEvents = events.filter((e) => e.topic === TOPICS.commentAdded).map((e) => e.payload);
    expect(commentEvents).toEqual([
      { taskId: created.id, projectId: project.id, comment: asSnapshot(commentRow), actorId: owner.userId },
    ]);
    expect(commentFromSnapshot(commentEvents[0]!.comment)).toEqual(commentRow);

    // One activity entry per change, each announced with its snapshot.
    const activities = await platform.prisma.activity.findMany({
      where: { tenantId: owner.tenantId, projectId: project.id },
      orderBy: { id: "asc" },
    });
    expect(activities.map((a) => a.verb)).toEqual([
      "PROJECT_CREATED",
      "TASK_CREATED",
      "TASK_CREATED",
      "TASK_UPDATED",
      "TASK_MOVED",
      "TASK_MOVED",
      "TASK_DELETED",
      "TASK_RESTORED",
      "COMMENT_ADDED",
    ]);
    const activityEvents = events.filter((e) => e.topic === TOPICS.activityRecorded).map((e) => e.payload);
    expect(activityEvents).toEqual(
      activities.slice(1).map((activity) => ({ projectId: project.id, activity: asSnapshot(activity) })),
    );
    expect(activityFromSnapshot(activityEvents[0]!.activity)).toEqual(activities[1]);
    expect(activities[3]!.diff).toEqual({
      title: { from: "Watch me", to: "Watch me now" },
      priority: { from: "MEDIUM", to: "HIGH" },
    });
    expect(activities[4]!.diff).toMatchObject({ status: { from: "TODO", to: "IN_PROGRESS" } });
    expect(activities.every((a) => a.actorId === owner.userId)).toBe(true);
    // Every event of the transaction that made a change follows it in the tenant's order.
    expect(events.map((e) => e.topic).slice(0, 2)).toEqual([TOPICS.taskChanged, TOPICS.activityRecorded]);
  });

  it("snapshots refuse what is not one", () => {
    expect(() => taskFromSnapshot({ id: "x" })).toThrow();
    expect(() => commentFromSnapshot(null)).toThrow();
  });
});

describe("the timeline", () => {
  it("lists a project's entries newest first, with actor, target and diff, one page at a time", async () => {
    const project = await createProject(api, { name: "Timeline", description: "Long **markdown**" });
    const task = await createTask(api, { projectId: project.id, title: "First" });
    await api.run(UPDATE_TASK, { input: { id: task.id, version: 1, description: "A much longer text" } });
    await api.run(
      `mutation($id: ID!) { addComment(input: { taskId: $id, body: "Hi" }) { comment { id } } }`,
      {
        id: task.id,
      },
    );
    const TIMELINE = `query($id: ID!, $after: String) { project(id: $id) { activity(first: 3, after: $after) {
      edges { node { verb actor { email } diff task { title }
        target { __typename ... on Task { title } ... on Project { key } ... on Comment { body } } } }
      pageInfo { hasNextPage endCursor } } } }`;
    const first = (await api.run(TIMELINE, { id: project.id })).project.activity;
    expect(first.edges.map((e: { node: unknown }) => e.node)).toEqual([
      {
        verb: "COMMENT_ADDED",
        actor: { email: owner.email },
        diff: {},
        task: { title: "First" },
        target: { __typename: "Comment", body: "Hi" },
      },
      {
        verb: "TASK_UPDATED",
        actor: { email: owner.email },
        diff: { description: { changed: true } },
        task: { title: "First" },
        target: { __typename: "Task", title: "First" },
      },
      {
        verb: "TASK_CREATED",
        actor: { email: owner.email },
        diff: { title: { to: "First" }, status: { to: "TODO" } },
        task: { title: "First" },
        target: { __typename: "Task", title: "First" },
      },
    ]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await api.run(TIMELINE, { id: project.id, after: first.pageInfo.endCursor })).project
      .activity;
    expect(
      second.edges.map((e: { node: { verb: string; target: unknown } }) => [e.node.verb, e.node.target]),
    ).toEqual([["PROJECT_CREATED", { __typename: "Project", key: expect.any(String) }]]);
    expect(second.pageInfo.hasNextPage).toBe(false);
  });
});

describe("one transaction per change", () => {
  it("a stale update writes no activity and no event", async () => {
    const project = await createProject(api, { name: "Stale" });
    const task = await createTask(api, { projectId: project.id, title: "T" });
    await api.run(UPDATE_TASK, { input: { id: task.id, version: 1, title: "T2" } });
    const seq = await lastSeq(owner.tenantId);
    const activities = await platform.prisma.activity.count({ where: { tenantId: owner.tenantId } });
    const stale = await api.attempt(UPDATE_TASK, { input: { id: task.id, version: 1, title: "T3" } });
    expect(codes(stale)).toEqual(["CONFLICT"]);
    expect(await eventsAfter(owner.tenantId, seq)).toEqual([]);
    expect(await platform.prisma.activity.count({ where: { tenantId: owner.tenantId } })).toBe(activities);
  });

  it("when the activity entry cannot be written, the change and its event roll back with it", async () => {
    // A tenant of its own, and a trigger that refuses only its activity rows: nothing else is affected.
    const victim = await signUpTenant(platform.gatewayUrl, "events-rollback");
    const victimApi = client(platform, victim.token);
    const project = await createProject(victimApi, { name: "Rollback" });
    const task = await createTask(victimApi, { projectId: project.id, title: "Unchanged" });
    const trigger = `activities_refuse_${victim.tenantId.replaceAll("-", "")}`;
    await platform.prisma.$executeRawUnsafe(`
      CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'activity refused for this test'; END $$;
      CREATE TRIGGER ${trigger} BEFORE INSERT ON activities FOR EACH ROW
        WHEN (NEW.tenant_id = '${victim.tenantId}'::uuid) EXECUTE FUNCTION ${trigger}();`);
    try {
      const seq = await lastSeq(victim.tenantId);
      for (const [mutation, input] of [
        [UPDATE_TASK, { id: task.id, version: 1, title: "Changed" }],
        [MOVE_TASK, { id: task.id, version: 1, status: "DONE" }],
        [DELETE_TASK, { id: task.id, version: 1 }],
      ] as const) {
        const res = await victimApi.attempt(mutation, { input });
        expect(codes(res)).toEqual(["INTERNAL_SERVER_ERROR"]);
      }
      const row = await platform.prisma.task.findFirstOrThrow({ where: { id: task.id } });
      expect(row).toMatchObject({ title: "Unchanged", status: "TODO", version: 1, deletedAt: null });
      expect(await eventsAfter(victim.tenantId, seq)).toEqual([]);
    } finally {
      await platform.prisma.$executeRawUnsafe(
        `DROP TRIGGER ${trigger} ON activities; DROP FUNCTION ${trigger}();`,
      );
    }
  });
});
