import type { Resolvers } from "../../generated/resolvers.ts";
import { listTasks } from "../tasks/tasks.service.ts";
import { createProject, getProject, listProjects, organizationProjects } from "./projects.service.ts";

export const projectResolvers: Resolvers = {
  Query: {
    projects: (_parent, args, ctx) => listProjects(ctx, args),
    project: (_parent, { id }, ctx) => getProject(ctx, id),
  },
  Mutation: {
    createProject: (_parent, { input }, ctx) => createProject(ctx, input),
  },
  Project: {
    __resolveReference: (ref, ctx) => getProject(ctx, ref.id),
    tasks: (project, args, ctx) => listTasks(ctx, project.id, args),
  },
  Organization: {
    projects: (organization, args, ctx) => organizationProjects(ctx, organization.id, args),
  },
};
