/**
 * Tenant isolation as a property (fast-check): random sequences of operations by several tenants' OWNERs,
 * MEMBERs and VIEWERs through the real gateway, aimed at their own rows, at other tenants' rows and at ids
 * that exist nowhere. Whatever the sequence:
 * - a tenant never reads another tenant's project, task, comment or member;
 * - an operation aimed at another tenant's id answers exactly as for an id that does not exist (same data,
 *   same error code and message), so a tenant cannot even learn that the id exists;
 * - an operation aimed at another tenant's rows changes nothing of that tenant: its rows, counts and
 *   audit log stay as they were.
 *
 * CI runs it with a fixed seed; `FC_RUNS=500 FC_SEED=<n> npx vitest run test/isolation.property.test.ts`
 * goes deeper (FC_SEED unset with FC_RUNS: a fixed seed too; a failure prints the seed and the shrunk
 * sequence to replay).
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type GraphQLResponse, gql, type Platform, signUpTenant, startPlatform } from "./platform.ts";

const RUNS = Number(process.env.FC_RUNS ?? 40);
const SEED = Number(process.env.FC_SEED ?? 20261124);
const PASSWORD = "correct horse battery staple";
const ROLES = ["OWNER", "MEMBER", "VIEWER"] as const;

interface Actor {
  tenant: number;
  role: (typeof ROLES)[number];
  token: string;
  userId: string;
}

interface TenantData {
  id: string;
  projects: string[];
  tasks: string[];
  comments: string[];
  users: string[];
}

let platform: Platform;
const actors: Actor[] = [];
const tenants: TenantData[] = [];

async function run(token: string, query: string, variables: Record<string, unknown> = {}) {
  return gql(platform.gatewayUrl, query, { token, variables });
}

async function must(token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await run(token, query, variables);
  if (res.errors?.length || !res.data) throw new Error(JSON.stringify(res.errors));
  return res.data;
}

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  for (let t = 0; t < 3; t += 1) {
    const owner = await signUpTenant(platform.gatewayUrl, `prop-${t}`);
    const data: TenantData = {
      id: owner.tenantId,
      projects: [],
      tasks: [],
      comments: [],
      users: [owner.userId],
    };
    actors.push({ tenant: t, role: "OWNER", token: owner.token, userId: owner.userId });
    for (const role of ["MEMBER", "VIEWER"] as const) {
      const person = await signUpTenant(platform.gatewayUrl, `prop-${t}-${role.toLowerCase()}`);
      await platform.prisma.membership.create({
        data: { tenantId: owner.tenantId, userId: person.userId, role, email: person.email, name: role },
      });
      const login = await must("", `mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }`, {
        input: { email: person.email, password: PASSWORD, organizationId: owner.tenantId },
      });
      actors.push({ tenant: t, role, token: login.logIn.accessToken, userId: person.userId });
      data.users.push(person.userId);
    }
    for (let p = 0; p < 2; p += 1) {
      const project = await must(
        owner.token,
        `mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }`,
        {
          input: { name: `Tenant ${t} project ${p}` },
        },
      );
      data.projects.push(project.createProject.project.id);
    }
    for (let k = 0; k < 2; k += 1) {
      const task = await must(
        owner.token,
        `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
        {
          input: { projectId: data.projects[0], title: `Tenant ${t} task ${k}` },
        },
      );
      data.tasks.push(task.createTask.task.id);
    }
    const comment = await must(
      owner.token,
      `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }`,
      {
        input: { taskId: data.tasks[0], body: `Tenant ${t} comment` },
      },
    );
    data.comments.push(comment.addComment.comment.id);
    tenants.push(data);
  }
}, 120_000);

afterAll(async () => {
  await platform?.close();
});

type Kind = "projects" | "tasks" | "comments" | "users";
/** Where an operation aims: a row of the actor's own tenant, of another tenant, or an id of nothing. */
type Aim = { to: "own" | "other"; pick: number; otherTenant: number } | { to: "nothing" };

