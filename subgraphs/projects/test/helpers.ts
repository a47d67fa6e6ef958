import type { Role } from "@app/common";
import { type GraphQLResponse, gql, type Platform, signUpTenant } from "../../../test/platform.ts";

export type Tenant = Awaited<ReturnType<typeof signUpTenant>>;

/** A caller of the gateway with one token: `run` throws on errors, `attempt` returns the response. */
export function client(platform: Platform, token: string) {
  return {
    // biome-ignore lint/suspicious/noExplicitAny: tests read response shapes they assert on themselves
    attempt: <T = Record<string, any>>(query: string, variables?: Record<string, unknown>) =>
      gql<T>(platform.gatewayUrl, query, { token, variables }),
    // biome-ignore lint/suspicious/noExplicitAny: as above
    async run<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<T> {
      const res = await gql<T>(platform.gatewayUrl, query, { token, variables });
      if (res.errors?.length || !res.data) throw new Error(JSON.stringify(res.errors ?? res));
      return res.data;
    },
  };
}
export type Client = ReturnType<typeof client>;

export const codes = (res: GraphQLResponse) => res.errors?.map((e) => e.extensions?.code);

const LOG_IN = /* GraphQL */ `
  mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }
`;

/**
 * A second person in `tenant`: signs up (with an organization of their own), is made a member of
 * `tenant` with `role` (the membership row as identity would write it), and logs in to `tenant`.
 */
export async function addMember(platform: Platform, tenant: Tenant, role: Role, label = "member") {
  const person = await signUpTenant(platform.gatewayUrl, label);
  await platform.prisma.membership.create({
    data: { tenantId: tenant.tenantId, userId: person.userId, role, email: person.email, name: label },
  });
  const res = await gql(platform.gatewayUrl, LOG_IN, {
    variables: {
      input: {
        email: person.email,
        password: "correct horse battery staple",
        organizationId: tenant.tenantId,
      },
    },
  });
  if (!res.data?.logIn) throw new Error(`log-in failed: ${JSON.stringify(res.errors)}`);
  return { ...person, tenantId: tenant.tenantId, token: res.data.logIn.accessToken as string };
}

export const TASK_FIELDS = `id title description status priority position version labels dueDate deletedAt
  assignee { id } reporter { id }`;

export const CREATE_PROJECT = `mutation($input: CreateProjectInput!) {
  createProject(input: $input) { project { id key name version status } }
}`;
export const CREATE_TASK = `mutation($input: CreateTaskInput!) {
  createTask(input: $input) { task { ${TASK_FIELDS} } }
}`;
export const UPDATE_TASK = `mutation($input: UpdateTaskInput!) {
  updateTask(input: $input) { task { ${TASK_FIELDS} } }
}`;
export const MOVE_TASK = `mutation($input: MoveTaskInput!) {
  moveTask(input: $input) { task { ${TASK_FIELDS} } }
}`;
export const DELETE_TASK = `mutation($input: DeleteTaskInput!) { deleteTask(input: $input) { task { ${TASK_FIELDS} } } }`;
export const RESTORE_TASK = `mutation($input: RestoreTaskInput!) { restoreTask(input: $input) { task { ${TASK_FIELDS} } } }`;

export interface TaskView {
  id: string;
  title: string;
  status: string;
  position: string;
  version: number;
  labels: string[];
  dueDate: string | null;
  deletedAt: string | null;
  assignee: { id: string } | null;
  reporter: { id: string } | null;
}

export async function createProject(api: Client, input: Record<string, unknown>) {
  const data = await api.run(CREATE_PROJECT, { input });
  return data.createProject.project as { id: string; key: string; name: string; version: number };
}

export async function createTask(api: Client, input: Record<string, unknown>): Promise<TaskView> {
  return (await api.run(CREATE_TASK, { input })).createTask.task;
}

/** A page of a task connection as tests select it. */
export interface Page {
  tasks: {
    edges: Array<{ node: { title: string } }>;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

/** Titles of a connection's nodes, in order. */
export const titles = (connection: { edges: Array<{ node: { title: string } }> }) =>
  connection.edges.map((e) => e.node.title);
