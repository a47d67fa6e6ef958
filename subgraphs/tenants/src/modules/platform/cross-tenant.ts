import { decodeKeysetCursor, keysetCursor } from "@app/common/pagination";
import { emitEvent, isUuid, Prisma, type PrismaClient } from "@app/db";
import { appendAuditEntries } from "@app/db/audit";
import { z } from "zod";
import type { OrganizationLimits } from "../settings/settings.schema.ts";
import { readSettings } from "../settings/settings.schema.ts";

/**
 * Platform administration's one path across tenants: every read or write a platform administrator makes
 * of an organization goes through this module, on the cross-tenant client, and is recorded in that
 * organization's audit log in the same transaction. A named place (test/raw-client-guard.test.ts);
 * callers have checked that the caller is a platform administrator (platform.service.ts).
 */

export type OrganizationStatusValue = "ACTIVE" | "SUSPENDED" | "DELETED";

/** An organization as the support team sees it. */
export interface PlatformOrganizationRow {
  id: string;
  name: string;
  slug: string;
  status: OrganizationStatusValue;
  suspendedReason: string | null;
  createdAt: Date;
  deletionScheduledAt: Date | null;
  plan: string | null;
  memberCount: number;
  projectCount: number;
  limits: OrganizationLimits;
}

export interface ListArgs {
  search: string | null;
  status: OrganizationStatusValue | null;
  take: number;
  after: string | null;
}

/** Who acts: the administrator's user id and the request, for the audit entries. */
export interface Actor {
  userId: string;
  requestId: string;
}

const NEWEST = "platform:newest";
const BY_NAME = "platform:name";

type OrganizationRow = {
  id: string;
  name: string;
  slug: string;
  status: OrganizationStatusValue;
  suspendedReason: string | null;
  createdAt: Date;
  deletionScheduledAt: Date | null;
  settings: unknown;
};
const ORGANIZATION_COLUMNS = {
  id: true,
  name: true,
  slug: true,
  status: true,
  suspendedReason: true,
  createdAt: true,
  deletionScheduledAt: true,
  settings: true,
} as const;

