import type { Resolvers } from "../../generated/resolvers.ts";
import {
  cancelSubscription,
  changePlan,
  createBillingPortalSession,
  invoices,
  organizationSubscription,
  resumeSubscription,
  startCheckout,
} from "./subscriptions.service.ts";

export const subscriptionResolvers: Resolvers = {
  Organization: {
    subscription: (organization, _args, ctx) => organizationSubscription(ctx, organization.id),
    invoices: (organization, args, ctx) => invoices(ctx, organization.id, args.first),
  },
  Mutation: {
    startCheckout: (_parent, args, ctx) => startCheckout(ctx, args.input),
    changePlan: (_parent, args, ctx) => changePlan(ctx, args.input),
    cancelSubscription: (_parent, args, ctx) => cancelSubscription(ctx, args.input),
    resumeSubscription: (_parent, _args, ctx) => resumeSubscription(ctx),
    createBillingPortalSession: (_parent, args, ctx) => createBillingPortalSession(ctx, args.input),
  },
};
