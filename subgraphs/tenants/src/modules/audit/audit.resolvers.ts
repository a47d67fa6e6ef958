import type { Resolvers } from "../../generated/resolvers.ts";
import { auditLog } from "./audit.service.ts";

export const auditResolvers: Resolvers = {
  Query: {
    auditLog: (_parent, args, ctx) => auditLog(ctx, args),
  },
};
