import type { Resolvers } from "../../generated/resolvers.ts";
import {
  changePassword,
  logIn,
  logOut,
  refreshToken,
  requestPasswordReset,
  resetPassword,
  sendEmailVerification,
  signUp,
  verifyEmail,
} from "./accounts.service.ts";

export const accountResolvers: Resolvers = {
  Mutation: {
    signUp: (_parent, { input }, ctx) => signUp(ctx, input),
    logIn: (_parent, { input }, ctx) => logIn(ctx, input),
    refreshToken: (_parent, { input }, ctx) => refreshToken(ctx, input),
    logOut: (_parent, { input }, ctx) => logOut(ctx, input),
    changePassword: (_parent, { input }, ctx) => changePassword(ctx, input),
    requestPasswordReset: (_parent, { input }, ctx) => requestPasswordReset(ctx, input),
    resetPassword: (_parent, { input }, ctx) => resetPassword(ctx, input),
    sendEmailVerification: (_parent, _args, ctx) => sendEmailVerification(ctx),
    verifyEmail: (_parent, { input }, ctx) => verifyEmail(ctx, input),
  },
};
