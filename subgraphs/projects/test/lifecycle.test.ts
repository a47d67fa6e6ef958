import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { onPlan, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import {
  type Client,
  CREATE_PROJECT,
  CREATE_TASK,
  client,
  codes,
  createProject,
  createTask,
  DELETE_TASK,
  RESTORE_TASK,
  titles,
  UPDATE_TASK,
} from "./helpers.ts";

/** Project keys, archive, soft delete and restore of projects and tasks, validation. */

let platform: Platform;
let api: Client;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  const owner = await signUpTenant(platform.gatewayUrl, "life");
  // Many projects in one organization: more than the free plan allows.
  await onPlan(platform, owner.tenantId);
  api = client(platform, owner.token);
});
afterAll(() => platform?.close());

const PROJECT = `query($id: ID!) { project(id: $id) { id key status version deletedAt
  tasks { edges { node { title } } } taskCounts { status count } } }`;
const transition = (name: string, id: string, version: number) =>
  api.attempt(
    `mutation($input: ${name[0]!.toUpperCase()}${name.slice(1)}Input!) {
    ${name}(input: $input) { project { id status version deletedAt } }
  }`,
    { input: { id, version } },
  );

describe("project keys", () => {
  it("are derived from the name when omitted, unique in the organization, and chosen ones are checked", async () => {
    const keys = [];
    for (const name of ["Website Redesign", "Website Rebuild", "Launch", "Überprüfung", "2026 plan", "X"]) {
      keys.push((await createProject(api, { name })).key);
    }
    expect(keys).toEqual(["WR", "WR2", "LAUNCH", "UBERPR", "P2P", "PRJ"]);
    expect((await createProject(api, { name: "Web", key: " web1 " })).key).toBe("WEB1");

    const taken = await api.attempt(CREATE_PROJECT, { input: { name: "Again", key: "WR" } });
    expect(codes(taken)).toEqual(["BAD_USER_INPUT"]);
    expect(taken.errors?.[0]?.extensions?.fields).toEqual([
      { field: "input.key", message: "is already used by another project (perhaps a deleted one)" },
    ]);
    const bad = await api.attempt(CREATE_PROJECT, { input: { name: " ", key: "1A" } });
    expect(bad.errors?.[0]?.extensions?.fields).toEqual([
      { field: "input.name", message: "must not be empty" },
      { field: "input.key", message: "must be 2 to 10 letters and digits, starting with a letter" },
    ]);
    const byKey = await api.run(`{ projectByKey(key: "wr2") { name } }`);
    expect(byKey.projectByKey).toEqual({ name: "Website Rebuild" });
  });

  it("concurrent creates deriving the same key each get their own", async () => {
    const made = await Promise.all([1, 2, 3, 4].map(() => createProject(api, { name: "Same Name Here" })));
    expect(made.map((p) => p.key).sort()).toEqual(["SNH", "SNH2", "SNH3", "SNH4"]);
  });
});

