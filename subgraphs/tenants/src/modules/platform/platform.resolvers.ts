import type { Resolvers } from "../../generated/resolvers.ts";
import {
  platformOrganization,
  platformOrganizations,
  reactivateOrganization,
  setOrganizationLimits,
  suspendOrganization,
} from "./platform.service.ts";

export const platformResolvers: Resolvers = {
  Query: {
    platformOrganizations: (_parent, args, ctx) => platformOrganizations(ctx, args),
    platformOrganization: (_parent, { id }, ctx) => platformOrganization(ctx, id),
  },
  Mutation: {
    suspendOrganization: (_parent, { input }, ctx) => suspendOrganization(ctx, input),
    reactivateOrganization: (_parent, { input }, ctx) => reactivateOrganization(ctx, input),
    setOrganizationLimits: (_parent, { input }, ctx) => setOrganizationLimits(ctx, input),
  },
};
