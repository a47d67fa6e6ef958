import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { onPlan, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import {
  type Client,
  client,
  codes,
  createProject,
  createTask,
  MOVE_TASK,
  type Page,
  type TaskView,
  UPDATE_TASK,
} from "./helpers.ts";

/** Optimistic concurrency, and the board: cards placed between two others keep their order on reload. */

let platform: Platform;
let api: Client;
let projectId: string;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  const owner = await signUpTenant(platform.gatewayUrl, "board");
  // A project per test: more than the free plan allows.
  await onPlan(platform, owner.tenantId);
  api = client(platform, owner.token);
});
afterAll(() => platform?.close());
beforeEach(async () => {
  projectId = (await createProject(api, { name: "Board" })).id;
});

const BOARD = `query($projectId: ID!, $after: String) {
  tasks(projectId: $projectId, first: 100, after: $after, orderBy: { field: POSITION }) {
    edges { node { id title status position } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** The board as a reload shows it: per column, the card titles in order. */
async function board(): Promise<Record<string, string[]>> {
  const data = await api.run(BOARD, { projectId });
  const columns: Record<string, string[]> = {};
  for (const { node } of data.tasks.edges as Array<{ node: { title: string; status: string } }>) {
    columns[node.status] = [...(columns[node.status] ?? []), node.title];
  }
  return columns;
}

async function move(
  task: { id: string; version: number },
  input: Record<string, unknown>,
): Promise<TaskView> {
  return (await api.run(MOVE_TASK, { input: { id: task.id, version: task.version, ...input } })).moveTask
    .task;
}

async function cards(...names: string[]) {
  const out: TaskView[] = [];
  for (const title of names) out.push(await createTask(api, { projectId, title }));
  return out;
}

describe("optimistic concurrency", () => {
  it("a stale update gets CONFLICT with the current version, and changes nothing", async () => {
    const [task] = await cards("Write the spec");
    const first = await api.run(UPDATE_TASK, {
      input: { id: task!.id, version: 1, title: "Write the spec v2" },
    });
    expect(first.updateTask.task).toMatchObject({ title: "Write the spec v2", version: 2 });

    // A second client still holding version 1.
    const stale = await api.attempt(UPDATE_TASK, { input: { id: task!.id, version: 1, priority: "URGENT" } });
    expect(codes(stale)).toEqual(["CONFLICT"]);
    expect(stale.errors?.[0]?.extensions?.currentVersion).toBe(2);
    const row = await platform.prisma.task.findFirstOrThrow({ where: { id: task!.id } });
    expect(row).toMatchObject({ version: 2, priority: "MEDIUM", title: "Write the spec v2" });

    // Reloaded, it goes through.
    const retried = await api.run(UPDATE_TASK, { input: { id: task!.id, version: 2, priority: "URGENT" } });
    expect(retried.updateTask.task).toMatchObject({ priority: "URGENT", version: 3 });
  });

  it("of two concurrent updates from the same version, exactly one wins", async () => {
    const [task] = await cards("Contested");
    const results = await Promise.all(
      ["A", "B"].map((title) => api.attempt(UPDATE_TASK, { input: { id: task!.id, version: 1, title } })),
    );
    expect(results.map((r) => codes(r)?.[0] ?? "OK").sort()).toEqual(["CONFLICT", "OK"]);
    const row = await platform.prisma.task.findFirstOrThrow({ where: { id: task!.id } });
    expect(row.version).toBe(2);
  });

  it("moves need the current version too", async () => {
    const [a, b] = await cards("A", "B");
    await move(b!, { afterId: null });
    const stale = await api.attempt(MOVE_TASK, { input: { id: b!.id, version: 1, beforeId: a!.id } });
    expect(codes(stale)).toEqual(["CONFLICT"]);
    expect(stale.errors?.[0]?.extensions?.currentVersion).toBe(2);
  });
});

describe("the board", () => {
  it("new cards go to the end of their column", async () => {
    await cards("A", "B", "C");
    expect(await board()).toEqual({ TODO: ["A", "B", "C"] });
  });

  it("a card moved between two others stays there across reloads, and only it is rewritten", async () => {
    const [a, b, c, d] = await cards("A", "B", "C", "D");
    const before = await platform.prisma.task.findMany({ where: { projectId }, orderBy: { id: "asc" } });
    const moved = await move(d!, { afterId: a!.id, beforeId: b!.id });
    expect(moved.version).toBe(2);
    expect(await board()).toEqual({ TODO: ["A", "D", "B", "C"] });
    expect(await board()).toEqual({ TODO: ["A", "D", "B", "C"] });
    // No renumbering: the other cards kept their keys and versions.
    const after = await platform.prisma.task.findMany({ where: { projectId }, orderBy: { id: "asc" } });
    for (const [i, row] of after.entries()) {
      if (row.id === d!.id) continue;
      expect(row).toMatchObject({ position: before[i]!.position, version: before[i]!.version });
    }
    // Before the first card, and after the last.
    await move(c!, { beforeId: a!.id });
    await move(a!, { afterId: b!.id });
    expect(await board()).toEqual({ TODO: ["C", "D", "B", "A"] });
  });

  it("many moves between the same two cards keep working and keep the order", async () => {
    const [a, b, c, d] = await cards("A", "B", "C", "D");
    const current = { C: c!, D: d! };
    for (let i = 0; i < 60; i++) {
      const name = i % 2 === 0 ? "C" : "D";
      current[name] = await move(current[name], { afterId: a!.id, beforeId: b!.id });
      const other = name === "C" ? "D" : "C";
      // The card just moved is right after A; the other one, moved the round before, right after it.
      expect((await board()).TODO, `round ${i}`).toEqual(
        i === 0 ? ["A", "C", "B", "D"] : ["A", name, other, "B"],
      );
    }
    const keys = (await platform.prisma.task.findMany({ where: { projectId } })).map((t) => t.position);
    expect(new Set(keys).size).toBe(4);
    // Keys grow by about one character per six moves into one gap: far from any limit.
    expect(Math.max(...keys.map((k) => k.length))).toBeLessThan(20);
  });

  it("moves a card to another column, between two of its cards or at its end", async () => {
    const [a, b, c] = await cards("A", "B", "C");
    const bInProgress = await move(b!, { status: "IN_PROGRESS" });
    await move(c!, { status: "IN_PROGRESS", beforeId: b!.id });
    await move(a!, { status: "DONE" });
    expect(await board()).toEqual({ IN_PROGRESS: ["C", "B"], DONE: ["A"] });
    expect(bInProgress.status).toBe("IN_PROGRESS");
    // updateTask with a new status puts the card at the end of that column.
    const c2 = await platform.prisma.task.findFirstOrThrow({ where: { id: c!.id } });
    await api.run(UPDATE_TASK, { input: { id: c!.id, version: c2.version, status: "DONE" } });
    expect(await board()).toEqual({ IN_PROGRESS: ["B"], DONE: ["A", "C"] });
  });

  it("two concurrent moves into the same gap both land there, with distinct keys", async () => {
    const [a, b, c, d] = await cards("A", "B", "C", "D");
    const results = await Promise.all([
      api.attempt(MOVE_TASK, { input: { id: c!.id, version: 1, afterId: a!.id, beforeId: b!.id } }),
      api.attempt(MOVE_TASK, { input: { id: d!.id, version: 1, afterId: a!.id, beforeId: b!.id } }),
    ]);
    for (const res of results) expect(res.errors).toBeUndefined();
    const column = (await board()).TODO!;
    expect(column[0]).toBe("A");
    expect(column[3]).toBe("B");
    expect(column.slice(1, 3).sort()).toEqual(["C", "D"]);
  });

  it("refuses neighbours that are not cards of the target column, or in the wrong order", async () => {
    const [a, b, c] = await cards("A", "B", "C");
    const inProgress = await move(c!, { status: "IN_PROGRESS" });
    const wrongColumn = await api.attempt(MOVE_TASK, {
      input: { id: a!.id, version: 1, afterId: inProgress.id },
    });
    expect(codes(wrongColumn)).toEqual(["BAD_USER_INPUT"]);
    expect(wrongColumn.errors?.[0]?.extensions?.fields).toEqual([
      { field: "input.afterId", message: "is not a card of the TODO column of this project" },
    ]);
    const reversed = await api.attempt(MOVE_TASK, {
      input: { id: c!.id, version: inProgress.version, status: "TODO", afterId: b!.id, beforeId: a!.id },
    });
    expect(codes(reversed)).toEqual(["BAD_USER_INPUT"]);
    const itself = await api.attempt(MOVE_TASK, { input: { id: a!.id, version: 1, afterId: a!.id } });
    expect(codes(itself)).toEqual(["BAD_USER_INPUT"]);
    expect(await board()).toEqual({ TODO: ["A", "B"], IN_PROGRESS: ["C"] });
  });

  it("pages through the board with cursors in (status, position) order", async () => {
    const [a, b, c, d, e] = await cards("A", "B", "C", "D", "E");
    await move(e!, { afterId: a!.id });
    await move(b!, { status: "DONE" });
    await move(d!, { status: "IN_PROGRESS" });
    await move(c!, { status: "IN_PROGRESS", beforeId: d!.id });
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const data: Page = await api.run(
        `query($projectId: ID!, $after: String) {
          tasks(projectId: $projectId, first: 2, after: $after, orderBy: { field: POSITION }) {
            edges { node { title } } pageInfo { hasNextPage endCursor }
          }
        }`,
        { projectId, after },
      );
      seen.push(...data.tasks.edges.map((e: { node: { title: string } }) => e.node.title));
      if (!data.tasks.pageInfo.hasNextPage) break;
      after = data.tasks.pageInfo.endCursor;
    }
    expect(seen).toEqual(["A", "E", "C", "D", "B"]);
  });
});
