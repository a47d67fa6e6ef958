import type { Resolvers } from "../../generated/resolvers.ts";
import { projectActivity } from "../activity/activity.service.ts";
import { listProjectTasks, projectTaskCounts } from "../tasks/tasks.service.ts";
import {
  createProject,
  getProject,
  listProjects,
  organizationProjects,
  projectByKey,
  transitionProject,
  updateProject,
} from "./projects.service.ts";

export const projectResolvers: Resolvers = {
  Query: {
    projects: (_parent, args, ctx) => listProjects(ctx, args),
    project: (_parent, { id }, ctx) => getProject(ctx, id),
    projectByKey: (_parent, { key }, ctx) => projectByKey(ctx, key),
  },
  Mutation: {
    createProject: (_parent, { input }, ctx) => createProject(ctx, input),
    updateProject: (_parent, { input }, ctx) => updateProject(ctx, input),
    archiveProject: (_parent, { input }, ctx) => transitionProject(ctx, "archive", input),
    unarchiveProject: (_parent, { input }, ctx) => transitionProject(ctx, "unarchive", input),
    deleteProject: (_parent, { input }, ctx) => transitionProject(ctx, "delete", input),
    restoreProject: (_parent, { input }, ctx) => transitionProject(ctx, "restore", input),
  },
  Project: {
    __resolveReference: (ref, ctx) => getProject(ctx, ref.id),
    tasks: (project, args, ctx) => listProjectTasks(ctx, project.id, args),
    taskCounts: (project, _args, ctx) => projectTaskCounts(ctx, project.id),
    activity: (project, args, ctx) => projectActivity(ctx, project.id, args),
  },
  Organization: {
    projects: (organization, args, ctx) => organizationProjects(ctx, organization.id, args),
  },
};