/** `%` and `_` are wildcards in LIKE: a search for `50%` means those characters. */
const likePrefix = (text: string) => `${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

type Tx = Prisma.TransactionClient;

/**
 * Records a platform administrator's access in each organization's own audit log, in the transaction of
 * the access itself (one statement for a whole page of organizations).
 */
async function audit(tx: Tx, actor: Actor, action: string, tenantIds: readonly string[]): Promise<void> {
  await appendAuditEntries(
    tx,
    [...new Set(tenantIds)].map((tenantId) => ({
      tenantId,
      actor: { type: "PLATFORM_ADMIN" as const, id: actor.userId },
      action,
      targetType: "Organization",
      targetId: tenantId,
      requestId: actor.requestId,
    })),
  );
}

export function createPlatformAccess(db: PrismaClient) {
  /**
   * Plan and counts for a page of organizations: one grouped query per table for the whole page, on the
   * (tenant_id, ...) primary keys; never a count per row, never a count across every tenant.
   */
  async function withFacts(tx: Tx, rows: OrganizationRow[]): Promise<PlatformOrganizationRow[]> {
    const ids = rows.map((r) => r.id);
    if (!ids.length) return [];
    const [members, projects, subscriptions] = await Promise.all([
      tx.membership.groupBy({ by: ["tenantId"], where: { tenantId: { in: ids } }, _count: { _all: true } }),
      tx.project.groupBy({
        by: ["tenantId"],
        where: { tenantId: { in: ids }, deletedAt: null },
        _count: { _all: true },
      }),
      tx.subscription.findMany({
        where: { tenantId: { in: ids }, status: { not: "CANCELED" } },
        orderBy: { createdAt: "desc" },
        select: { tenantId: true, planCode: true },
      }),
    ]);
    const memberCount = new Map(members.map((m) => [m.tenantId, m._count._all]));
    const projectCount = new Map(projects.map((p) => [p.tenantId, p._count._all]));
    const plan = new Map<string, string>();
    for (const s of subscriptions) if (!plan.has(s.tenantId)) plan.set(s.tenantId, s.planCode);
    return rows.map(({ settings, ...row }) => ({
      ...row,
      plan: plan.get(row.id) ?? null,
      memberCount: memberCount.get(row.id) ?? 0,
      projectCount: projectCount.get(row.id) ?? 0,
      limits: readSettings(settings).limits,
    }));
  }

  /** Exact matches: an id, a slug or a verified custom domain name the support team was given. */
  async function exactMatch(tx: Tx, search: string): Promise<string | null> {
    if (z.uuid().safeParse(search).success) return search;
    const text = search.toLowerCase();
    const slug = await tx.organizationSlug.findUnique({ where: { slug: text } });
    if (slug) return slug.tenantId;
    const domain = await tx.customDomain.findUnique({ where: { domain: text.replace(/\.$/, "") } });
    return domain?.tenantId ?? null;
  }

  async function page(tx: Tx, args: ListArgs) {
    const status = args.status ?? undefined;
    if (!args.search) {
      // Newest first by the UUIDv7 primary key: each shard reads its first rows from the index.
      const afterId = args.after
        ? decodeKeysetCursor(args.after, NEWEST, z.tuple([z.uuid()]), "after")[0]
        : undefined;
      const rows = await tx.organization.findMany({
        where: { status, ...(afterId ? { id: { lt: afterId } } : {}) },
        orderBy: { id: "desc" },
        take: args.take + 1,
        select: ORGANIZATION_COLUMNS,
      });
      return { rows, cursorOf: (r: OrganizationRow) => keysetCursor(NEWEST, [r.id]) };
    }
    if (!args.after) {
      const id = await exactMatch(tx, args.search);
      const exact = id
        ? await tx.organization.findFirst({ where: { id, status }, select: ORGANIZATION_COLUMNS })
        : null;
      if (exact) return { rows: [exact], cursorOf: () => "" };
    }
    // Name prefix in (lower(name), id) order, C collation: organizations_name_search_idx serves the
    // range and the order on every shard. The cursor keeps PostgreSQL's lower(), not JavaScript's.
    const after = args.after
      ? decodeKeysetCursor(args.after, BY_NAME, z.tuple([z.string(), z.uuid()]), "after")
      : null;
    const ids = await tx.$queryRaw<Array<{ id: string; key: string }>>(Prisma.sql`
      SELECT id, lower(name) AS key FROM organizations
      WHERE lower(name) COLLATE "C" LIKE ${likePrefix(args.search)}
        ${status ? Prisma.sql`AND status = ${status}::organization_status` : Prisma.empty}
        ${after ? Prisma.sql`AND (lower(name) COLLATE "C", id) > (${after[0]} COLLATE "C", ${after[1]}::uuid)` : Prisma.empty}
      ORDER BY lower(name) COLLATE "C", id
      LIMIT ${args.take + 1}`);
    const found = await tx.organization.findMany({
      where: { id: { in: ids.map((r) => r.id) } },
      select: ORGANIZATION_COLUMNS,
    });
    const byId = new Map(found.map((r) => [r.id, r]));
    const keyOf = new Map(ids.map((r) => [r.id, r.key]));
    return {
      rows: ids.flatMap((r) => byId.get(r.id) ?? []),
      cursorOf: (r: OrganizationRow) => keysetCursor(BY_NAME, [keyOf.get(r.id)!, r.id]),
    };
  }

  async function one(tx: Tx, id: string): Promise<PlatformOrganizationRow | null> {
    if (!isUuid(id)) return null;
    const row = await tx.organization.findUnique({ where: { id }, select: ORGANIZATION_COLUMNS });
    return row ? ((await withFacts(tx, [row]))[0] ?? null) : null;
  }

  return {
    /** Is this user a platform administrator? (Not audited: it reads no tenant's data.) */
    async isAdmin(userId: string): Promise<boolean> {
      return (await db.platformAdmin.findUnique({ where: { userId } })) !== null;
    },

    /** Search and list; each organization shown is recorded as viewed in its own audit log. */
    async list(actor: Actor, args: ListArgs) {
      return db.$transaction(async (tx) => {
        const { rows, cursorOf } = await page(tx, args);
        const shown = rows.slice(0, args.take);
        await audit(
          tx,
          actor,
          "platform.organization.listed",
          shown.map((r) => r.id),
        );
        return {
          edges: (await withFacts(tx, shown)).map((node, i) => ({ cursor: cursorOf(shown[i]!), node })),
          pageInfo: {
            hasNextPage: rows.length > args.take,
            endCursor: shown.length ? cursorOf(shown.at(-1)!) : null,
          },
        };
      });
    },

    async view(actor: Actor, id: string) {
      return db.$transaction(async (tx) => {
        const organization = await one(tx, id);
        if (organization) await audit(tx, actor, "platform.organization.viewed", [organization.id]);
        return organization;
      });
    },

    /** Suspends or reactivates; null when there is no such organization. */
    async setStatus(actor: Actor, id: string, status: "ACTIVE" | "SUSPENDED", reason: string | null) {
      return db.$transaction(async (tx) => {
        if (!isUuid(id)) return null;
        const { count } = await tx.organization.updateMany({
          where: { id },
          data: { status, suspendedReason: status === "SUSPENDED" ? reason : null },
        });
        if (!count) return null;
        await audit(
          tx,
          actor,
          status === "SUSPENDED" ? "platform.organization.suspended" : "platform.organization.reactivated",
          [id],
        );
        return one(tx, id);
      });
    },

    /**
     * Replaces the limit overrides in the organization's settings, and announces them through the outbox
     * (`organization.limits_changed`): the worker then drops every plan-limits cache, as it does after a
     * subscription change, even if the caller's own invalidation did not reach Redis.
     */
    async setLimits(actor: Actor, id: string, limits: OrganizationLimits) {
      return db.$transaction(async (tx) => {
        if (!isUuid(id)) return null;
        // The row lock first, so a concurrent change of preferences is not lost.
        const { count } = await tx.organization.updateMany({
          where: { id },
          data: { updatedAt: new Date() },
        });
        if (!count) return null;
        const current = await tx.organization.findUniqueOrThrow({
          where: { id },
          select: { settings: true },
        });
        const settings = { ...readSettings(current.settings), limits };
        await tx.organization.update({ where: { id }, data: { settings } });
        await audit(tx, actor, "platform.organization.limits_changed", [id]);
        await emitEvent(tx, id, { topic: "organization.limits_changed", payload: limits });
        return one(tx, id);
      });
    },
  };
}
export type PlatformAccess = ReturnType<typeof createPlatformAccess>;
