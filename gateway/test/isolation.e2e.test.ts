import { randomBytes, randomUUID } from "node:crypto";
import {
  INTERNAL_CONTEXT_HEADER,
  listen,
  type Principal,
  type RunningServer,
  signInternalContext,
} from "@app/common";
import { base64url, decodeJwt, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type GraphQLResponse,
  gql,
  type Platform,
  signUpTenant,
  startPlatform,
} from "../../test/platform.ts";
import { createGatewayApp } from "../src/app.ts";
import { gatewayEnv } from "../src/env.ts";

/**
 * Tenant isolation, attacked by tenant A: through the gateway with A's own token, straight at the
 * subgraphs with a context signed for A, and with forged or spoofed headers. Each refusal has a control
 * beside it that gets the data with the same request made legitimately, so a refusal that comes from a
 * broken request, not from the check, fails the test.
 */

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;

const CREATE_PROJECT = `mutation($name: String!) { createProject(input: { name: $name }) { project { id } } }`;
const CREATE_TASK = `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id title } } }`;
const PROJECTS = `{ projects { edges { node { id name } } } }`;
const PROJECT = `query($id: ID!) { project(id: $id) { id name tasks { edges { node { id title } } } } }`;
const TASKS = `query($projectId: ID!) { tasks(projectId: $projectId) { edges { node { id title } } } }`;
/** `_entities` selecting `fields` on each entity type: each subgraph's _Entity has only its own types. */
const entitiesQuery = (fields: string) =>
  `query($representations: [_Any!]!) { _entities(representations: $representations) { ${fields} } }`;

let platform: Platform;
let a: Tenant;
let b: Tenant;
/** What only B knows; none of it may appear in an answer to A. */
let bSecrets: string[];
let ids: { aProject: string; aTask: string; bProject: string; bTask: string };
const suffix = randomBytes(4).toString("hex");

async function create(tenant: Tenant, query: string, variables: Record<string, unknown>) {
  const res = await gql(platform.gatewayUrl, query, { token: tenant.token, variables });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!;
}

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  [a, b] = await Promise.all([
    signUpTenant(platform.gatewayUrl, `iso-a-${suffix}`),
    signUpTenant(platform.gatewayUrl, `iso-b-${suffix}`),
  ]);
  const bProjectName = `B secret project ${suffix}`;
  const bTaskTitle = `B secret task ${suffix}`;
  const bProject = (await create(b, CREATE_PROJECT, { name: bProjectName })).createProject.project.id;
  const bTask = (
    await create(b, CREATE_TASK, { input: { projectId: bProject, title: bTaskTitle, assigneeId: b.userId } })
  ).createTask.task.id;
  const aProject = (await create(a, CREATE_PROJECT, { name: "A project" })).createProject.project.id;
  const aTask = (await create(a, CREATE_TASK, { input: { projectId: aProject, title: "A task" } })).createTask
    .task.id;
  ids = { aProject, aTask, bProject, bTask };
  bSecrets = [bProjectName, bTaskTitle, b.email, `iso-b-${suffix} Inc`];
});
afterAll(() => platform?.close());

function expectNoLeak(res: unknown) {
  const body = JSON.stringify(res);
  for (const secret of bSecrets) expect(body).not.toContain(secret);
}

const codes = (res: GraphQLResponse) => res.errors?.map((e) => e.extensions?.code);
const principal = (t: Tenant): Principal => ({
  tenantId: t.tenantId,
  userId: t.userId,
  roles: ["OWNER"],
  credential: "user",
  scopes: ["read", "write"],
});

