import { randomUUID } from "node:crypto";
import { INTERNAL_CONTEXT_HEADER, signInternalContext } from "@app/common";
import { loadSubgraphSdl } from "@app/common/subgraph";
import { Kind, parse } from "graphql";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { addMember, type Client, client, codes, createProject, createTask, type Tenant } from "./helpers.ts";

/** Roles: VIEWER reads only. Comments: only their author edits or deletes them. */

let platform: Platform;
let owner: Tenant;
let api: Client;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  owner = await signUpTenant(platform.gatewayUrl, "perm");
  api = client(platform, owner.token);
});
afterAll(() => platform?.close());

/** Every mutation the projects subgraph has, read from its SDL: a new one cannot be forgotten here. */
function projectsMutations(): string[] {
  const names: string[] = [];
  for (const definition of parse(loadSubgraphSdl("projects")).definitions) {
    if (
      (definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION) &&
      definition.name.value === "Mutation"
    ) {
      names.push(...(definition.fields ?? []).map((f) => f.name.value));
    }
  }
  return names.sort();
}

/** Everything the tenant owns that a mutation could change, to compare before and after. */
async function state(tenantId: string) {
  const [projects, tasks, comments, activities, events] = await Promise.all([
    platform.prisma.project.findMany({ where: { tenantId }, orderBy: { id: "asc" } }),
    platform.prisma.task.findMany({ where: { tenantId }, orderBy: { id: "asc" } }),
    platform.prisma.comment.findMany({ where: { tenantId }, orderBy: { id: "asc" } }),
    platform.prisma.activity.count({ where: { tenantId } }),
    platform.prisma.outboxEvent.count({ where: { tenantId } }),
  ]);
  return { projects, tasks, comments, activities, events };
}

describe("a VIEWER", () => {
  it("is refused every mutation, through the gateway and straight at the subgraph, and nothing changes", async () => {
    const viewer = await addMember(platform, owner, "VIEWER", "viewer");
    const project = await createProject(api, { name: "Viewed" });
    const [a, b] = [
      await createTask(api, { projectId: project.id, title: "A" }),
      await createTask(api, { projectId: project.id, title: "B" }),
    ];
    const comment = (
      await api.run(
        `mutation($id: ID!) { addComment(input: { taskId: $id, body: "mine" }) { comment { id } } }`,
        {
          id: a.id,
        },
      )
    ).addComment.comment;
    const p = { id: project.id, version: 1 };
    const t = { id: a.id, version: 1 };
    const attempts: Record<string, [string, Record<string, unknown>, string]> = {
      createProject: ["CreateProjectInput", { name: "Nope" }, "project { id }"],
      updateProject: ["UpdateProjectInput", { ...p, name: "Nope" }, "project { id }"],
      archiveProject: ["ArchiveProjectInput", p, "project { id }"],
      unarchiveProject: ["UnarchiveProjectInput", p, "project { id }"],
      deleteProject: ["DeleteProjectInput", p, "project { id }"],
      restoreProject: ["RestoreProjectInput", p, "project { id }"],
      createTask: ["CreateTaskInput", { projectId: project.id, title: "Nope" }, "task { id }"],
      updateTask: ["UpdateTaskInput", { ...t, title: "Nope" }, "task { id }"],
      moveTask: ["MoveTaskInput", { ...t, afterId: b.id }, "task { id }"],
      deleteTask: ["DeleteTaskInput", t, "task { id }"],
      restoreTask: ["RestoreTaskInput", t, "task { id }"],
      addComment: ["AddCommentInput", { taskId: a.id, body: "Nope" }, "comment { id }"],
      editComment: ["EditCommentInput", { id: comment.id, body: "Nope" }, "comment { id }"],
      deleteComment: ["DeleteCommentInput", { id: comment.id }, "comment { id }"],
    };
    expect(Object.keys(attempts).sort()).toEqual(projectsMutations());

    const before = await state(owner.tenantId);
    const context = await signInternalContext(platform.internalSecret, {
      requestId: randomUUID(),
      principal: { tenantId: owner.tenantId, userId: viewer.userId, roles: ["VIEWER"] },
    });
    for (const [mutation, [inputType, input, selection]] of Object.entries(attempts)) {
      const query = `mutation($input: ${inputType}!) { ${mutation}(input: $input) { ${selection} } }`;
      const viaGateway = await gql(platform.gatewayUrl, query, { token: viewer.token, variables: { input } });
      expect(codes(viaGateway), mutation).toEqual(["FORBIDDEN"]);
      const direct = await gql(platform.subgraphUrls.projects, query, {
        headers: { [INTERNAL_CONTEXT_HEADER]: context },
        variables: { input },
      });
      expect(codes(direct), mutation).toEqual(["FORBIDDEN"]);
    }
    expect(await state(owner.tenantId)).toEqual(before);

    // The control: the same viewer reads everything.
    const read = await client(platform, viewer.token).run(
      `query($id: ID!) { project(id: $id) { name tasks { edges { node { title comments { edges { node { body } } } } } } } }`,
      { id: project.id },
    );
    expect(read.project.tasks.edges[0].node.comments.edges).toEqual([{ node: { body: "mine" } }]);
  });
});

