import type { Resolvers } from "../../generated/resolvers.ts";
import {
  changeMemberRole,
  myOrganizations,
  removeMember,
  switchOrganization,
} from "./memberships.service.ts";

export const membershipResolvers: Resolvers = {
  Query: {
    myOrganizations: (_parent, _args, ctx) => myOrganizations(ctx),
  },
  Mutation: {
    switchOrganization: (_parent, { input }, ctx) => switchOrganization(ctx, input),
    changeMemberRole: (_parent, { input }, ctx) => changeMemberRole(ctx, input),
    removeMember: (_parent, { input }, ctx) => removeMember(ctx, input),
  },
};
