import { type Role, requirePrincipal } from "@app/common";
import type { User } from "@app/db";
import type { Context } from "../../context.ts";

/** A user as one tenant sees them: only while they are a member, and with their role there. */
export type MemberUser = Pick<User, "id" | "email" | "name"> & { role: Role };

export function me(ctx: Context) {
  return ctx.loaders.memberById.load(requirePrincipal(ctx).userId);
}

/** Entity resolution: a user who is not a member of the caller's tenant resolves to null. */
export function userReference(ctx: Context, id: string) {
  return ctx.loaders.memberById.load(id);
}
