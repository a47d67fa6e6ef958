import { appError, badUserInput, ErrorCode, requirePrincipal, unauthenticated } from "@app/common";
import { claimFreeSlug, slugify } from "@app/common/slugs";
import { parseInput, text } from "@app/common/validation";
import { emitEvent, isUniqueViolation, newId, type Prisma } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { requireSecondFactor } from "../mfa/challenge.ts";
import { authPayload, endSessionOf, endSessions, rotateSession } from "../sessions/sessions.service.ts";
import { consumeAccountToken, isLiveAccountToken, issueAccountToken } from "./account-tokens.ts";
import { dummyHash, hashPassword, verifyPassword } from "./password.ts";
import { MAX_PASSWORD_LENGTH, newPassword, notTheEmail } from "./password-policy.ts";

/**
 * Accounts cross tenants on purpose: sign-up and log-in run before there is a tenant (sign-up creates
 * one; log-in finds the user's memberships in every organization), and users, e-mails, tokens and
 * sessions are global tables. This module is one of the named places allowed the raw client, which the
 * context hands out as `accounts`.
 */

export const email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email("must be an e-mail address"))
  .transform((v) => v.toLowerCase());
/**
 * Options of the accounts' transactions: they run on the cross-tenant role's small pool, so under a
 * burst (many sign-ups at once) they wait for a connection rather than fail at Prisma's 2 s default.
 */
export const ACCOUNT_TX = { maxWait: 10_000, timeout: 15_000 };

/** A password being checked, not set: the policy applies to new passwords only. */
const givenPassword = z.string().min(1, "must not be empty").max(MAX_PASSWORD_LENGTH);
const token = z.string().trim().min(1, "must not be empty").max(500);

const signUpInput = z
  .object({
    email,
    password: newPassword,
    name: text(1, 200).nullish(),
    organizationName: text(1, 200),
  })
  .refine((d) => notTheEmail(d.password, d.email), {
    path: ["password"],
    message: "must not be your e-mail address",
  });

const logInInput = z.object({
  email,
  password: givenPassword,
  organizationId: z.uuid("must be an organization id").nullish(),
});
const refreshInput = z.object({ refreshToken: token });
const changePasswordInput = z.object({ currentPassword: givenPassword, newPassword });
const requestResetInput = z.object({ email });
const resetInput = z.object({ token, newPassword });
const verifyEmailInput = z.object({ token });

/**
 * Creates the user and their e-mail lookup row (the global uniqueness check: it fails first on a taken
 * address) in `tx`; BAD_USER_INPUT when the address is taken. Shared by sign-up and invitations. The
 * caller hashes the password before the transaction: a connection is not held through the hashing.
 */
export async function createUser(
  tx: Prisma.TransactionClient,
  user: { id: string; email: string; name: string },
  passwordHash: string,
) {
  try {
    await tx.userEmail.create({ data: { email: user.email, userId: user.id } });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw badUserInput("input.email", "an account with this e-mail already exists");
    }
    throw error;
  }
  await tx.user.create({ data: { ...user, passwordHash } });
}

/** Starts e-mail verification in `tx`: a token, and the event whose job e-mails the link. */
async function requestVerification(
  ctx: Context,
  tx: Prisma.TransactionClient,
  tenantId: string,
  user: { id: string; email: string; name: string },
) {
  const secret = await issueAccountToken(tx, "VERIFY_EMAIL", user, ctx.settings.emailVerificationTtlSeconds);
  await emitEvent(tx, tenantId, {
    topic: "user.email_verification_requested",
    payload: { userId: user.id, email: user.email, name: user.name, token: secret },
  });
}

export async function signUp(ctx: Context, input: unknown) {
  const data = parseInput(signUpInput, input);
  const userId = newId();
  const tenantId = newId();
  const user = { id: userId, email: data.email, name: data.name ?? data.email.split("@")[0]! };
  const passwordHash = await hashPassword(data.password);
  await ctx.accounts.$transaction(async (tx) => {
    await createUser(tx, user, passwordHash);
    const slug = await claimFreeSlug(tx, slugify(data.organizationName), tenantId);
    await tx.organization.create({ data: { id: tenantId, name: data.organizationName, slug } });
    // The member's profile is copied into the membership: tenant reads need no users lookup.
    await tx.membership.create({
      data: { tenantId, userId, role: "OWNER", email: user.email, name: user.name },
    });
    // Welcomes the user and asks them to verify the address (jobs) once this commits.
    await emitEvent(tx, tenantId, {
      topic: "user.signed_up",
      payload: { userId, email: user.email, name: user.name, organizationName: data.organizationName },
    });
    await requestVerification(ctx, tx, tenantId, user);
  }, ACCOUNT_TX);
  ctx.logger.info({ userId, tenantId }, "signed up");
  return authPayload(ctx, user, tenantId, "OWNER");
}

