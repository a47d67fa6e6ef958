import type { Resolvers } from "../../generated/resolvers.ts";
import { me, userReference } from "./users.service.ts";

export const userResolvers: Resolvers = {
  Query: {
    me: (_parent, _args, ctx) => me(ctx),
  },
  User: {
    __resolveReference: (ref, ctx) => userReference(ctx, ref.id),
  },
};
