import type { Resolvers } from "../../generated/resolvers.ts";
import {
  changeOrganizationSlug,
  createOrganization,
  currentOrganization,
  currentOrganizationByHost,
  organizationBySlug,
  organizationReference,
  renameOrganization,
} from "./organizations.service.ts";

export const organizationResolvers: Resolvers = {
  Query: {
    currentOrganization: (_parent, _args, ctx) => currentOrganization(ctx),
    organizationBySlug: (_parent, { slug }, ctx) => organizationBySlug(ctx, slug),
    currentOrganizationByHost: (_parent, _args, ctx) => currentOrganizationByHost(ctx),
  },
  Mutation: {
    createOrganization: (_parent, { input }, ctx) => createOrganization(ctx, input),
    renameOrganization: (_parent, { input }, ctx) => renameOrganization(ctx, input),
    changeOrganizationSlug: (_parent, { input }, ctx) => changeOrganizationSlug(ctx, input),
  },
  Organization: {
    __resolveReference: (ref, ctx) => organizationReference(ctx, ref.id),
  },
};