/**
 * The user with this e-mail and password, counted against the log-in limits (per account and per client
 * address); UNAUTHENTICATED otherwise, RATE_LIMITED once a limit is used up.
 */
export async function authenticate(ctx: Context, address: string, password: string) {
  const attempt = await ctx.limiter.begin(address, ctx.clientAddress);
  const lookup = await ctx.accounts.userEmail.findUnique({ where: { email: address } });
  const user = lookup ? await ctx.accounts.user.findUnique({ where: { id: lookup.userId } }) : null;
  // Verify even when there is no such user, so the answer takes as long either way.
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash()));
  if (!user || !ok) throw unauthenticated("Invalid e-mail or password.");
  await attempt.succeeded();
  return { id: user.id, email: user.email, name: user.name };
}

/** The membership a token is for: the one asked for, else the one the user joined first. */
export async function chooseMembership(ctx: Context, userId: string, organizationId?: string | null) {
  // Deliberately multi-tenant: the user's memberships in every organization (index on user_id).
  const memberships = await ctx.accounts.membership.findMany({
    where: { userId, organization: { status: "ACTIVE" } },
    orderBy: { createdAt: "asc" },
  });
  const membership = organizationId ? memberships.find((m) => m.tenantId === organizationId) : memberships[0];
  if (!membership) {
    throw organizationId
      ? appError(ErrorCode.FORBIDDEN, "You are not a member of that organization.")
      : appError(ErrorCode.FORBIDDEN, "This account belongs to no active organization.");
  }
  return membership;
}

export async function logIn(ctx: Context, input: unknown) {
  const data = parseInput(logInInput, input);
  const user = await authenticate(ctx, data.email, data.password);
  const membership = await chooseMembership(ctx, user.id, data.organizationId);
  await requireSecondFactor(ctx, user.id, membership.tenantId);
  return authPayload(ctx, user, membership.tenantId, membership.role);
}

/** A fresh pair for the session, with the role the user has now (changes take effect at refresh). */
export async function refreshToken(ctx: Context, input: unknown) {
  const data = parseInput(refreshInput, input);
  const { family, session } = await rotateSession(ctx, data.refreshToken);
  const [user, membership] = await Promise.all([
    ctx.accounts.user.findUnique({ where: { id: family.userId } }),
    ctx.accounts.membership.findFirst({
      where: { tenantId: family.tenantId, userId: family.userId, organization: { status: "ACTIVE" } },
    }),
  ]);
  if (!user || !membership) {
    await endSessions(ctx, { id: family.id }, "MEMBERSHIP_REMOVED");
    throw unauthenticated("You are no longer a member of this organization: log in again.");
  }
  return authPayload(
    ctx,
    { id: user.id, email: user.email, name: user.name },
    family.tenantId,
    membership.role,
    session,
  );
}

export async function logOut(ctx: Context, input: unknown) {
  const data = parseInput(refreshInput, input);
  return { loggedOut: await endSessionOf(ctx, data.refreshToken) };
}

/** The signed-in user's account row; UNAUTHENTICATED when there is no such user any more. */
async function currentUser(ctx: Context) {
  const { userId } = requirePrincipal(ctx);
  const user = await ctx.accounts.user.findUnique({ where: { id: userId } });
  if (!user) throw unauthenticated();
  return user;
}

export async function changePassword(ctx: Context, input: unknown) {
  const data = parseInput(changePasswordInput, input);
  const { tenantId } = requirePrincipal(ctx);
  const current = await currentUser(ctx);
  // Counted like log-ins: a stolen access token must not become an unlimited password oracle.
  const user = await authenticate(ctx, current.email, data.currentPassword).catch((error: unknown) => {
    if ((error as { extensions?: { code?: string } }).extensions?.code === ErrorCode.UNAUTHENTICATED) {
      throw badUserInput("input.currentPassword", "is not your password");
    }
    throw error;
  });
  if (!notTheEmail(data.newPassword, user.email)) {
    throw badUserInput("input.newPassword", "must not be your e-mail address");
  }
  await ctx.accounts.user.update({
    where: { id: user.id },
    data: { passwordHash: await hashPassword(data.newPassword) },
  });
  // Whoever else holds a session (perhaps why the password changes) is signed out.
  await endSessions(ctx, { userId: user.id }, "PASSWORD_CHANGED");
  ctx.logger.info({ userId: user.id }, "password changed");
  // The role as it is now, not as the old token said.
  const membership = await chooseMembership(ctx, user.id, tenantId);
  return authPayload(ctx, user, tenantId, membership.role);
}