describe("comments", () => {
  const ADD = `mutation($taskId: ID!, $body: String!) {
    addComment(input: { taskId: $taskId, body: $body }) { comment { id body author { email } editedAt } }
  }`;
  const EDIT = `mutation($id: ID!, $body: String!) { editComment(input: { id: $id, body: $body }) { comment { body editedAt } } }`;
  const DELETE = `mutation($id: ID!) { deleteComment(input: { id: $id }) { comment { body deletedAt } } }`;
  const COMMENTS = `query($id: ID!) { task(id: $id) { comments { edges { node { body author { email name } } } } } }`;

  it("only the author edits or deletes a comment; others, even the owner, are FORBIDDEN", async () => {
    const member = await addMember(platform, owner, "MEMBER", "commenter");
    const memberApi = client(platform, member.token);
    const project = await createProject(api, { name: "Discussed" });
    const task = await createTask(api, { projectId: project.id, title: "Talk about it" });

    const mine = (await memberApi.run(ADD, { taskId: task.id, body: "I think **yes**." })).addComment.comment;
    expect(mine).toMatchObject({ body: "I think **yes**.", author: { email: member.email }, editedAt: null });
    await api.run(ADD, { taskId: task.id, body: "Agreed." });

    for (const res of [
      await api.attempt(EDIT, { id: mine.id, body: "Owner rewrote this" }),
      await api.attempt(DELETE, { id: mine.id }),
    ]) {
      expect(codes(res)).toEqual(["FORBIDDEN"]);
      expect(res.errors?.[0]?.message).toMatch(/Only the author/);
    }
    expect((await platform.prisma.comment.findFirstOrThrow({ where: { id: mine.id } })).body).toBe(
      "I think **yes**.",
    );

    const edited = (await memberApi.run(EDIT, { id: mine.id, body: "I think **no**." })).editComment.comment;
    expect(edited.body).toBe("I think **no**.");
    expect(edited.editedAt).not.toBeNull();
    const deleted = (await memberApi.run(DELETE, { id: mine.id })).deleteComment.comment;
    expect(deleted).toMatchObject({ body: "", deletedAt: expect.any(String) });
    const gone = await memberApi.attempt(EDIT, { id: mine.id, body: "again" });
    expect(codes(gone)).toEqual(["NOT_FOUND"]);

    const list = await api.run(COMMENTS, { id: task.id });
    expect(list.task.comments.edges).toEqual([
      { node: { body: "Agreed.", author: { email: owner.email, name: expect.any(String) } } },
    ]);
  });

  it("another tenant can neither see nor touch a comment", async () => {
    const project = await createProject(api, { name: "Private talk" });
    const task = await createTask(api, { projectId: project.id, title: "Secret" });
    const comment = (await api.run(ADD, { taskId: task.id, body: "secret words" })).addComment.comment;
    const other = client(platform, (await signUpTenant(platform.gatewayUrl, "perm-other")).token);
    expect(codes(await other.attempt(ADD, { taskId: task.id, body: "hello" }))).toEqual(["NOT_FOUND"]);
    expect(codes(await other.attempt(EDIT, { id: comment.id, body: "x" }))).toEqual(["NOT_FOUND"]);
    expect(codes(await other.attempt(DELETE, { id: comment.id }))).toEqual(["NOT_FOUND"]);
    const read = await other.attempt(COMMENTS, { id: task.id });
    expect(read.data).toEqual({ task: null });
  });
});
