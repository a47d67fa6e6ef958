import type { Resolvers } from "../../generated/resolvers.ts";
import {
  acceptInvitation,
  invitationStatus,
  inviteMember,
  listInvitations,
  resendInvitation,
  revokeInvitation,
} from "./invitations.service.ts";

export const invitationResolvers: Resolvers = {
  Query: {
    invitations: (_parent, args, ctx) => listInvitations(ctx, args),
  },
  Mutation: {
    inviteMember: (_parent, { input }, ctx) => inviteMember(ctx, input),
    resendInvitation: (_parent, { input }, ctx) => resendInvitation(ctx, input),
    revokeInvitation: (_parent, { input }, ctx) => revokeInvitation(ctx, input),
    acceptInvitation: (_parent, { input }, ctx) => acceptInvitation(ctx, input),
  },
  Invitation: {
    status: (invitation) => invitationStatus(invitation),
    // Null once the inviter left the organization.
    invitedBy: (invitation, _args, ctx) => ctx.loaders.memberById.load(invitation.invitedBy),
  },
};
