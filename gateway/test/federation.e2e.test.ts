import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform } from "../../test/platform.ts";

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(() => platform?.close());

const CREATE_PROJECT = `mutation($name: String!) { createProject(input: { name: $name }) { project { id name } } }`;
const CREATE_TASK = `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id title } } }`;
const OVERVIEW = `{
  currentOrganization {
    name
    projects { edges { node { name tasks { edges { node { title assignee { email } } } } } } }
    subscription { plan { code } status }
  }
}`;

describe("the walking skeleton through the gateway", () => {
  it("signs up, creates a project and a task, and reads them across three subgraphs in one query", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "acme");
    const project = await gql(platform.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "Launch" },
    });
    expect(project.errors).toBeUndefined();
    const projectId = project.data!.createProject.project.id;
    const task = await gql(platform.gatewayUrl, CREATE_TASK, {
      token: owner.token,
      variables: { input: { projectId, title: "Write the press release", assigneeId: owner.userId } },
    });
    expect(task.errors).toBeUndefined();

    const overview = await gql(platform.gatewayUrl, OVERVIEW, { token: owner.token });
    expect(overview.errors).toBeUndefined();
    expect(overview.data).toEqual({
      currentOrganization: {
        name: "acme Inc",
        projects: {
          edges: [
            {
              node: {
                name: "Launch",
                tasks: {
                  edges: [{ node: { title: "Write the press release", assignee: { email: owner.email } } }],
                },
              },
            },
          ],
        },
        subscription: { plan: { code: "FREE" }, status: "ACTIVE" },
      },
    });
  });
});
