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

describe("bad input", () => {
  const fieldsOf = (res: Awaited<ReturnType<typeof gql>>) =>
    (res.errors?.[0]?.extensions?.fields as Array<{ field: string }> | undefined)?.map((f) => f.field);

  it("names every offending field of a sign-up in one BAD_USER_INPUT", async () => {
    const res = await gql(
      platform.gatewayUrl,
      `mutation { signUp(input: { email: "not-an-email", password: "short", organizationName: "  " }) { accessToken } }`,
    );
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(fieldsOf(res)).toEqual(["input.email", "input.password", "input.organizationName"]);
    expect(res.data).toBeNull();
  });

  it.each([
    ["an empty name", "   "],
    ["a name over 200 characters", "x".repeat(201)],
    ["a NUL character, which PostgreSQL cannot store", "Launch\u0000"],
    ["an escape character", "Launch\u001b[31m"],
  ])("refuses a project with %s and writes nothing", async (_label, name) => {
    const owner = await signUpTenant(platform.gatewayUrl, "input");
    const res = await gql(platform.gatewayUrl, CREATE_PROJECT, { token: owner.token, variables: { name } });
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(fieldsOf(res)).toEqual(["input.name"]);
    expect(await platform.prisma.project.count({ where: { tenantId: owner.tenantId } })).toBe(0);
  });

  it("refuses a second account with the same e-mail, whatever its case", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "dupe");
    const res = await gql(
      platform.gatewayUrl,
      `mutation($email: String!) { signUp(input: { email: $email, password: "another long password", organizationName: "Dupe" }) { accessToken } }`,
      { variables: { email: owner.email.toUpperCase() } },
    );
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.message).toContain("input.email");
  });
});
