import type { Resolvers } from "../../generated/resolvers.ts";
import {
  completeLogIn,
  confirmTotp,
  disableTotp,
  enrollTotp,
  regenerateRecoveryCodes,
  secondFactorStatus,
} from "./mfa.service.ts";
import type { SecretBox } from "./secret-box.ts";

export function mfaResolvers(box: SecretBox): Resolvers {
  return {
    Query: {
      secondFactor: (_parent, _args, ctx) => secondFactorStatus(ctx),
    },
    Mutation: {
      enrollTotp: (_parent, _args, ctx) => enrollTotp(ctx, box),
      confirmTotp: (_parent, { input }, ctx) => confirmTotp(ctx, box, input),
      disableTotp: (_parent, { input }, ctx) => disableTotp(ctx, box, input),
      regenerateRecoveryCodes: (_parent, { input }, ctx) => regenerateRecoveryCodes(ctx, box, input),
      completeLogIn: (_parent, { input }, ctx) => completeLogIn(ctx, box, input),
    },
  };
}
