import type { Resolvers } from "../../generated/resolvers.ts";
import { requireProject } from "../projects/projects.service.ts";
import { createTask, getTask, listTasks } from "./tasks.service.ts";

export const taskResolvers: Resolvers = {
  Query: {
    tasks: (_parent, { projectId, ...page }, ctx) => listTasks(ctx, projectId, page),
  },
  Mutation: {
    createTask: (_parent, { input }, ctx) => createTask(ctx, input),
  },
  Task: {
    __resolveReference: (ref, ctx) => getTask(ctx, ref.id),
    project: (task, _args, ctx) => requireProject(ctx, task.projectId),
    // A reference only: identity resolves the user, in one batch for the whole page.
    assignee: (task) => (task.assigneeId ? { __typename: "User", id: task.assigneeId } : null),
  },
};
