import type { Resolvers } from "../../generated/resolvers.ts";
import { usage } from "./usage.service.ts";

export const usageResolvers: Resolvers = {
  Query: {
    usage: (_parent, args, ctx) => usage(ctx, args.period),
  },
};
