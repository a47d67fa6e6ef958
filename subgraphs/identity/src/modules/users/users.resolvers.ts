import type { Resolvers } from "../../generated/resolvers.ts";
import { me, updateProfile, userReference } from "./users.service.ts";

export const userResolvers: Resolvers = {
  Query: {
    me: (_parent, _args, ctx) => me(ctx),
  },
  Mutation: {
    updateProfile: (_parent, { input }, ctx) => updateProfile(ctx, input),
  },
  User: {
    __resolveReference: (ref, ctx) => userReference(ctx, ref.id),
  },
};
