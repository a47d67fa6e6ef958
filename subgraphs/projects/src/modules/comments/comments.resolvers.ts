import type { Resolvers } from "../../generated/resolvers.ts";
import { memberOf, requireTask } from "../tasks/tasks.service.ts";
import { addComment, deleteComment, editComment, getComment } from "./comments.service.ts";

export const commentResolvers: Resolvers = {
  Mutation: {
    addComment: (_parent, { input }, ctx) => addComment(ctx, input),
    editComment: (_parent, { input }, ctx) => editComment(ctx, input),
    deleteComment: (_parent, { input }, ctx) => deleteComment(ctx, input),
  },
  Comment: {
    __resolveReference: (ref, ctx) => getComment(ctx, ref.id),
    task: (comment, _args, ctx) => requireTask(ctx, comment.taskId),
    author: (comment, _args, ctx) => memberOf(ctx, comment.authorId),
    // A deleted comment keeps its row for the timeline, not its words.
    body: (comment) => (comment.deletedAt ? "" : comment.body),
  },
};
