import { appError, ErrorCode, type Role, unauthenticated } from "@app/common";
import { parseInput, text } from "@app/common/validation";
import { emitEvent, isUniqueViolation, newId, type Prisma } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { dummyHash, hashPassword, verifyPassword } from "./password.ts";
import { issueAccessToken } from "./tokens.ts";

/**
 * Sign-up and log-in cross tenants on purpose: they run before there is a tenant (sign-up creates
 * one; log-in finds the user's memberships in every organization). This module is one of the named
 * places allowed the raw client, which the context hands out as `accounts`.
 */

const email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email("must be an e-mail address"))
  .transform((v) => v.toLowerCase());
const password = z
  .string()
  .min(12, "must be at least 12 characters")
  .max(200, "must be at most 200 characters");

const signUpInput = z.object({
  email,
  password,
  name: text(1, 200).nullish(),
  organizationName: text(1, 200),
});

const logInInput = z.object({
  email,
  password: z.string().min(1).max(200),
  organizationId: z.uuid("must be an organization id").nullish(),
});

/** `Acme Inc.` -> `acme-inc`; empty or odd names fall back to `org`. */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  return slug.length >= 3 ? slug : `org-${slug}`.replace(/-+$/, "");
}

/** Claims the first free slug: `acme`, then `acme-2f9k`... (the slug table's primary key decides). */
async function claimSlug(tx: Prisma.TransactionClient, base: string, tenantId: string): Promise<string> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const slug = attempt === 0 ? base : `${base}-${Math.random().toString(36).slice(2, 6)}`;
    const created = await tx.organizationSlug.createMany({
      data: [{ slug, tenantId }],
      skipDuplicates: true,
    });
    if (created.count === 1) return slug;
  }
  throw new Error(`could not find a free slug for ${base}`);
}

async function tokenPayload(
  ctx: Context,
  user: { id: string; email: string; name: string },
  tenantId: string,
  role: Role,
) {
  const accessToken = await issueAccessToken(ctx.tokens, { userId: user.id, tenantId, roles: [role] });
  return {
    accessToken,
    tokenType: "Bearer",
    expiresIn: ctx.tokens.ttlSeconds,
    user: { ...user, role },
    organizationId: tenantId,
  };
}

export async function signUp(ctx: Context, input: unknown) {
  const data = parseInput(signUpInput, input);
  const passwordHash = await hashPassword(data.password);
  const userId = newId();
  const tenantId = newId();
  const user = { id: userId, email: data.email, name: data.name ?? data.email.split("@")[0]! };
  try {
    await ctx.accounts.$transaction(async (tx) => {
      // The e-mail lookup row is the global uniqueness check: it fails first on a taken address.
      await tx.userEmail.create({ data: { email: data.email, userId } });
      await tx.user.create({ data: { ...user, passwordHash } });
      const slug = await claimSlug(tx, slugify(data.organizationName), tenantId);
      await tx.organization.create({ data: { id: tenantId, name: data.organizationName, slug } });
      // The member's profile is copied into the membership: tenant reads need no users lookup.
      await tx.membership.create({
        data: { tenantId, userId, role: "OWNER", email: user.email, name: user.name },
      });
      // Welcomes the user by e-mail (a job) once this commits; nothing is sent if it rolls back.
      await emitEvent(tx, tenantId, {
        topic: "user.signed_up",
        payload: { userId, email: user.email, name: user.name, organizationName: data.organizationName },
      });
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw appError(ErrorCode.BAD_USER_INPUT, "input.email: an account with this e-mail already exists", {
        field: "input.email",
      });
    }
    throw error;
  }
  ctx.logger.info({ userId, tenantId }, "signed up");
  return tokenPayload(ctx, user, tenantId, "OWNER");
}

export async function logIn(ctx: Context, input: unknown) {
  const data = parseInput(logInInput, input);
  const invalid = () => unauthenticated("Invalid e-mail or password.");
  const lookup = await ctx.accounts.userEmail.findUnique({ where: { email: data.email } });
  const user = lookup ? await ctx.accounts.user.findUnique({ where: { id: lookup.userId } }) : null;
  // Verify even when there is no such user, so the answer takes as long either way.
  const ok = await verifyPassword(data.password, user?.passwordHash ?? (await dummyHash()));
  if (!user || !ok) throw invalid();
  // Deliberately multi-tenant: the user's memberships in every organization (index on user_id).
  const memberships = await ctx.accounts.membership.findMany({
    where: { userId: user.id, organization: { status: "ACTIVE" } },
    orderBy: { createdAt: "asc" },
  });
  const membership = data.organizationId
    ? memberships.find((m) => m.tenantId === data.organizationId)
    : memberships[0];
  if (!membership) {
    throw data.organizationId
      ? appError(ErrorCode.FORBIDDEN, "You are not a member of that organization.")
      : appError(ErrorCode.FORBIDDEN, "This account belongs to no active organization.");
  }
  return tokenPayload(
    ctx,
    { id: user.id, email: user.email, name: user.name },
    membership.tenantId,
    membership.role,
  );
}
