import type { Resolvers } from "../../generated/resolvers.ts";
import { listTaskComments } from "../comments/comments.service.ts";
import { requireProject } from "../projects/projects.service.ts";
import {
  createTask,
  getTask,
  listAssignedTasks,
  listMyTasks,
  listProjectTasks,
  memberOf,
  moveTask,
  projectTaskCounts,
  setTaskDeleted,
  updateTask,
} from "./tasks.service.ts";

export const taskResolvers: Resolvers = {
  Query: {
    tasks: (_parent, { projectId, ...args }, ctx) => listProjectTasks(ctx, projectId, args),
    task: (_parent, { id }, ctx) => getTask(ctx, id),
    myTasks: (_parent, args, ctx) => listMyTasks(ctx, args),
    taskCounts: (_parent, { projectId }, ctx) => projectTaskCounts(ctx, projectId),
  },
  Mutation: {
    createTask: (_parent, { input }, ctx) => createTask(ctx, input),
    updateTask: (_parent, { input }, ctx) => updateTask(ctx, input),
    moveTask: (_parent, { input }, ctx) => moveTask(ctx, input),
    deleteTask: (_parent, { input }, ctx) => setTaskDeleted(ctx, true, input),
    restoreTask: (_parent, { input }, ctx) => setTaskDeleted(ctx, false, input),
  },
  Task: {
    __resolveReference: (ref, ctx) => getTask(ctx, ref.id),
    project: (task, _args, ctx) => requireProject(ctx, task.projectId),
    assignee: (task, _args, ctx) => memberOf(ctx, task.assigneeId),
    reporter: (task, _args, ctx) => memberOf(ctx, task.reporterId),
    comments: (task, args, ctx) => listTaskComments(ctx, task.id, args),
  },
  User: {
    // Tasks are scoped to the caller's tenant: another tenant's user simply has none here.
    assignedTasks: (user, args, ctx) => listAssignedTasks(ctx, user.id, args),
  },
};
