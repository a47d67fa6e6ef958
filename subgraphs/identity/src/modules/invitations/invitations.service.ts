import {
  appError,
  badUserInput,
  ErrorCode,
  forbidden,
  hasRole,
  notFound,
  ROLES,
  type Role,
  requireRole,
} from "@app/common";
import { parseInput, text } from "@app/common/validation";
import { emitEvent, type Invitation, newId, type Prisma, type TenantTransaction } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { ACCOUNT_TX, authenticate, createUser, email } from "../accounts/accounts.service.ts";
import { hashPassword } from "../accounts/password.ts";
import { MAX_PASSWORD_LENGTH, newPassword, notTheEmail } from "../accounts/password-policy.ts";
import { hashSecret, newSecret, parseCompositeToken } from "../accounts/secrets.ts";
import { refusePasswordOnly } from "../mfa/challenge.ts";
import { authPayload } from "../sessions/sessions.service.ts";
import { checkSeatLimit } from "./seats.ts";

export const INVITATION_STATUSES = ["PENDING", "ACCEPTED", "REVOKED", "EXPIRED"] as const;
export type InvitationStatus = (typeof INVITATION_STATUSES)[number];

const inviteInput = z.object({ email, role: z.enum(ROLES) });
const idInput = z.object({ id: z.uuid("must be an invitation id") });
const listInput = z.object({
  status: z.enum(INVITATION_STATUSES).nullish(),
  first: z.number().int().min(1, "must be at least 1").max(200, "must be at most 200").nullish(),
});
const acceptInput = z.object({
  token: z.string().trim().min(1, "must not be empty").max(500),
  password: z
    .string()
    .max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`)
    .nullish(),
  name: text(1, 200).nullish(),
});

export function invitationStatus(invitation: Invitation, now = new Date()): InvitationStatus {
  if (invitation.acceptedAt) return "ACCEPTED";
  if (invitation.revokedAt) return "REVOKED";
  return invitation.expiresAt <= now ? "EXPIRED" : "PENDING";
}

function statusWhere(status: InvitationStatus, now: Date): Prisma.InvitationWhereInput {
  switch (status) {
    case "ACCEPTED":
      return { acceptedAt: { not: null } };
    case "REVOKED":
      return { acceptedAt: null, revokedAt: { not: null } };
    case "EXPIRED":
      return { acceptedAt: null, revokedAt: null, expiresAt: { lte: now } };
    case "PENDING":
      return { acceptedAt: null, revokedAt: null, expiresAt: { gt: now } };
  }
}

/** Only an OWNER may hand out OWNER. */
function requireMayGrant(ctx: Context, role: Role) {
  const actor = requireRole(ctx.principal, "ADMIN");
  if (role === "OWNER" && !hasRole(actor, "OWNER")) throw forbidden("Only an OWNER may invite an OWNER.");
  return actor;
}

/** A new link for the invitation in `tx`, and the event whose job e-mails it. */
async function sendInvitation(
  tx: TenantTransaction,
  ctx: Context,
  invitation: { tenantId: string; id: string; email: string; role: Role; invitedBy: string },
) {
  const secret = newSecret();
  const now = new Date();
  const updated = await tx.invitation.update({
    where: { tenantId_id: { tenantId: invitation.tenantId, id: invitation.id } },
    data: {
      tokenHash: hashSecret(secret),
      sentAt: now,
      expiresAt: new Date(now.getTime() + ctx.settings.invitationTtlSeconds * 1000),
    },
  });
  const [organization, inviter] = await Promise.all([
    tx.organization.findUniqueOrThrow({ where: { id: invitation.tenantId }, select: { name: true } }),
    tx.membership.findUnique({
      where: { tenantId_userId: { tenantId: invitation.tenantId, userId: invitation.invitedBy } },
      select: { name: true },
    }),
  ]);
  await emitEvent(tx, invitation.tenantId, {
    topic: "invitation.sent",
    payload: {
      invitationId: invitation.id,
      email: invitation.email,
      role: invitation.role,
      organizationName: organization.name,
      inviterName: inviter?.name ?? organization.name,
      // The tenant and id let acceptance find the row on its shard; only the secret's hash is stored.
      token: `${invitation.tenantId}.${invitation.id}.${secret}`,
    },
  });
  return updated;
}

/**
 * Creates an invitation and e-mails it: the one place invitations are created (plan limits on seats
 * belong here). An earlier pending invitation to the same address is revoked: only the newest link works.
 */
export async function createInvitation(ctx: Context, input: { email: string; role: Role }) {
  const actor = requireMayGrant(ctx, input.role);
  const { tenantId } = actor;
  const limits = await ctx.planLimits.get(tenantId);
  return ctx.db.$transaction(async (tx) => {
    const member = await tx.membership.findFirst({ where: { email: input.email }, select: { userId: true } });
    if (member) {
      throw appError(ErrorCode.CONFLICT, `${input.email} is already a member of this organization.`, {
        field: "input.email",
      });
    }
    const now = new Date();
    await tx.invitation.updateMany({
      where: { email: input.email, ...statusWhere("PENDING", now) },
      data: { revokedAt: now },
    });
    const id = newId();
    await tx.invitation.create({
      data: {
        tenantId,
        id,
        email: input.email,
        role: input.role,
        invitedBy: actor.userId,
        // Replaced by sendInvitation in this transaction; never a usable value.
        tokenHash: "",
        expiresAt: now,
      },
    });
    const invitation = await sendInvitation(tx, ctx, {
      tenantId,
      id,
      email: input.email,
      role: input.role,
      invitedBy: actor.userId,
    });
    await checkSeatLimit(tx, limits, statusWhere("PENDING", now));
    return invitation;
  });
}

export async function inviteMember(ctx: Context, input: unknown) {
  const data = parseInput(inviteInput, input);
  const invitation = await createInvitation(ctx, data);
  ctx.logger.info({ invitationId: invitation.id, role: invitation.role }, "member invited");
  return { invitation };
}

/** A pending invitation of the caller's organization, for resend or revoke. */
async function pendingInvitation(tx: TenantTransaction, tenantId: string, id: string) {
  const invitation = await tx.invitation.findUnique({ where: { tenantId_id: { tenantId, id } } });
  if (!invitation) throw notFound("Invitation", id);
  const status = invitationStatus(invitation);
  // An expired invitation may be sent again (with a new expiry); accepted and revoked ones are final.
  if (status === "ACCEPTED" || status === "REVOKED") {
    throw appError(ErrorCode.CONFLICT, `Invitation ${id} was already ${status.toLowerCase()}.`, { status });
  }
  return invitation;
}

export async function resendInvitation(ctx: Context, input: unknown) {
  const { id } = parseInput(idInput, input);
  const invitation = await ctx.db.$transaction(async (tx) => {
    const current = await pendingInvitation(tx, requireRole(ctx.principal, "ADMIN").tenantId, id);
    requireMayGrant(ctx, current.role);
    return sendInvitation(tx, ctx, current);
  });
  return { invitation };
}

export async function revokeInvitation(ctx: Context, input: unknown) {
  const { id } = parseInput(idInput, input);
  const { tenantId } = requireRole(ctx.principal, "ADMIN");
  const invitation = await ctx.db.$transaction(async (tx) => {
    const current = await pendingInvitation(tx, tenantId, id);
    if (current.revokedAt) return current;
    return tx.invitation.update({
      where: { tenantId_id: { tenantId, id } },
      data: { revokedAt: new Date() },
    });
  });
  return { invitation };
}

export async function listInvitations(ctx: Context, args: unknown) {
  requireRole(ctx.principal, "ADMIN");
  const data = parseInput(listInput, args);
  return ctx.db.invitation.findMany({
    where: statusWhere(data.status ?? "PENDING", new Date()),
    orderBy: { createdAt: "desc" },
    take: data.first ?? 50,
  });
}

const invalidInvitation = () =>
  badUserInput("input.token", "the invitation is invalid, used, revoked or expired");

/**
 * Accepts an invitation. Crosses tenants on purpose (the caller is signed out, or signed in to another
 * organization): the token names the invitation's tenant and id, and only its secret opens it.
 */
export async function acceptInvitation(ctx: Context, input: unknown) {
  const data = parseInput(acceptInput, input);
  const parsed = parseCompositeToken(data.token, 2);
  if (!parsed) throw invalidInvitation();
  const [tenantId, id] = parsed.ids as [string, string];
  const tokenHash = hashSecret(parsed.secret);
  const invitation = await ctx.accounts.invitation.findUnique({ where: { tenantId_id: { tenantId, id } } });
  if (!invitation || invitation.tokenHash !== tokenHash || invitationStatus(invitation) !== "PENDING") {
    throw invalidInvitation();
  }

  // Who accepts: the signed-in user, an existing account by its password, or a new account.
  const existing = await ctx.accounts.userEmail.findUnique({ where: { email: invitation.email } });
  let user: { id: string; email: string; name: string };
  let create: { passwordHash: string } | null = null;
  if (ctx.principal) {
    if (existing?.userId !== ctx.principal.userId) {
      throw forbidden("This invitation was sent to another e-mail address than your account's.");
    }
    const row = await ctx.accounts.user.findUniqueOrThrow({ where: { id: existing.userId } });
    user = { id: row.id, email: row.email, name: row.name };
  } else if (existing) {
    if (!data.password) throw badUserInput("input.password", "your account's password is required");
    user = await authenticate(ctx, invitation.email, data.password);
    await refusePasswordOnly(ctx, user.id);
  } else {
    const password = newPassword.safeParse(data.password ?? "");
    if (!password.success || !notTheEmail(password.data, invitation.email)) {
      const message = password.success
        ? "must not be your e-mail address"
        : password.error.issues[0]!.message;
      throw badUserInput("input.password", message);
    }
    user = { id: newId(), email: invitation.email, name: data.name ?? invitation.email.split("@")[0]! };
    create = { passwordHash: await hashPassword(password.data) };
  }

  await ctx.accounts.$transaction(async (tx) => {
    // Single use under concurrency: only one acceptance finds the invitation still pending.
    const { count } = await tx.invitation.updateMany({
      where: { tenantId, id, tokenHash, acceptedAt: null, revokedAt: null, expiresAt: { gt: new Date() } },
      data: { acceptedAt: new Date(), acceptedBy: user.id },
    });
    if (count !== 1) throw invalidInvitation();
    if (create) {
      await createUser(tx, user, create.passwordHash);
      // The link reached this address: it is verified.
      await tx.user.update({ where: { id: user.id }, data: { emailVerifiedAt: new Date() } });
    }
    const { count: joined } = await tx.membership.createMany({
      data: [{ tenantId, userId: user.id, role: invitation.role, email: user.email, name: user.name }],
      skipDuplicates: true,
    });
    if (joined !== 1) {
      throw appError(ErrorCode.CONFLICT, "You are already a member of this organization.");
    }
  }, ACCOUNT_TX);
  ctx.logger.info({ userId: user.id, tenantId, invitationId: id }, "invitation accepted");
  return authPayload(ctx, user, tenantId, invitation.role);
}
