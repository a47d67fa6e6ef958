import { appError, ErrorCode, forbidden, requirePrincipal } from "@app/common";
import { parseInput } from "@app/common/validation";
import { z } from "zod";
import type { Context } from "../../context.ts";

const deleteAccountInput = z.object({
  confirmEmail: z.string().trim().toLowerCase().min(1, "must not be empty"),
});

/** The signed-in user deletes their own account (account-deletion.ts says what becomes of organizations). */
export async function deleteMyAccount(ctx: Context, input: unknown) {
  const principal = requirePrincipal(ctx);
  if (principal.credential !== "user") throw forbidden("Only the user, signed in, can delete their account.");
  const { confirmEmail } = parseInput(deleteAccountInput, input);
  const me = await ctx.db.membership.findUnique({
    where: { tenantId_userId: { tenantId: principal.tenantId, userId: principal.userId } },
  });
  if (!me || me.email.toLowerCase() !== confirmEmail)
    throw appError(ErrorCode.BAD_USER_INPUT, "input.confirmEmail: must be your account's e-mail address", {
      field: "input.confirmEmail",
    });
  const result = await ctx.accountDeletion.deleteAccount(
    principal.userId,
    ctx.services.config.ORGANIZATION_DELETION_GRACE_SECONDS,
    ctx.requestId,
  );
  ctx.logger.info(
    { userId: principal.userId, scheduled: result.scheduledOrganizationIds },
    "account deleted",
  );
  return result;
}