describe("tenant A, through the gateway, against tenant B's data", () => {
  it("lists only A's projects", async () => {
    const mine = await gql(platform.gatewayUrl, PROJECTS, { token: a.token });
    expect(mine.data?.projects.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([ids.aProject]);
    const theirs = await gql(platform.gatewayUrl, PROJECTS, { token: b.token });
    expect(theirs.data?.projects.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([
      ids.bProject,
    ]);
  });

  it("reads B's project by id as null", async () => {
    const control = await gql(platform.gatewayUrl, PROJECT, {
      token: b.token,
      variables: { id: ids.bProject },
    });
    expect(control.data?.project?.tasks.edges).toHaveLength(1);
    const res = await gql(platform.gatewayUrl, PROJECT, { token: a.token, variables: { id: ids.bProject } });
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ project: null });
    expectNoLeak(res);
  });

  it("reads the tasks of B's project as an empty list", async () => {
    const control = await gql(platform.gatewayUrl, TASKS, {
      token: b.token,
      variables: { projectId: ids.bProject },
    });
    expect(control.data?.tasks.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([ids.bTask]);
    const res = await gql(platform.gatewayUrl, TASKS, {
      token: a.token,
      variables: { projectId: ids.bProject },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ tasks: { edges: [] } });
  });

  it("cannot create a task in B's project: NOT_FOUND, and B's project is untouched", async () => {
    const title = `planted ${randomUUID()}`;
    const res = await gql(platform.gatewayUrl, CREATE_TASK, {
      token: a.token,
      variables: { input: { projectId: ids.bProject, title } },
    });
    expect(codes(res)).toEqual(["NOT_FOUND"]);
    expect(res.data).toBeNull();
    expect(await platform.prisma.task.count({ where: { title } })).toBe(0);
    expect(await platform.prisma.task.count({ where: { projectId: ids.bProject } })).toBe(1);
  });

  it("cannot assign a task to B's user: BAD_USER_INPUT on input.assigneeId, nothing written", async () => {
    const title = `assigned across ${randomUUID()}`;
    const res = await gql(platform.gatewayUrl, CREATE_TASK, {
      token: a.token,
      variables: { input: { projectId: ids.aProject, title, assigneeId: b.userId } },
    });
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
    expect(res.errors?.[0]?.message).toContain("input.assigneeId");
    expect(res.data).toBeNull();
    expect(await platform.prisma.task.count({ where: { title } })).toBe(0);
    expectNoLeak(res);
  });

  it("sees only its own organization, projects and subscription", async () => {
    const res = await gql(
      platform.gatewayUrl,
      `{ currentOrganization { id name projects { edges { node { id } } } subscription { plan { code } } } }`,
      { token: a.token },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({
      currentOrganization: {
        id: a.tenantId,
        name: `iso-a-${suffix} Inc`,
        projects: { edges: [{ node: { id: ids.aProject } }] },
        subscription: { plan: { code: "FREE" } },
      },
    });
  });
});

describe("_entities on a subgraph, with a valid context signed for A, asking for B's entities", () => {
  async function entities(
    subgraph: keyof Platform["subgraphUrls"],
    representations: object[],
    fields: string,
  ) {
    const context = await signInternalContext(platform.internalSecret, {
      requestId: randomUUID(),
      principal: principal(a),
    });
    return gql(platform.subgraphUrls[subgraph], entitiesQuery(fields), {
      headers: { [INTERNAL_CONTEXT_HEADER]: context },
      variables: { representations },
    });
  }

  it("projects: B's Project and Task resolve to null, A's own resolve", async () => {
    const res = await entities(
      "projects",
      [
        { __typename: "Project", id: ids.aProject },
        { __typename: "Project", id: ids.bProject },
        { __typename: "Task", id: ids.aTask },
        { __typename: "Task", id: ids.bTask },
      ],
      "... on Project { id name } ... on Task { id title }",
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities).toEqual([
      { id: ids.aProject, name: "A project" },
      null,
      { id: ids.aTask, title: "A task" },
      null,
    ]);
    expectNoLeak(res);
  });

  it("identity: B's user resolves to null, A's own resolves", async () => {
    const res = await entities(
      "identity",
      [
        { __typename: "User", id: a.userId },
        { __typename: "User", id: b.userId },
      ],
      "... on User { id email name }",
    );
    expect(res.data?._entities).toEqual([{ id: a.userId, email: a.email, name: expect.any(String) }, null]);
    expectNoLeak(res);
  });

  it("tenants: B's organization resolves to null", async () => {
    const res = await entities(
      "tenants",
      [
        { __typename: "Organization", id: a.tenantId },
        { __typename: "Organization", id: b.tenantId },
      ],
      "... on Organization { id name slug }",
    );
    expect(res.data?._entities).toEqual([
      { id: a.tenantId, name: `iso-a-${suffix} Inc`, slug: expect.any(String) },
      null,
    ]);
    expectNoLeak(res);
  });

  it("projects: Organization.projects of B's organization is FORBIDDEN, A's lists A's projects", async () => {
    const res = await entities(
      "projects",
      [
        { __typename: "Organization", id: a.tenantId },
        { __typename: "Organization", id: b.tenantId },
      ],
      "... on Organization { id projects { edges { node { id name } } } }",
    );
    expect(res.data?._entities).toEqual([
      { id: a.tenantId, projects: { edges: [{ node: { id: ids.aProject, name: "A project" } }] } },
      null,
    ]);
    expect(codes(res)).toEqual(["FORBIDDEN"]);
    expectNoLeak(res);
  });

  it("billing: Organization.subscription of B's organization is FORBIDDEN, A's resolves", async () => {
    const res = await entities(
      "billing",
      [
        { __typename: "Organization", id: a.tenantId },
        { __typename: "Organization", id: b.tenantId },
      ],
      "... on Organization { id subscription { status plan { code } } }",
    );
    expect(res.data?._entities).toEqual([
      { id: a.tenantId, subscription: { status: "ACTIVE", plan: { code: "FREE" } } },
      null,
    ]);
    expect(codes(res)).toEqual(["FORBIDDEN"]);
  });

  it("malformed ids in representations resolve to null, never to an error", async () => {
    const res = await entities(
      "projects",
      [
        { __typename: "Project", id: "not-a-uuid" },
        { __typename: "Task", id: "' OR 1=1 --" },
      ],
      "... on Project { id name } ... on Task { id title }",
    );
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities).toEqual([null, null]);
  });
});

/** A hand-built internal context, as the gateway signs it unless told otherwise. */
async function forgeContext(
  claims: { tenant: Tenant },
  options: { secret?: string; expiresAt?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ rid: randomUUID(), tid: claims.tenant.tenantId, roles: ["OWNER"] })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer("coditect-gateway")
    .setAudience("coditect-subgraphs")
    .setSubject(claims.tenant.userId)
    .setIssuedAt(now - 300)
    .setExpirationTime(options.expiresAt ?? now + 60)
    .sign(new TextEncoder().encode(options.secret ?? platform.internalSecret));
}

