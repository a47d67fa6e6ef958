import type { Resolvers } from "../../generated/resolvers.ts";
import { organizationSettings, updateOrganizationSettings } from "./settings.service.ts";

export const settingsResolvers: Resolvers = {
  Mutation: {
    updateOrganizationSettings: (_parent, { input }, ctx) => updateOrganizationSettings(ctx, input),
  },
  Organization: {
    settings: (organization, _args, ctx) => organizationSettings(ctx, organization),
  },
};