interface Operation {
  name: string;
  kind: Kind;
  /** Builds the request for a target id (and the actor, for ids it needs of its own tenant). */
  request(id: string, actor: Actor): { query: string; variables: Record<string, unknown> };
  write: boolean;
  /** The field whose value must never be another tenant's row. */
  field: string;
}

const OPERATIONS: Operation[] = [
  {
    name: "project",
    kind: "projects",
    write: false,
    field: "project",
    request: (id) => ({ query: `query($id: ID!) { project(id: $id) { id name key } }`, variables: { id } }),
  },
  {
    name: "task",
    kind: "tasks",
    write: false,
    field: "task",
    request: (id) => ({
      query: `query($id: ID!) { task(id: $id) { id title project { id } comments { edges { node { id body } } } } }`,
      variables: { id },
    }),
  },
  {
    name: "tasks",
    kind: "projects",
    write: false,
    field: "tasks",
    request: (id) => ({
      query: `query($id: ID!) { tasks(projectId: $id) { edges { node { id title } } } }`,
      variables: { id },
    }),
  },
  {
    name: "updateProject",
    kind: "projects",
    write: true,
    field: "updateProject",
    request: (id) => ({
      query: `mutation($input: UpdateProjectInput!) { updateProject(input: $input) { project { id name } } }`,
      variables: { input: { id, version: 1, name: "taken over" } },
    }),
  },
  {
    name: "archiveProject",
    kind: "projects",
    write: true,
    field: "archiveProject",
    request: (id) => ({
      query: `mutation($input: ArchiveProjectInput!) { archiveProject(input: $input) { project { id status } } }`,
      variables: { input: { id, version: 1 } },
    }),
  },
  {
    name: "createTask",
    kind: "projects",
    write: true,
    field: "createTask",
    request: (id) => ({
      query: `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`,
      variables: { input: { projectId: id, title: "planted" } },
    }),
  },
  {
    name: "updateTask",
    kind: "tasks",
    write: true,
    field: "updateTask",
    request: (id) => ({
      query: `mutation($input: UpdateTaskInput!) { updateTask(input: $input) { task { id title } } }`,
      variables: { input: { id, version: 1, title: "taken over" } },
    }),
  },
  {
    name: "deleteTask",
    kind: "tasks",
    write: true,
    field: "deleteTask",
    request: (id) => ({
      query: `mutation($input: DeleteTaskInput!) { deleteTask(input: $input) { task { id } } }`,
      variables: { input: { id, version: 1 } },
    }),
  },
  {
    name: "addComment",
    kind: "tasks",
    write: true,
    field: "addComment",
    request: (id) => ({
      query: `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }`,
      variables: { input: { taskId: id, body: "planted" } },
    }),
  },
  {
    name: "editComment",
    kind: "comments",
    write: true,
    field: "editComment",
    request: (id) => ({
      query: `mutation($input: EditCommentInput!) { editComment(input: $input) { comment { id body } } }`,
      variables: { input: { id, body: "taken over" } },
    }),
  },
  {
    name: "deleteComment",
    kind: "comments",
    write: true,
    field: "deleteComment",
    request: (id) => ({
      query: `mutation($input: DeleteCommentInput!) { deleteComment(input: $input) { comment { id } } }`,
      variables: { input: { id } },
    }),
  },
  // Entity references: a task of the actor's own tenant assigned to a user of another tenant.
  {
    name: "assign",
    kind: "users",
    write: true,
    field: "updateTask",
    request: (id, actor) => ({
      query: `mutation($input: UpdateTaskInput!) { updateTask(input: $input) { task { id assignee { id email } } } }`,
      variables: { input: { id: tenants[actor.tenant]!.tasks[1], version: 1, assigneeId: id } },
    }),
  },
];

