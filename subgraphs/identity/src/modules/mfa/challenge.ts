import { appError, ErrorCode, forbidden } from "@app/common";
import { newId } from "@app/db";
import { createLocalJWKSet, jwtVerify, SignJWT } from "jose";
import type { Context } from "../../context.ts";
import type { TokenSettings } from "../accounts/tokens.ts";
import { SIGNING_ALGORITHM } from "../keys/keys.service.ts";

/** How long the second step may wait after the password was right. */
export const CHALLENGE_TTL_SECONDS = 300;
/**
 * A challenge is a JWT signed with identity's key but of its own type and audience: the gateway accepts
 * only `at+jwt` for the platform's audience, so a challenge can never pass for an access token.
 */
const CHALLENGE_TYPE = "second-factor+jwt";
const audienceOf = (tokens: TokenSettings) => `${tokens.issuer}#second-factor`;

/**
 * The hook in logIn, after the password and the organization were checked: when the user has a second
 * factor, log-in stops here with SECOND_FACTOR_REQUIRED and a challenge for completeLogIn.
 */
export async function requireSecondFactor(ctx: Context, userId: string, tenantId: string): Promise<void> {
  if (!(await hasSecondFactor(ctx, userId))) return;
  const challenge = await new SignJWT({ tid: tenantId })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: ctx.tokens.keys.current.kid, typ: CHALLENGE_TYPE })
    .setSubject(userId)
    .setIssuer(ctx.tokens.issuer)
    .setAudience(audienceOf(ctx.tokens))
    .setIssuedAt()
    .setExpirationTime(`${CHALLENGE_TTL_SECONDS}s`)
    .setJti(newId())
    .sign(ctx.tokens.keys.current.key);
  throw appError(
    ErrorCode.SECOND_FACTOR_REQUIRED,
    "Enter a code from your authenticator app, or a recovery code, with completeLogIn.",
    { challenge, expiresIn: CHALLENGE_TTL_SECONDS, methods: ["TOTP", "RECOVERY_CODE"] },
  );
}

async function hasSecondFactor(ctx: Context, userId: string): Promise<boolean> {
  const totp = await ctx.accounts.userTotp.findUnique({ where: { userId }, select: { enabledAt: true } });
  return Boolean(totp?.enabledAt);
}

/**
 * For the other places that take a password and answer tokens (accepting an invitation without being
 * signed in): an account with a second factor must sign in with it first, so a password alone is refused.
 */
export async function refusePasswordOnly(ctx: Context, userId: string): Promise<void> {
  if (await hasSecondFactor(ctx, userId)) {
    throw forbidden("This account has a second factor: log in with it, then do this signed in.");
  }
}

/** The user and organization a challenge was issued for; null when it is forged, altered or expired. */
export async function verifyChallenge(
  tokens: TokenSettings,
  challenge: string,
): Promise<{ userId: string; tenantId: string } | null> {
  try {
    const { payload } = await jwtVerify(challenge, createLocalJWKSet(tokens.keys.jwks), {
      algorithms: [SIGNING_ALGORITHM],
      issuer: tokens.issuer,
      audience: audienceOf(tokens),
      typ: CHALLENGE_TYPE,
      requiredClaims: ["sub", "exp", "tid"],
    });
    if (typeof payload.tid !== "string") return null;
    return { userId: payload.sub!, tenantId: payload.tid };
  } catch {
    return null;
  }
}
