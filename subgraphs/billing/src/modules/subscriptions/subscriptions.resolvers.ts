import type { Resolvers } from "../../generated/resolvers.ts";
import { organizationSubscription } from "./subscriptions.service.ts";

export const subscriptionResolvers: Resolvers = {
  Organization: {
    subscription: (organization, _args, ctx) => organizationSubscription(ctx, organization.id),
  },
};
