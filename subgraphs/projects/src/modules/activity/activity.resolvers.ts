import type { Activity, Comment, Project } from "@app/db";
import type { Resolvers } from "../../generated/resolvers.ts";
import { requireProject } from "../projects/projects.service.ts";
import { memberOf } from "../tasks/tasks.service.ts";
import { activityTarget } from "./activity.service.ts";

export const activityResolvers: Resolvers = {
  Activity: {
    actor: (activity, _args, ctx) => memberOf(ctx, activity.actorId),
    target: (activity, _args, ctx) => activityTarget(ctx, activity),
    project: (activity, _args, ctx) => requireProject(ctx, activity.projectId),
    task: (activity, _args, ctx) => (activity.taskId ? ctx.loaders.taskById.load(activity.taskId) : null),
    diff: (activity: Activity) => activity.diff,
  },
  ActivityTarget: {
    // Rows carry no type name: tell them apart by a column only that model has.
    __resolveType: (target) =>
      "key" in (target as Project) ? "Project" : "authorId" in (target as Comment) ? "Comment" : "Task",
  },
};
