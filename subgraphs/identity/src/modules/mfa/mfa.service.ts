import { randomBytes } from "node:crypto";
import { appError, badUserInput, ErrorCode, forbidden, requirePrincipal, unauthenticated } from "@app/common";
import { parseInput } from "@app/common/validation";
import { generateSecret, generateURI, verify } from "otplib";
import { renderSVG } from "uqr";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { chooseMembership } from "../accounts/accounts.service.ts";
import { hashSecret } from "../accounts/secrets.ts";
import { authPayload } from "../sessions/sessions.service.ts";
import { verifyChallenge } from "./challenge.ts";
import type { SecretBox } from "./secret-box.ts";

/** The name authenticator apps show beside the account. */
const TOTP_ISSUER = "CODITECT";
/** One 30-second step either side: clocks drift, people type slowly. */
const EPOCH_TOLERANCE_SECONDS = 30;
const RECOVERY_CODES = 10;
/** Wrong codes in a row before the second step locks, and for how long. */
export const MAX_FAILED_CODES = 5;
const LOCK_SECONDS = 15 * 60;

const TOTP_CODE = /^\d{6}$/;
/** Recovery codes: 10 characters of a 32-letter alphabet (50 bits), shown as `xxxxx-xxxxx`. */
const ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"; // no i, l, o, 0, 1: nothing to misread
const RECOVERY_CODE = new RegExp(`^[${ALPHABET}]{10}$`);

const codeInput = z.object({ code: z.string().trim().min(1, "must not be empty").max(50) });
const completeInput = z.object({ challenge: z.string().min(1).max(4_000), code: codeInput.shape.code });

/** Second-factor changes are for a person signed in with their own token, never an API key. */
function requireUser(ctx: Context) {
  const principal = requirePrincipal(ctx);
  if (principal.credential !== "user")
    throw forbidden("Only a signed-in user can change their second factor.");
  return principal;
}

/** `AB cd-e` -> `abcde`: recovery codes are accepted however they were copied. */
const normalise = (code: string) => code.toLowerCase().replace(/[\s-]/g, "");

function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODES }, () => {
    const chars = [...randomBytes(10)].map((b) => ALPHABET[b % ALPHABET.length]).join("");
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
}

async function replaceRecoveryCodes(ctx: Context, userId: string): Promise<string[]> {
  const codes = newRecoveryCodes();
  await ctx.accounts.$transaction([
    ctx.accounts.userRecoveryCode.deleteMany({ where: { userId } }),
    ctx.accounts.userRecoveryCode.createMany({
      data: codes.map((code) => ({ userId, codeHash: hashSecret(normalise(code)) })),
    }),
  ]);
  return codes;
}

type TotpRow = NonNullable<Awaited<ReturnType<Context["accounts"]["userTotp"]["findUnique"]>>>;

/**
 * Takes one of the MAX_FAILED_CODES attempts a user has per lock window, before the code is checked, in
 * one conditional update: parallel guesses cannot share an attempt, so no more than MAX_FAILED_CODES
 * wrong codes are ever tried in a row. A correct code gives them all back; the last wrong one starts
 * the LOCK_SECONDS lock, after which the count starts again.
 */
async function takeAttempt(ctx: Context, userId: string, now: Date): Promise<void> {
  await ctx.accounts.userTotp.updateMany({
    where: { userId, lockedUntil: { lte: now } },
    data: { failedAttempts: 0, lockedUntil: null },
  });
  const taken = await ctx.accounts.userTotp.updateMany({
    where: { userId, failedAttempts: { lt: MAX_FAILED_CODES } },
    data: { failedAttempts: { increment: 1 } },
  });
  if (taken.count === 1) return;
  const row = await ctx.accounts.userTotp.findUnique({ where: { userId }, select: { lockedUntil: true } });
  const retryAfter = Math.max(
    1,
    Math.ceil(((row?.lockedUntil?.getTime() ?? now.getTime()) - now.getTime()) / 1000),
  );
  throw appError(ErrorCode.RATE_LIMITED, `Too many wrong codes: try again in ${retryAfter} s.`, {
    retryAfter,
  });
}

/**
 * Checks a TOTP code (once per time step: RFC 6238 section 5.2) or, where allowed, an unused recovery
 * code (used up by the same statement that checks it, so two requests cannot both spend it). Each check
 * takes an attempt first (takeAttempt), so the 10^6 codes cannot be tried by a caller who has the
 * password (or the session).
 */
async function checkCode(
  ctx: Context,
  box: SecretBox,
  row: TotpRow,
  code: string,
  options: { recovery: boolean },
): Promise<boolean> {
  const now = new Date();
  const { userId } = row;
  await takeAttempt(ctx, userId, now);
  let ok = false;
  if (TOTP_CODE.test(code)) {
    const result = await verify({
      secret: box.open(row.secret),
      token: code,
      epochTolerance: EPOCH_TOLERANCE_SECONDS,
      ...(row.lastStep !== null ? { afterTimeStep: Number(row.lastStep) } : {}),
    });
    if (result.valid && "timeStep" in result) {
      const step = BigInt(result.timeStep);
      // Conditional: of two requests with the same code, one moves lastStep and the other finds it moved.
      const claimed = await ctx.accounts.userTotp.updateMany({
        where: { userId, OR: [{ lastStep: null }, { lastStep: { lt: step } }] },
        data: { lastStep: step },
      });
      ok = claimed.count === 1;
    }
  } else if (options.recovery && RECOVERY_CODE.test(normalise(code))) {
    const spent = await ctx.accounts.userRecoveryCode.updateMany({
      where: { userId, codeHash: hashSecret(normalise(code)), usedAt: null },
      data: { usedAt: now },
    });
    ok = spent.count === 1;
  }
  if (ok) {
    await ctx.accounts.userTotp.update({ where: { userId }, data: { failedAttempts: 0, lockedUntil: null } });
  } else {
    // The attempt that used up the allowance starts the lock.
    await ctx.accounts.userTotp.updateMany({
      where: { userId, failedAttempts: { gte: MAX_FAILED_CODES }, lockedUntil: null },
      data: { lockedUntil: new Date(now.getTime() + LOCK_SECONDS * 1000) },
    });
  }
  return ok;
}

