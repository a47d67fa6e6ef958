import { type Role, unauthenticated } from "@app/common";
import { newId, type Prisma } from "@app/db";
import type { Context } from "../../context.ts";
import { hashSecret, newSecret, parseCompositeToken } from "../accounts/secrets.ts";
import { issueAccessToken } from "../accounts/tokens.ts";

/**
 * Sessions are refresh-token families: a refresh token is `<family id>.<secret>` and rotates on every
 * use; only the current secret's hash is stored. A token of the family that is not the current one was
 * used before, so someone holds a copy: the whole family ends (OAuth 2.0 Security BCP, section 4.14).
 * The table is global, read through the raw client like log-in.
 */

export interface Session {
  id: string;
  refreshToken: string;
  /** The session's end, however often it is refreshed before. */
  expiresAt: Date;
}

export type SessionEndReason =
  | "LOG_OUT"
  | "REUSE"
  | "PASSWORD_CHANGED"
  | "PASSWORD_RESET"
  | "MEMBERSHIP_REMOVED";

const invalidRefreshToken = () =>
  unauthenticated("The refresh token is invalid, used or expired: log in again.");

export async function startSession(
  ctx: Context,
  subject: { userId: string; tenantId: string },
): Promise<Session> {
  const id = newId();
  const secret = newSecret();
  const expiresAt = new Date(Date.now() + ctx.tokens.refreshTtlSeconds * 1000);
  await ctx.accounts.refreshTokenFamily.create({
    data: { id, ...subject, tokenHash: hashSecret(secret), expiresAt },
  });
  return { id, refreshToken: `${id}.${secret}`, expiresAt };
}

/** The session the refresh token names, with its next refresh token; UNAUTHENTICATED for any other. */
export async function rotateSession(ctx: Context, refreshToken: string) {
  const parsed = parseCompositeToken(refreshToken, 1);
  if (!parsed) throw invalidRefreshToken();
  const [id] = parsed.ids as [string];
  const family = await ctx.accounts.refreshTokenFamily.findUnique({ where: { id } });
  if (!family || family.revokedAt || family.expiresAt <= new Date()) throw invalidRefreshToken();
  const presented = hashSecret(parsed.secret);
  const next = newSecret();
  // Compare-and-set on the current hash: of two requests presenting the same token, one rotates and
  // the other finds the hash changed, which is reuse.
  const rotated =
    family.tokenHash === presented
      ? await ctx.accounts.refreshTokenFamily.updateMany({
          where: { id, tokenHash: presented, revokedAt: null },
          data: { tokenHash: hashSecret(next), generation: { increment: 1 }, lastUsedAt: new Date() },
        })
      : { count: 0 };
  if (rotated.count !== 1) {
    await endSessions(ctx, { id }, "REUSE");
    ctx.logger.warn({ sessionId: id, userId: family.userId }, "refresh token reused: session ended");
    throw invalidRefreshToken();
  }
  return { family, session: { id, refreshToken: `${id}.${next}`, expiresAt: family.expiresAt } };
}

/**
 * Log-out: ends the session when `refreshToken` is its current token (an old, leaked one ends nothing);
 * true when it did.
 */
export async function endSessionOf(ctx: Context, refreshToken: string): Promise<boolean> {
  const parsed = parseCompositeToken(refreshToken, 1);
  if (!parsed) return false;
  const ended = await endSessions(
    ctx,
    { id: parsed.ids[0], tokenHash: hashSecret(parsed.secret) },
    "LOG_OUT",
  );
  return ended.length === 1;
}

/**
 * Ends the live sessions `where` matches and tells the gateway, which then refuses their access tokens.
 * Call it after the transaction that made the change commits. Returns the sessions ended.
 */
export async function endSessions(
  ctx: Context,
  where: Prisma.RefreshTokenFamilyWhereInput,
  reason: SessionEndReason,
): Promise<string[]> {
  const ended = await ctx.accounts.refreshTokenFamily.updateManyAndReturn({
    where: { ...where, revokedAt: null },
    data: { revokedAt: new Date(), revokedReason: reason },
    select: { id: true },
  });
  const ids = ended.map((s) => s.id);
  await ctx.revocations.announce(ids);
  return ids;
}

/** What signUp, logIn, refreshToken, switchOrganization and acceptInvitation answer. */
export async function authPayload(
  ctx: Context,
  user: { id: string; email: string; name: string },
  tenantId: string,
  role: Role,
  session?: Session,
) {
  const current = session ?? (await startSession(ctx, { userId: user.id, tenantId }));
  const accessToken = await issueAccessToken(ctx.tokens, {
    userId: user.id,
    tenantId,
    roles: [role],
    sessionId: current.id,
  });
  return {
    accessToken,
    tokenType: "Bearer",
    expiresIn: ctx.tokens.ttlSeconds,
    refreshToken: current.refreshToken,
    refreshExpiresIn: Math.max(0, Math.floor((current.expiresAt.getTime() - Date.now()) / 1000)),
    user: { ...user, role },
    organizationId: tenantId,
  };
}
