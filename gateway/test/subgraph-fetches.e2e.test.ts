import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  gql,
  joinOrganization,
  type Platform,
  signUpTenant,
  startGateway,
  startPlatform,
} from "../../test/platform.ts";
import { startRecordingProxy } from "../../test/recording-proxy.ts";

/**
 * What the gateway sends a subgraph, seen on the wire: a recording proxy in front of identity records
 * each request's body and each TCP connection the gateway opens to it.
 */

let platform: Platform;
let identity: Awaited<ReturnType<typeof startRecordingProxy>>;
let gateway: Awaited<ReturnType<typeof startGateway>>;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  identity = await startRecordingProxy(platform.subgraphUrls.identity);
  gateway = await startGateway(platform, { IDENTITY_URL: identity.url });
});
afterAll(async () => {
  await gateway?.close();
  await identity?.close();
  await platform?.close();
});

// `role` is identity's alone (projects answers `email` itself): the board must ask identity.
const BOARD = /* GraphQL */ `
  query Board {
    projects { edges { node { name tasks { edges { node { title assignee { email role } } } } } } }
  }
`;

describe("the gateway's fetches to a subgraph", () => {
  it("send one representation per distinct entity: five tasks of one assignee ask identity once", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "dedupe");
    const project = await gql(
      platform.gatewayUrl,
      `mutation { createProject(input: { name: "Five" }) { project { id } } }`,
      {
        token: owner.token,
      },
    );
    const projectId = project.data!.createProject.project.id as string;
    for (let i = 1; i <= 5; i += 1) {
      const task = await gql(
        platform.gatewayUrl,
        `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
        {
          token: owner.token,
          variables: { input: { projectId, title: `Task ${i}`, assigneeId: owner.userId } },
        },
      );
      expect(task.errors).toBeUndefined();
    }

    identity.bodies.length = 0;
    const board = await gql(gateway.url, BOARD, { token: owner.token });
    expect(board.errors).toBeUndefined();
    const tasks = board.data!.projects.edges[0].node.tasks.edges as Array<{
      node: { assignee: { email: string; role: string } };
    }>;
    expect(tasks).toHaveLength(5);
    expect(
      tasks.every((t) => t.node.assignee.email === owner.email && t.node.assignee.role === "OWNER"),
    ).toBe(true);

    const entityFetches = identity.bodies.filter((b) => b.query.includes("_entities"));
    expect(entityFetches).toHaveLength(1);
    expect(entityFetches[0]!.variables!.representations).toHaveLength(1);
  });

  it("ask identity nothing for the e-mail and name projects provides; a former member is null either way", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "provided");
    const member = await joinOrganization(platform, owner, "MEMBER", "mel");
    const project = await gql(
      platform.gatewayUrl,
      `mutation { createProject(input: { name: "Provided" }) { project { id } } }`,
      { token: owner.token },
    );
    const projectId = project.data!.createProject.project.id as string;
    const created = await gql(
      platform.gatewayUrl,
      `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
      { token: owner.token, variables: { input: { projectId, title: "Mel's", assigneeId: member.userId } } },
    );
    expect(created.errors).toBeUndefined();
    const assignee = async (fields: string) => {
      const res = await gql(
        gateway.url,
        `{ tasks(projectId: "${projectId}") { edges { node { assignee { ${fields} } } } } }`,
        {
          token: owner.token,
        },
      );
      expect(res.errors).toBeUndefined();
      return res.data!.tasks.edges[0].node.assignee;
    };

    identity.bodies.length = 0;
    expect(await assignee("id email name")).toEqual({ id: member.userId, email: member.email, name: "mel" });
    expect(identity.bodies).toEqual([]);
    expect(await assignee("email role")).toEqual({ email: member.email, role: "MEMBER" });

    const removed = await gql(
      platform.gatewayUrl,
      `mutation($input: RemoveMemberInput!) { removeMember(input: $input) { removedUserId } }`,
      { token: owner.token, variables: { input: { userId: member.userId } } },
    );
    expect(removed.errors).toBeUndefined();
    expect(await assignee("id email name")).toBeNull();
    expect(await assignee("role")).toBeNull();
  });

  it("reuse one kept-alive connection for operation after operation", async () => {
    const { token } = await signUpTenant(platform.gatewayUrl, "keep-alive");
    await gql(gateway.url, "{ me { email } }", { token });
    const before = identity.connections();
    for (let i = 0; i < 10; i += 1)
      expect((await gql(gateway.url, "{ me { email } }", { token })).errors).toBeUndefined();
    expect(identity.connections()).toBe(before);
  });
});