function unsignedContext(tenant: Tenant): string {
  const now = Math.floor(Date.now() / 1000);
  const segment = (value: object) => base64url.encode(JSON.stringify(value));
  const payload = {
    rid: randomUUID(),
    tid: tenant.tenantId,
    sub: tenant.userId,
    roles: ["OWNER"],
    iss: "coditect-gateway",
    aud: "coditect-subgraphs",
    iat: now,
    exp: now + 60,
  };
  return `${segment({ alg: "none" })}.${segment(payload)}.`;
}

/** Per subgraph, a request that returns B's data to a caller the subgraph takes for B. */
const probes: Record<
  keyof Platform["subgraphUrls"],
  { query: string; variables?: () => Record<string, unknown>; shows: () => string }
> = {
  tenants: { query: `{ currentOrganization { id name } }`, shows: () => b.tenantId },
  identity: { query: `{ me { id email } }`, shows: () => b.email },
  projects: { query: PROJECTS, shows: () => ids.bProject },
  billing: {
    query: entitiesQuery("... on Organization { subscription { plan { code } } }"),
    variables: () => ({ representations: [{ __typename: "Organization", id: b.tenantId }] }),
    shows: () => "FREE",
  },
};
const subgraphs = Object.keys(probes) as Array<keyof typeof probes>;

async function probe(subgraph: keyof typeof probes, headers: Record<string, string>) {
  const { query, variables } = probes[subgraph];
  return gql(platform.subgraphUrls[subgraph], query, { headers, variables: variables?.() });
}

/** Header sets claiming to be B, or to speak for someone, that no subgraph may accept. */
const forgeries: Array<[string, () => Promise<Record<string, string>>]> = [
  ["no internal context", async () => ({})],
  ["a garbage internal context", async () => ({ [INTERNAL_CONTEXT_HEADER]: "garbage" })],
  [
    "an internal context signed with another secret",
    async () => ({
      [INTERNAL_CONTEXT_HEADER]: await forgeContext(
        { tenant: b },
        { secret: randomBytes(32).toString("hex") },
      ),
    }),
  ],
  [
    "an expired internal context",
    async () => ({
      [INTERNAL_CONTEXT_HEADER]: await forgeContext(
        { tenant: b },
        { expiresAt: Math.floor(Date.now() / 1000) - 60 },
      ),
    }),
  ],
  [
    "an unsigned (alg: none) internal context",
    async () => ({ [INTERNAL_CONTEXT_HEADER]: unsignedContext(b) }),
  ],
  [
    "x-tenant-id, x-user-id and A's access token instead of a context",
    async () => ({ "x-tenant-id": b.tenantId, "x-user-id": b.userId, authorization: `Bearer ${a.token}` }),
  ],
];

describe("requests straight to a subgraph without the gateway's signature", () => {
  it.each(subgraphs)("%s answers B's own context with B's data (the control)", async (subgraph) => {
    const res = await probe(subgraph, { [INTERNAL_CONTEXT_HEADER]: await forgeContext({ tenant: b }) });
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    expect(JSON.stringify(res.data)).toContain(probes[subgraph].shows());
  });

  describe.each(forgeries)("%s", (_name, headers) => {
    it.each(subgraphs)("is refused by %s with 401 and no data", async (subgraph) => {
      const res = await probe(subgraph, await headers());
      expect(res.status).toBe(401);
      expect(codes(res)).toEqual(["UNAUTHENTICATED"]);
      expect(res.data ?? null).toBeNull();
      expectNoLeak(res);
    });
  });
});