const aimArb: fc.Arbitrary<Aim> = fc.oneof(
  fc.record({ to: fc.constantFrom("own" as const, "other" as const), pick: fc.nat(), otherTenant: fc.nat() }),
  fc.constant({ to: "nothing" as const }),
);
const stepArb = fc.record({
  actor: fc.nat({ max: 8 }),
  operation: fc.nat({ max: OPERATIONS.length - 1 }),
  aim: aimArb,
});

/** The response with ids made anonymous, for comparing "not yours" with "does not exist". */
function normalise(res: GraphQLResponse, id: string) {
  const text = JSON.stringify({
    data: res.data ?? null,
    errors: (res.errors ?? []).map((e) => ({ message: e.message, code: e.extensions?.code })),
  });
  return text.split(id).join("<id>");
}

/** Everything of a tenant an attack could change, read through the owner's client. */
async function snapshot(tenantId: string) {
  const [projects, tasks, comments, audit, memberships] = await Promise.all([
    platform.prisma.project.findMany({ where: { tenantId }, orderBy: { id: "asc" } }),
    platform.prisma.task.findMany({ where: { tenantId }, orderBy: { id: "asc" } }),
    platform.prisma.comment.findMany({ where: { tenantId }, orderBy: { id: "asc" } }),
    platform.prisma.auditEntry.count({ where: { tenantId } }),
    platform.prisma.membership.count({ where: { tenantId } }),
  ]);
  return { projects, tasks, comments, audit, memberships };
}

/** Every id of tenants other than `own`: none may appear in an answer to `own`'s actors. */
function foreignIds(own: number): string[] {
  return tenants.flatMap((t, i) =>
    i === own ? [] : [...t.projects, ...t.tasks, ...t.comments, ...t.users, t.id],
  );
}

describe("no tenant reads, changes or learns of another tenant's data", () => {
  it(`holds for ${RUNS} random sequences of operations (seed ${SEED})`, async () => {
    let operations = 0;
    const aimed = { own: 0, other: 0, nothing: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), async (steps) => {
        for (const step of steps) {
          const actor = actors[step.actor]!;
          const operation = OPERATIONS[step.operation]!;
          const own = tenants[actor.tenant]!;
          let id: string;
          let victim: TenantData | null = null;
          if (step.aim.to === "nothing") id = randomUUID();
          else if (step.aim.to === "own")
            id = own[operation.kind][step.aim.pick % own[operation.kind].length]!;
          else {
            const others = tenants.filter((_, i) => i !== actor.tenant);
            victim = others[step.aim.otherTenant % others.length]!;
            id = victim[operation.kind][step.aim.pick % victim[operation.kind].length]!;
          }
          aimed[step.aim.to] += 1;
          const before = victim ? await snapshot(victim.id) : null;
          const request = operation.request(id, actor);
          const res = await run(actor.token, request.query, request.variables);
          operations += 1;
          // Nothing of another tenant in any answer.
          const text = JSON.stringify(res);
          for (const foreign of foreignIds(actor.tenant)) {
            if (foreign !== id) expect(text, `${operation.name} leaked ${foreign}`).not.toContain(foreign);
          }
          if (victim) {
            // Exactly the answer for an id that exists nowhere.
            const missing = randomUUID();
            const control = await run(
              actor.token,
              operation.request(missing, actor).query,
              operation.request(missing, actor).variables,
            );
            operations += 1;
            expect(
              normalise(res, id),
              `${operation.name} by a ${actor.role} on another tenant's ${operation.kind}`,
            ).toBe(normalise(control, missing));
            expect(await snapshot(victim.id), `${operation.name} changed another tenant`).toEqual(before);
          }
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    // Each kind of aim was exercised (a generator that stopped aiming at other tenants would prove nothing).
    expect(operations).toBeGreaterThan(RUNS);
    expect(aimed.own).toBeGreaterThan(0);
    expect(aimed.other).toBeGreaterThan(RUNS / 2);
    expect(aimed.nothing).toBeGreaterThan(0);
  }, 600_000);
});
