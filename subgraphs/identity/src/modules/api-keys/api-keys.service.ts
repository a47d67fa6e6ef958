import {
  appError,
  ErrorCode,
  forbidden,
  notFound,
  type Principal,
  type Role,
  requireRole,
  type Scope,
} from "@app/common";
import { API_KEY_PREFIX, generateApiKey, parseApiKey, sameSecretHash } from "@app/common/api-key";
import { parseInput, text } from "@app/common/validation";
import { emitEvent, isUuid, newId, type TenantClient } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import type { ApiKeyRevocations } from "./revocations.ts";

/** Active keys an organization may hold: enough for every partner, few enough to list on one page. */
export const MAX_ACTIVE_KEYS = 100;
/** lastUsedAt is written at most this often per key, whatever the traffic. */
const LAST_USED_PRECISION_MS = 60_000;

/** The role a key acts with: never more than MEMBER, so a key cannot administer its organization. */
export function roleOfScopes(scopes: readonly Scope[]): Role {
  return scopes.includes("write") ? "MEMBER" : "VIEWER";
}

type ApiKeyScope = "READ" | "WRITE";
const toScope = (s: ApiKeyScope): Scope => (s === "WRITE" ? "write" : "read");

interface ApiKeyRow {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  hint: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** What the schema shows of a key: never its hash. */
export function apiKeyView(row: ApiKeyRow) {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    hint: `${API_KEY_PREFIX}…${row.hint}`,
    createdById: row.createdBy,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    lastUsedAt: row.lastUsedAt,
  };
}

const createInput = z.object({
  name: text(1, 100),
  scopes: z
    .array(z.enum(["READ", "WRITE"]))
    .min(1, "must name at least one scope")
    // WRITE without READ would be a key that can change what it cannot see: it reads too.
    .transform((s): ApiKeyScope[] => (s.includes("WRITE") ? ["READ", "WRITE"] : ["READ"])),
  expiresAt: z.coerce
    .date("must be a date-time")
    .refine((d) => d.getTime() > Date.now(), "must be in the future")
    .nullish(),
});

/**
 * Key management is for people: an API key (even a WRITE one, which acts as MEMBER) cannot create or
 * revoke keys, so a leaked key cannot mint itself a successor.
 */
function requireKeyAdmin(ctx: Context): Principal {
  const principal = requireRole(ctx.principal, "ADMIN");
  if (principal.credential !== "user") throw forbidden("API keys cannot manage API keys.");
  return principal;
}

export async function listApiKeys(ctx: Context, includeRevoked: boolean) {
  requireKeyAdmin(ctx);
  const rows = await ctx.db.apiKey.findMany({
    where: includeRevoked ? {} : { revokedAt: null },
    orderBy: { createdAt: "desc" },
  });
  return rows.map(apiKeyView);
}

export async function createApiKey(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireKeyAdmin(ctx);
  const data = parseInput(createInput, input);
  const id = newId();
  const { key, secretHash } = generateApiKey(id, tenantId);
  const row = await ctx.db.$transaction(async (tx) => {
    const active = await tx.apiKey.count({ where: { revokedAt: null } });
    if (active >= MAX_ACTIVE_KEYS) {
      throw appError(
        ErrorCode.CONFLICT,
        `An organization holds at most ${MAX_ACTIVE_KEYS} active API keys: revoke one first.`,
      );
    }
    const created = await tx.apiKey.create({
      data: {
        tenantId,
        id,
        name: data.name,
        scopes: data.scopes,
        secretHash: Uint8Array.from(secretHash),
        hint: key.slice(-4),
        createdBy: userId,
        expiresAt: data.expiresAt ?? null,
      },
    });
    await emitEvent(tx, tenantId, {
      topic: "api_key.created",
      payload: { apiKeyId: id, name: data.name, scopes: data.scopes, createdBy: userId },
    });
    return created;
  });
  ctx.logger.info({ apiKeyId: id }, "API key created");
  return { apiKey: apiKeyView(row), secret: key };
}

export async function revokeApiKey(ctx: Context, revocations: ApiKeyRevocations, id: string) {
  const { tenantId, userId } = requireKeyAdmin(ctx);
  if (!isUuid(id)) throw notFound("API key", String(id));
  const row = await ctx.db.$transaction(async (tx) => {
    const existing = await tx.apiKey.findUnique({ where: { tenantId_id: { tenantId, id } } });
    if (!existing) throw notFound("API key", id);
    if (existing.revokedAt) return existing;
    const revoked = await tx.apiKey.update({
      where: { tenantId_id: { tenantId, id } },
      data: { revokedAt: new Date() },
    });
    await emitEvent(tx, tenantId, { topic: "api_key.revoked", payload: { apiKeyId: id, revokedBy: userId } });
    return revoked;
  });
  // After the commit: a gateway that re-resolves the key must already find it revoked.
  await revocations.publish(id, ctx.logger);
  ctx.logger.info({ apiKeyId: id }, "API key revoked");
  return apiKeyView(row);
}

/** A key as the gateway needs it to build the caller's principal. */
export interface ResolvedApiKey {
  keyId: string;
  tenantId: string;
  scopes: Scope[];
  roles: Role[];
  /** Unix seconds, or null for a key without expiry. */
  expiresAt: number | null;
}

/**
 * Resolves a presented key for the gateway (the internal endpoint): null unless it parses, exists,
 * matches, is neither revoked nor expired and its organization is active. Reads one row on the
 * tenant's shard through the tenant-scoped client: the tenant comes from the key itself, and a key
 * naming another tenant than its row's is simply not found there.
 */
export async function resolveApiKey(
  tenantDb: (tenantId: string) => TenantClient,
  presented: string,
): Promise<ResolvedApiKey | null> {
  const parsed = parseApiKey(presented);
  if (!parsed) return null;
  const db = tenantDb(parsed.tenantId);
  const row = await db.apiKey.findUnique({
    where: { tenantId_id: { tenantId: parsed.tenantId, id: parsed.keyId } },
    include: { organization: { select: { status: true } } },
  });
  if (!row || !sameSecretHash(row.secretHash, parsed.secretHash)) return null;
  const now = Date.now();
  if (row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now)) return null;
  if (row.organization.status !== "ACTIVE") return null;
  // At most one write a minute per key, however many gateways resolve it.
  await db.apiKey.updateMany({
    where: {
      id: row.id,
      OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now - LAST_USED_PRECISION_MS) } }],
    },
    data: { lastUsedAt: new Date(now) },
  });
  const scopes = row.scopes.map(toScope);
  return {
    keyId: row.id,
    tenantId: row.tenantId,
    scopes,
    roles: [roleOfScopes(scopes)],
    expiresAt: row.expiresAt ? Math.floor(row.expiresAt.getTime() / 1000) : null,
  };
}
