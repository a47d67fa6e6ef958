import {
  appError,
  ErrorCode,
  forbidden,
  hasRole,
  notFound,
  ROLES,
  requirePrincipal,
  requireRole,
} from "@app/common";
import { MEMBERSHIP_REMOVED_TOPIC } from "@app/common/events";
import { parseInput } from "@app/common/validation";
import { emitEvent, type TenantTransaction } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { chooseMembership } from "../accounts/accounts.service.ts";
import { authPayload, endSessions } from "../sessions/sessions.service.ts";

const switchInput = z.object({ organizationId: z.uuid("must be an organization id") });
const changeRoleInput = z.object({ userId: z.uuid("must be a user id"), role: z.enum(ROLES) });
const removeInput = z.object({ userId: z.uuid("must be a user id") });

/** The signed-in user's active organizations, oldest membership first. */
export async function myOrganizations(ctx: Context) {
  const { userId, tenantId } = requirePrincipal(ctx);
  // Across tenants on purpose: the user's own memberships (index on user_id).
  const memberships = await ctx.accounts.membership.findMany({
    where: { userId, organization: { status: "ACTIVE" } },
    include: { organization: { select: { name: true, slug: true } } },
    orderBy: { createdAt: "asc" },
  });
  return memberships.map((m) => ({
    organizationId: m.tenantId,
    name: m.organization.name,
    slug: m.organization.slug,
    role: m.role,
    joinedAt: m.createdAt,
    current: m.tenantId === tenantId,
  }));
}

export async function switchOrganization(ctx: Context, input: unknown) {
  const data = parseInput(switchInput, input);
  const { userId } = requirePrincipal(ctx);
  const user = await ctx.accounts.user.findUnique({ where: { id: userId } });
  if (!user) throw forbidden("You are not a member of that organization.");
  const membership = await chooseMembership(ctx, userId, data.organizationId);
  return authPayload(
    ctx,
    { id: user.id, email: user.email, name: user.name },
    membership.tenantId,
    membership.role,
  );
}

/**
 * Serialises membership changes of one organization: the organization row is locked until commit, so
 * two concurrent demotions or removals of its last two OWNERs cannot both see "another OWNER remains".
 */
async function lockOrganization(tx: TenantTransaction, tenantId: string) {
  await tx.organization.update({ where: { id: tenantId }, data: { updatedAt: new Date() } });
}

async function requireAnotherOwner(tx: TenantTransaction, userId: string) {
  const others = await tx.membership.count({ where: { role: "OWNER", userId: { not: userId } } });
  if (others === 0) {
    throw appError(
      ErrorCode.CONFLICT,
      "An organization must keep at least one OWNER: make someone else OWNER first.",
      {
        reason: "LAST_OWNER",
      },
    );
  }
}

/** The membership, locked for change; NOT_FOUND when the user is not a member. */
async function memberForChange(tx: TenantTransaction, tenantId: string, userId: string) {
  await lockOrganization(tx, tenantId);
  const member = await tx.membership.findUnique({ where: { tenantId_userId: { tenantId, userId } } });
  if (!member) throw notFound("Member", userId);
  return member;
}

export async function changeMemberRole(ctx: Context, input: unknown) {
  const actor = requireRole(ctx.principal, "ADMIN");
  const data = parseInput(changeRoleInput, input);
  const { tenantId } = actor;
  const updated = await ctx.db.$transaction(async (tx) => {
    const member = await memberForChange(tx, tenantId, data.userId);
    if ((member.role === "OWNER" || data.role === "OWNER") && !hasRole(actor, "OWNER")) {
      throw forbidden("Only an OWNER may make someone OWNER or change an OWNER's role.");
    }
    if (member.role === "OWNER" && data.role !== "OWNER") await requireAnotherOwner(tx, data.userId);
    return tx.membership.update({
      where: { tenantId_userId: { tenantId, userId: data.userId } },
      data: { role: data.role },
    });
  });
  ctx.logger.info({ userId: data.userId, role: data.role }, "member role changed");
  return { member: { id: updated.userId, email: updated.email, name: updated.name, role: updated.role } };
}

export async function removeMember(ctx: Context, input: unknown) {
  const actor = requirePrincipal(ctx);
  const data = parseInput(removeInput, input);
  const leaving = data.userId === actor.userId;
  // Anyone may leave; removing someone else takes ADMIN.
  if (!leaving) requireRole(actor, "ADMIN");
  const { tenantId } = actor;
  await ctx.db.$transaction(async (tx) => {
    const member = await memberForChange(tx, tenantId, data.userId);
    if (member.role === "OWNER" && !leaving && !hasRole(actor, "OWNER")) {
      throw forbidden("Only an OWNER may remove an OWNER.");
    }
    if (member.role === "OWNER") await requireAnotherOwner(tx, data.userId);
    await tx.membership.delete({ where: { tenantId_userId: { tenantId, userId: data.userId } } });
    await emitEvent(tx, tenantId, { topic: MEMBERSHIP_REMOVED_TOPIC, payload: { userId: data.userId } });
  });
  // After commit: their sessions here end, and the gateway refuses their access tokens from now on.
  await endSessions(ctx, { userId: data.userId, tenantId }, "MEMBERSHIP_REMOVED");
  ctx.logger.info({ userId: data.userId }, leaving ? "member left" : "member removed");
  return { removedUserId: data.userId };
}