describe("archive", () => {
  it("makes a project read-only until it is unarchived", async () => {
    const project = await createProject(api, { name: "Archivable" });
    const task = await createTask(api, { projectId: project.id, title: "Before" });
    const archived = await transition("archiveProject", project.id, 1);
    expect(archived.data?.archiveProject.project).toMatchObject({ status: "ARCHIVED", version: 2 });

    for (const res of [
      await api.attempt(CREATE_TASK, { input: { projectId: project.id, title: "After" } }),
      await api.attempt(UPDATE_TASK, { input: { id: task.id, version: 1, title: "Changed" } }),
      await api.attempt(
        `mutation($id: ID!) { addComment(input: { taskId: $id, body: "hi" }) { comment { id } } }`,
        {
          id: task.id,
        },
      ),
      await api.attempt(
        `mutation($id: ID!) { updateProject(input: { id: $id, version: 2, name: "Renamed" }) { project { id } } }`,
        { id: project.id },
      ),
    ]) {
      expect(codes(res)).toEqual(["FORBIDDEN"]);
      expect(res.errors?.[0]?.message).toContain("is archived");
    }
    // Still readable, and listed under its status.
    const listed = await api.run(`{ projects(filter: { status: ARCHIVED }) { edges { node { id } } } }`);
    expect(listed.projects.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(project.id);

    const unarchived = await transition("unarchiveProject", project.id, 2);
    expect(unarchived.data?.unarchiveProject.project).toMatchObject({ status: "ACTIVE", version: 3 });
    await api.run(UPDATE_TASK, { input: { id: task.id, version: 1, title: "Changed" } });
  });
});

describe("soft delete and restore", () => {
  it("a deleted task leaves lists and counts, stays readable by id, and comes back to its place", async () => {
    const project = await createProject(api, { name: "Trash" });
    const [a, b, c] = [
      await createTask(api, { projectId: project.id, title: "A" }),
      await createTask(api, { projectId: project.id, title: "B" }),
      await createTask(api, { projectId: project.id, title: "C" }),
    ];
    const deleted = (await api.run(DELETE_TASK, { input: { id: b.id, version: 1 } })).deleteTask.task;
    expect(deleted.deletedAt).not.toBeNull();
    expect(deleted.version).toBe(2);

    const view = await api.run(PROJECT, { id: project.id });
    expect(titles(view.project.tasks)).toEqual(["A", "C"]);
    expect(view.project.taskCounts[0]).toEqual({ status: "TODO", count: 2 });
    const trash = await api.run(
      `query($id: ID!) { tasks(projectId: $id, filter: { deleted: true }) { edges { node { title } } } }`,
      { id: project.id },
    );
    expect(titles(trash.tasks)).toEqual(["B"]);
    const byId = await api.run(`query($id: ID!) { task(id: $id) { title deletedAt } }`, { id: b.id });
    expect(byId.task).toEqual({ title: "B", deletedAt: deleted.deletedAt });

    // A deleted task cannot be changed, only restored; deleting it again changes nothing.
    const update = await api.attempt(UPDATE_TASK, { input: { id: b.id, version: 2, title: "x" } });
    expect(codes(update)).toEqual(["NOT_FOUND"]);
    expect(update.errors?.[0]?.message).toContain("restore it first");
    expect((await api.run(DELETE_TASK, { input: { id: b.id, version: 2 } })).deleteTask.task.version).toBe(2);

    // Meanwhile a card moves into B's old gap: B's slot stays B's.
    await api.run(`mutation($input: MoveTaskInput!) { moveTask(input: $input) { task { id } } }`, {
      input: { id: c.id, version: 1, afterId: a.id },
    });
    const restored = (await api.run(RESTORE_TASK, { input: { id: b.id, version: 2 } })).restoreTask.task;
    expect(restored).toMatchObject({ deletedAt: null, version: 3, position: deleted.position });
    const board = await api.run(
      `query($id: ID!) { tasks(projectId: $id, orderBy: { field: POSITION }) { edges { node { title } } } }`,
      { id: project.id },
    );
    // C went right after A, in front of B's slot (deleted cards keep theirs), so B is back after C.
    expect(titles(board.tasks)).toEqual(["A", "C", "B"]);
  });

  it("a deleted project leaves the lists and myTasks, and comes back with its tasks", async () => {
    const me = await signUpTenant(platform.gatewayUrl, "life-project");
    const mine = client(platform, me.token);
    const project = await createProject(mine, { name: "Doomed" });
    await createTask(mine, { projectId: project.id, title: "Inside", assigneeId: me.userId });
    const MINE = `{ projects { edges { node { id } } } myTasks { edges { node { title } } } }`;
    expect((await mine.run(MINE)).myTasks.edges).toHaveLength(1);

    const deleted = await mine.attempt(
      `mutation($id: ID!) { deleteProject(input: { id: $id, version: 1 }) { project { deletedAt version } } }`,
      { id: project.id },
    );
    expect(deleted.data?.deleteProject.project.deletedAt).not.toBeNull();
    expect(await mine.run(MINE)).toEqual({ projects: { edges: [] }, myTasks: { edges: [] } });
    const trash = await mine.run(`{ projects(filter: { deleted: true }) { edges { node { id } } } }`);
    expect(trash.projects.edges).toEqual([{ node: { id: project.id } }]);
    const write = await mine.attempt(CREATE_TASK, { input: { projectId: project.id, title: "x" } });
    expect(codes(write)).toEqual(["NOT_FOUND"]);

    const stale = await mine.attempt(
      `mutation($id: ID!) { restoreProject(input: { id: $id, version: 1 }) { project { id } } }`,
      { id: project.id },
    );
    expect(codes(stale)).toEqual(["CONFLICT"]);
    expect(stale.errors?.[0]?.extensions?.currentVersion).toBe(2);
    await mine.run(
      `mutation($id: ID!) { restoreProject(input: { id: $id, version: 2 }) { project { id } } }`,
      {
        id: project.id,
      },
    );
    expect((await mine.run(MINE)).myTasks.edges).toEqual([{ node: { title: "Inside" } }]);
  });
});

describe("task input validation", () => {
  it("names every offending field and writes nothing", async () => {
    const project = await createProject(api, { name: "Validation" });
    const res = await api.attempt(CREATE_TASK, {
      input: {
        projectId: project.id,
        title: "",
        description: "x".repeat(20_001),
        labels: ["ok", "", "y".repeat(51)],
        assigneeId: "nope",
      },
    });
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
    const fields = (res.errors?.[0]?.extensions?.fields as Array<{ field: string }> | undefined)?.map(
      (f) => f.field,
    );
    expect(fields).toEqual(
      expect.arrayContaining([
        "input.title",
        "input.description",
        "input.assigneeId",
        "input.labels.1",
        "input.labels.2",
      ]),
    );
    expect(await platform.prisma.task.count({ where: { projectId: project.id } })).toBe(0);
  });

  it("refuses a date that is not one as BAD_USER_INPUT quoting it", async () => {
    const project = await createProject(api, { name: "Dates" });
    const res = await api.attempt(CREATE_TASK, {
      input: { projectId: project.id, title: "t", dueDate: "2026-13-45T00:00:00Z" },
    });
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
    expect(res.errors?.[0]?.message).toContain('"2026-13-45T00:00:00Z"');
    expect(await platform.prisma.task.count({ where: { projectId: project.id } })).toBe(0);
  });

  it("keeps labels unique, clears assignee and due date with null, leaves absent fields alone", async () => {
    const project = await createProject(api, { name: "Fields" });
    const task = await createTask(api, {
      projectId: project.id,
      title: "Fields",
      labels: ["a", "b", "a"],
      dueDate: "2026-12-24T18:00:00+01:00",
      priority: "HIGH",
    });
    expect(task).toMatchObject({ labels: ["a", "b"], dueDate: "2026-12-24T17:00:00.000Z" });
    const updated = (
      await api.run(UPDATE_TASK, { input: { id: task.id, version: 1, dueDate: null, title: "Renamed" } })
    ).updateTask.task;
    expect(updated).toMatchObject({
      title: "Renamed",
      dueDate: null,
      labels: ["a", "b"],
      priority: "HIGH",
      version: 2,
    });
    // Nothing to change: no new version.
    const same = (await api.run(UPDATE_TASK, { input: { id: task.id, version: 2, title: "Renamed" } }))
      .updateTask.task;
    expect(same.version).toBe(2);
  });
});
