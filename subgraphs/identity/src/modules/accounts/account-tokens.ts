import type { Prisma } from "@app/db";
import { hashSecret, isSecret, newSecret } from "./secrets.ts";

export type AccountTokenPurpose = "VERIFY_EMAIL" | "RESET_PASSWORD";

/**
 * Creates a single-use token for `purpose`, valid `ttlSeconds`; returns the secret to e-mail. Only its
 * hash is stored. Earlier unused tokens of the same purpose stop working: only the newest e-mail counts.
 */
export async function issueAccountToken(
  tx: Prisma.TransactionClient,
  purpose: AccountTokenPurpose,
  user: { id: string; email: string },
  ttlSeconds: number,
): Promise<string> {
  const secret = newSecret();
  const now = new Date();
  await tx.accountToken.updateMany({
    where: { userId: user.id, purpose, usedAt: null, expiresAt: { gt: now } },
    data: { expiresAt: now },
  });
  await tx.accountToken.create({
    data: {
      tokenHash: hashSecret(secret),
      purpose,
      userId: user.id,
      email: user.email,
      expiresAt: new Date(now.getTime() + ttlSeconds * 1000),
    },
  });
  return secret;
}

type AccountTokens = Pick<Prisma.TransactionClient, "accountToken">;

/** True while the token is unused and unexpired: a read that lets costly work wait for a likely-valid token. */
export async function isLiveAccountToken(
  db: AccountTokens,
  purpose: AccountTokenPurpose,
  secret: string,
): Promise<boolean> {
  if (!isSecret(secret)) return false;
  const live = await db.accountToken.count({
    where: { tokenHash: hashSecret(secret), purpose, usedAt: null, expiresAt: { gt: new Date() } },
  });
  return live === 1;
}

/**
 * Uses the token up: one conditional update, so of two concurrent uses exactly one succeeds. Null for
 * an unknown, used, expired or other-purpose token (one answer: which one is nobody's business).
 */
export async function consumeAccountToken(
  tx: AccountTokens,
  purpose: AccountTokenPurpose,
  secret: string,
): Promise<{ userId: string; email: string } | null> {
  if (!isSecret(secret)) return null;
  const [used] = await tx.accountToken.updateManyAndReturn({
    where: { tokenHash: hashSecret(secret), purpose, usedAt: null, expiresAt: { gt: new Date() } },
    data: { usedAt: new Date() },
    select: { userId: true, email: true },
  });
  return used ?? null;
}
