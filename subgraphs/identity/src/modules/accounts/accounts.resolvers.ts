import type { Resolvers } from "../../generated/resolvers.ts";
import { logIn, signUp } from "./accounts.service.ts";

export const accountResolvers: Resolvers = {
  Mutation: {
    signUp: (_parent, { input }, ctx) => signUp(ctx, input),
    logIn: (_parent, { input }, ctx) => logIn(ctx, input),
  },
};