export async function requestPasswordReset(ctx: Context, input: unknown) {
  const data = parseInput(requestResetInput, input);
  // Every request counts (it may send mail to someone): a client cannot flood an inbox.
  await ctx.resetLimiter.begin(data.email, ctx.clientAddress);
  const lookup = await ctx.accounts.userEmail.findUnique({ where: { email: data.email } });
  const user = lookup ? await ctx.accounts.user.findUnique({ where: { id: lookup.userId } }) : null;
  // The outbox is per tenant: the e-mail goes out through the organization the user joined first.
  const membership = user
    ? await ctx.accounts.membership.findFirst({ where: { userId: user.id }, orderBy: { createdAt: "asc" } })
    : null;
  if (user && membership) {
    const ttl = ctx.settings.passwordResetTtlSeconds;
    await ctx.accounts.$transaction(async (tx) => {
      const secret = await issueAccountToken(tx, "RESET_PASSWORD", user, ttl);
      await emitEvent(tx, membership.tenantId, {
        topic: "user.password_reset_requested",
        payload: {
          userId: user.id,
          email: user.email,
          name: user.name,
          token: secret,
          expiresInMinutes: Math.max(1, Math.floor(ttl / 60)),
        },
      });
    }, ACCOUNT_TX);
    ctx.logger.info({ userId: user.id }, "password reset requested");
  }
  return { accepted: true };
}

export async function resetPassword(ctx: Context, input: unknown) {
  const data = parseInput(resetInput, input);
  const invalid = () => badUserInput("input.token", "is invalid, used or expired");
  // Hash only for a token that can work (hashing is the costly part), and outside the transaction.
  if (!(await isLiveAccountToken(ctx.accounts, "RESET_PASSWORD", data.token))) throw invalid();
  const passwordHash = await hashPassword(data.newPassword);
  const userId = await ctx.accounts.$transaction(async (tx) => {
    const used = await consumeAccountToken(tx, "RESET_PASSWORD", data.token);
    if (!used) throw invalid();
    const user = await tx.user.findUnique({ where: { id: used.userId } });
    // The address changed since the e-mail went out: the link proves nothing about the account now.
    if (!user || user.email !== used.email) throw invalid();
    if (!notTheEmail(data.newPassword, user.email)) {
      throw badUserInput("input.newPassword", "must not be your e-mail address");
    }
    // Reading the e-mail proves what the verification link would have.
    await tx.user.update({
      where: { id: user.id },
      data: {
        passwordHash,
        emailVerifiedAt: user.emailVerifiedAt ?? new Date(),
      },
    });
    return user.id;
  }, ACCOUNT_TX);
  await endSessions(ctx, { userId }, "PASSWORD_RESET");
  ctx.logger.info({ userId }, "password reset");
  return { reset: true };
}

export async function sendEmailVerification(ctx: Context) {
  const { tenantId } = requirePrincipal(ctx);
  const user = await currentUser(ctx);
  if (user.emailVerifiedAt) return { sent: false };
  await ctx.accounts.$transaction((tx) => requestVerification(ctx, tx, tenantId, user), ACCOUNT_TX);
  return { sent: true };
}

export async function verifyEmail(ctx: Context, input: unknown) {
  const data = parseInput(verifyEmailInput, input);
  const verified = await ctx.accounts.$transaction(async (tx) => {
    const used = await consumeAccountToken(tx, "VERIFY_EMAIL", data.token);
    if (!used) return null;
    const { count } = await tx.user.updateMany({
      where: { id: used.userId, email: used.email },
      data: { emailVerifiedAt: new Date() },
    });
    return count === 1 ? used.email : null;
  }, ACCOUNT_TX);
  if (!verified) {
    throw badUserInput("input.token", "is invalid, used or expired");
  }
  return { email: verified };
}
