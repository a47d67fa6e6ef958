import { requirePrincipal, unauthenticated } from "@app/common";
import { parseInput, text } from "@app/common/validation";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { ACCOUNT_TX } from "../accounts/accounts.service.ts";

export type { MemberUser } from "@app/common/members";

export function me(ctx: Context) {
  return ctx.loaders.memberById.load(requirePrincipal(ctx).userId);
}

/** Entity resolution: a user who is not a member of the caller's tenant resolves to null. */
export function userReference(ctx: Context, id: string) {
  return ctx.loaders.memberById.load(id);
}

const profileInput = z.object({ name: text(1, 200) });

/**
 * Renames the caller. Memberships carry a copy of the name (tenant reads need no users lookup), so every
 * copy changes in the same transaction: no organization ever shows a stale one.
 */
export async function updateProfile(ctx: Context, input: unknown) {
  const { userId } = requirePrincipal(ctx);
  const data = parseInput(profileInput, input);
  await ctx.accounts.$transaction(async (tx) => {
    await tx.user.update({ where: { id: userId }, data: { name: data.name } });
    await tx.membership.updateMany({ where: { userId }, data: { name: data.name } });
  }, ACCOUNT_TX);
  const user = await ctx.loaders.memberById.load(userId);
  // Renamed, but no longer a member of the organization the token is for.
  if (!user) throw unauthenticated();
  return { user };
}
