import type { Resolvers } from "../../generated/resolvers.ts";
import { currentOrganization, organizationReference } from "./organizations.service.ts";

export const organizationResolvers: Resolvers = {
  Query: {
    currentOrganization: (_parent, _args, ctx) => currentOrganization(ctx),
  },
  Organization: {
    __resolveReference: (ref, ctx) => organizationReference(ctx, ref.id),
  },
};
