// The hot tenant-scoped operations the scale and mixed-load benchmarks send through the gateway, as a
// signed-in member of a seeded organization (bench/lib/seed.ts) would: list the projects, read a page
// of a project's tasks (with their assignees, from identity), create a task.
import { gql } from "./platform.ts";
import { type SeedShape, seedIds } from "./seed.ts";

export const OPERATIONS = ["listProjects", "pageOfTasks", "createTask"] as const;
export type Operation = (typeof OPERATIONS)[number];

const LIST_PROJECTS = `query ListProjects { projects(first: 20) { edges { node { id key name status } } } }`;
const PAGE_OF_TASKS = `query PageOfTasks($projectId: ID!) {
  tasks(projectId: $projectId, first: 50) {
    edges { node { id title status priority position assignee { id name } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const CREATE_TASK = `mutation CreateTask($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`;

/** A seeded organization's owner, signed in. */
export interface SignedIn {
  org: number;
  token: string;
}

/**
 * Sends one operation for `who` and checks the answer is the data asked for (a GraphQL error or an
 * empty page is a failure). Resolves with nothing; rejects with the reason.
 */
export async function runOperation(
  gatewayUrl: string,
  operation: Operation,
  who: SignedIn,
  shape: SeedShape,
  n: number,
): Promise<void> {
  // Each tenant's projects in turn, so every project is read and written.
  const projectId = seedIds.project(who.org, n % shape.projectsPerOrganization);
  switch (operation) {
    case "listProjects": {
      const data = await gql<{ projects: { edges: unknown[] } }>(gatewayUrl, LIST_PROJECTS, {}, who.token);
      if (data.projects.edges.length < shape.projectsPerOrganization) throw new Error("projects missing");
      return;
    }
    case "pageOfTasks": {
      const data = await gql<{ tasks: { edges: unknown[] } }>(
        gatewayUrl,
        PAGE_OF_TASKS,
        { projectId },
        who.token,
      );
      if (data.tasks.edges.length === 0) throw new Error("no tasks");
      return;
    }
    case "createTask": {
      const data = await gql<{ createTask: { task: { id: string } } }>(
        gatewayUrl,
        CREATE_TASK,
        {
          input: {
            projectId,
            title: `Bench task ${n}`,
            assigneeId: seedIds.user(who.org, n % shape.usersPerOrganization),
          },
        },
        who.token,
      );
      if (!data.createTask.task.id) throw new Error("no task id");
      return;
    }
  }
}

/** The error's own message, or fetch's cause (its message is only "fetch failed"). */
export function reason(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  return e.cause ? `${e.message}: ${e.cause.code ?? e.cause.message}` : e.message;
}