describe("a client sending the internal context header to the gateway", () => {
  const ORGANIZATION = `{ currentOrganization { id name } }`;

  it.each([
    [
      "signed with another secret",
      () => forgeContext({ tenant: b }, { secret: randomBytes(32).toString("hex") }),
    ],
    ["signed with the real secret (a leaked header)", () => forgeContext({ tenant: b })],
  ])("claiming B, %s, is ignored: A still sees A, an anonymous caller sees nothing", async (_name, forge) => {
    const headers = { [INTERNAL_CONTEXT_HEADER]: await forge() };
    const asA = await gql(platform.gatewayUrl, ORGANIZATION, { token: a.token, headers });
    expect(asA.data).toEqual({ currentOrganization: { id: a.tenantId, name: `iso-a-${suffix} Inc` } });
    const anonymous = await gql(platform.gatewayUrl, ORGANIZATION, { headers });
    expect(codes(anonymous)).toEqual(["UNAUTHENTICATED"]);
    expect(anonymous.data?.currentOrganization ?? null).toBeNull();
    expectNoLeak(anonymous);
  });
});

describe("a gateway that does not hold the internal secret", () => {
  let rogue: { server: RunningServer; close: () => Promise<void> };
  beforeAll(async () => {
    const identity = new URL(platform.subgraphUrls.identity).origin;
    const app = await createGatewayApp(
      gatewayEnv.parse({
        NODE_ENV: "test",
        LOG_LEVEL: "silent",
        INTERNAL_CONTEXT_SECRET: randomBytes(32).toString("hex"),
        TENANTS_URL: platform.subgraphUrls.tenants,
        IDENTITY_URL: platform.subgraphUrls.identity,
        PROJECTS_URL: platform.subgraphUrls.projects,
        BILLING_URL: platform.subgraphUrls.billing,
        JWKS_URL: `${identity}/.well-known/jwks.json`,
        JWT_ISSUER: decodeJwt(a.token).iss,
      }),
    );
    rogue = { server: await listen(app.yoga, 0, "127.0.0.1"), close: app.close };
  });
  afterAll(async () => {
    await rogue?.server.close();
    await rogue?.close();
  });

  it("gets nothing from any subgraph, even with a valid token, and shows no internal URL", async () => {
    const res = await gql(
      `${rogue.server.url}/graphql`,
      `{ currentOrganization { id name } projects { edges { node { id name } } } }`,
      {
        token: a.token,
      },
    );
    expect(res.data ?? null).toBeNull();
    expect(new Set(codes(res))).toEqual(new Set(["INTERNAL_SERVER_ERROR"]));
    const body = JSON.stringify(res);
    expect(body).not.toContain("A project");
    for (const url of Object.values(platform.subgraphUrls)) expect(body).not.toContain(url);
  });
});

describe("malformed ids through the gateway", () => {
  const malformed = ["not-a-uuid", "' OR 1=1 --", "00000000-0000-0000-0000-000000000000", "x".repeat(10_000)];

  it.each(malformed)("project(id: %#) is null", async (id) => {
    const res = await gql(platform.gatewayUrl, PROJECT, { token: a.token, variables: { id } });
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ project: null });
  });

  it.each(malformed)("tasks(projectId: %#) is empty", async (projectId) => {
    const res = await gql(platform.gatewayUrl, TASKS, { token: a.token, variables: { projectId } });
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ tasks: { edges: [] } });
  });

  it.each(malformed)("createTask(projectId: %#) is NOT_FOUND", async (projectId) => {
    const res = await gql(platform.gatewayUrl, CREATE_TASK, {
      token: a.token,
      variables: { input: { projectId, title: "t" } },
    });
    expect(res.status).toBe(200);
    expect(codes(res)).toEqual(["NOT_FOUND"]);
  });

  it.each(malformed)("createTask(assigneeId: %#) is BAD_USER_INPUT", async (assigneeId) => {
    const res = await gql(platform.gatewayUrl, CREATE_TASK, {
      token: a.token,
      variables: { input: { projectId: ids.aProject, title: "t", assigneeId } },
    });
    expect(res.status).toBe(200);
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
  });

  it.each(malformed)("projects(after: %#) is BAD_USER_INPUT", async (after) => {
    const res = await gql(
      platform.gatewayUrl,
      `query($after: String) { projects(after: $after) { edges { cursor } } }`,
      {
        token: a.token,
        variables: { after },
      },
    );
    expect(res.status).toBe(200);
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
  });
});
