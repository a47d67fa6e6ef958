import type { Resolvers } from "../../generated/resolvers.ts";
import { listPlans } from "./plans.service.ts";

export const planResolvers: Resolvers = {
  Query: {
    plans: (_parent, _args, ctx) => listPlans(ctx),
  },
};
