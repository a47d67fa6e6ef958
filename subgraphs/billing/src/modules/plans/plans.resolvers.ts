import type { Resolvers } from "../../generated/resolvers.ts";
import { listPlans, updatePlan } from "./plans.service.ts";

export const planResolvers: Resolvers = {
  Query: {
    plans: (_parent, _args, ctx) => listPlans(ctx),
  },
  Mutation: {
    updatePlan: (_parent, args, ctx) => updatePlan(ctx, args.input),
  },
};