async function enabledTotp(ctx: Context, userId: string): Promise<TotpRow | null> {
  const row = await ctx.accounts.userTotp.findUnique({ where: { userId } });
  return row?.enabledAt ? row : null;
}

export async function secondFactorStatus(ctx: Context) {
  const { userId } = requireUser(ctx);
  const [totp, recoveryCodesLeft] = await Promise.all([
    enabledTotp(ctx, userId),
    ctx.accounts.userRecoveryCode.count({ where: { userId, usedAt: null } }),
  ]);
  return { totpEnabled: totp !== null, recoveryCodesLeft: totp ? recoveryCodesLeft : 0 };
}

export async function enrollTotp(ctx: Context, box: SecretBox) {
  const { userId } = requireUser(ctx);
  if (await enabledTotp(ctx, userId)) {
    throw appError(
      ErrorCode.CONFLICT,
      "TOTP is already on: turn it off first to enrol another authenticator.",
    );
  }
  const user = await ctx.accounts.user.findUnique({ where: { id: userId }, select: { email: true } });
  if (!user) throw unauthenticated();
  const secret = generateSecret();
  const sealed = box.seal(secret);
  const reset = { secret: sealed, enabledAt: null, lastStep: null, failedAttempts: 0, lockedUntil: null };
  await ctx.accounts.userTotp.upsert({ where: { userId }, create: { userId, ...reset }, update: reset });
  const otpauthUri = generateURI({ issuer: TOTP_ISSUER, label: user.email, secret });
  const svg = renderSVG(otpauthUri);
  return {
    otpauthUri,
    qrCodeDataUrl: `data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}`,
    secret,
  };
}

export async function confirmTotp(ctx: Context, box: SecretBox, input: unknown) {
  const { userId } = requireUser(ctx);
  const { code } = parseInput(codeInput, input);
  const row = await ctx.accounts.userTotp.findUnique({ where: { userId } });
  if (!row) throw appError(ErrorCode.CONFLICT, "Start with enrollTotp.");
  if (row.enabledAt) throw appError(ErrorCode.CONFLICT, "TOTP is already on.");
  if (!TOTP_CODE.test(code))
    throw badUserInput("input.code", "must be the 6-digit code from the authenticator");
  if (!(await checkCode(ctx, box, row, code, { recovery: false }))) {
    throw badUserInput("input.code", "is wrong or expired: enter the code the authenticator shows now");
  }
  await ctx.accounts.userTotp.update({ where: { userId }, data: { enabledAt: new Date() } });
  ctx.logger.info({ userId }, "TOTP enabled");
  return { recoveryCodes: await replaceRecoveryCodes(ctx, userId) };
}

/** The enabled factor, after a correct code: what disabling and regenerating codes ask for. */
async function proveTotp(ctx: Context, box: SecretBox, input: unknown, recovery: boolean) {
  const { userId } = requireUser(ctx);
  const { code } = parseInput(codeInput, input);
  const row = await enabledTotp(ctx, userId);
  if (!row) throw appError(ErrorCode.CONFLICT, "TOTP is not on.");
  if (!(await checkCode(ctx, box, row, code, { recovery }))) {
    throw badUserInput("input.code", "is wrong or was already used");
  }
  return userId;
}

export async function disableTotp(ctx: Context, box: SecretBox, input: unknown) {
  const userId = await proveTotp(ctx, box, input, true);
  await ctx.accounts.$transaction([
    ctx.accounts.userRecoveryCode.deleteMany({ where: { userId } }),
    ctx.accounts.userTotp.delete({ where: { userId } }),
  ]);
  ctx.logger.info({ userId }, "TOTP disabled");
  return { totpEnabled: false };
}

export async function regenerateRecoveryCodes(ctx: Context, box: SecretBox, input: unknown) {
  const userId = await proveTotp(ctx, box, input, false);
  return { recoveryCodes: await replaceRecoveryCodes(ctx, userId) };
}

/**
 * The second step of logIn: a valid challenge (the password was right, for this user and organization,
 * less than 5 minutes ago) and a correct code. The membership is read again: it may have changed since.
 */
export async function completeLogIn(ctx: Context, box: SecretBox, input: unknown) {
  const data = parseInput(completeInput, input);
  const invalid = () => unauthenticated("The challenge is invalid or expired: log in again.");
  const subject = await verifyChallenge(ctx.tokens, data.challenge);
  if (!subject) throw invalid();
  const row = await enabledTotp(ctx, subject.userId);
  if (!row) throw invalid();
  if (!(await checkCode(ctx, box, row, data.code, { recovery: true }))) {
    throw unauthenticated("The code is wrong or was already used.");
  }
  const user = await ctx.accounts.user.findUnique({
    where: { id: subject.userId },
    select: { id: true, email: true, name: true },
  });
  if (!user) throw invalid();
  const membership = await chooseMembership(ctx, user.id, subject.tenantId);
  return authPayload(ctx, user, membership.tenantId, membership.role);
}
