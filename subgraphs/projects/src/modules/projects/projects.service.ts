import { badUserInput, forbidden, notFound, type Role, requirePrincipal, requireRole } from "@app/common";
import { type PageArgs, pageWindow, toConnection } from "@app/common/pagination";
import { parseInput, text } from "@app/common/validation";
import { type ActivityVerb, emitEvent, isUniqueViolation, isUuid, newId, type Project } from "@app/db";
import { z } from "zod";
import type { Context } from "../../context.ts";
import { recordActivity } from "../activity/activity.service.ts";
import {
  archivedError,
  checkVersion,
  deletedError,
  diffOf,
  retryOnUniqueViolation,
  type Tx,
  updateVersioned,
} from "../shared/writes.ts";
import { checkProjectLimit } from "./plan-limits.ts";

const KEY_SHAPE = /^[A-Z][A-Z0-9]{1,9}$/;

const projectKey = z
  .string()
  .trim()
  .transform((key) => key.toUpperCase())
  .pipe(z.string().regex(KEY_SHAPE, "must be 2 to 10 letters and digits, starting with a letter"));
const description = text(0, 20_000);
const version = z.number().int();

const createProjectInput = z.object({
  name: text(1, 200),
  key: projectKey.nullish(),
  description: description.nullish(),
});

const updateProjectInput = z.object({
  id: z.string(),
  version,
  name: text(1, 200).nullish(),
  key: projectKey.nullish(),
  description: description.nullish(),
});

const stateInput = z.object({ id: z.string(), version });

const projectFilter = z
  .object({ status: z.enum(["ACTIVE", "ARCHIVED"]).nullish(), deleted: z.boolean().nullish() })
  .nullish();

/**
 * A readable key from a project's name: the initials of several words (`Website Redesign` -> `WR`),
 * or the start of one word (`Launch` -> `LAUNCH`), at most 6 characters so a number can follow.
 */
export function deriveKey(name: string): string {
  const words =
    name
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toUpperCase()
      .match(/[A-Z0-9]+/g) ?? [];
  let key = (words.length > 1 ? words.map((word) => word[0]).join("") : (words[0] ?? "")).slice(0, 6);
  if (key && !/^[A-Z]/.test(key)) key = `P${key}`.slice(0, 6);
  return key.length >= 2 ? key : "PRJ";
}

/** `base`, or `base2`, `base3`... whichever no project of the tenant (deleted ones too) has. */
async function freeKey(tx: Tx, base: string): Promise<string> {
  const rows = await tx.project.findMany({ where: { key: { startsWith: base } }, select: { key: true } });
  const taken = new Set(rows.map((row) => row.key));
  let key = base;
  for (let n = 2; taken.has(key); n++) key = `${base}${n}`;
  return key;
}

const keyTaken = () =>
  badUserInput("input.key", "is already used by another project (perhaps a deleted one)");

export async function createProject(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireRole(ctx.principal, "MEMBER");
  const data = parseInput(createProjectInput, input);
  const limits = await ctx.planLimits.get(tenantId);
  try {
    const project = await retryOnUniqueViolation(
      () =>
        ctx.db.$transaction(async (tx) => {
          const key = data.key ?? (await freeKey(tx, deriveKey(data.name)));
          const created = await tx.project.create({
            data: { tenantId, id: newId(), key, name: data.name, description: data.description ?? "" },
          });
          await emitEvent(tx, tenantId, {
            topic: "project.created",
            payload: { projectId: created.id, name: created.name, actorId: userId },
          });
          await checkProjectLimit(tx, limits);
          await recordActivity(tx, tenantId, {
            projectId: created.id,
            actorId: userId,
            verb: "PROJECT_CREATED",
            targetType: "PROJECT",
            targetId: created.id,
            diff: { key: { to: key }, name: { to: created.name } },
          });
          return created;
        }),
      // A derived key lost to a concurrent create is derived again; a chosen one is the caller's to change.
      data.key ? 1 : 4,
    );
    return { project };
  } catch (error) {
    if (isUniqueViolation(error)) throw keyTaken();
    throw error;
  }
}

/** The project for a write: live, not archived, at the version the client read. */
function writable(project: Project | null, id: string, version: number): Project {
  const current = checkVersion("Project", id, project, version);
  if (current.deletedAt) throw deletedError("Project", id);
  if (current.status === "ARCHIVED") throw archivedError(current.key);
  return current;
}

export async function updateProject(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireRole(ctx.principal, "MEMBER");
  const data = parseInput(updateProjectInput, input);
  const id = isUuid(data.id) ? data.id : null;
  if (!id) throw notFound("Project", data.id);
  try {
    const project = await ctx.db.$transaction(async (tx) => {
      const before = writable(await tx.project.findFirst({ where: { id } }), id, data.version);
      const changes: Partial<Project> = {};
      if (data.name != null) changes.name = data.name;
      if (data.key != null) changes.key = data.key;
      if (data.description != null) changes.description = data.description;
      const fields = ["name", "key", "description"] as const;
      if (Object.keys(diffOf(before, { ...before, ...changes }, fields)).length === 0) return before;
      const after = await updateVersioned(tx.project, "Project", id, data.version, changes);
      await recordActivity(tx, tenantId, {
        projectId: id,
        actorId: userId,
        verb: "PROJECT_UPDATED",
        targetType: "PROJECT",
        targetId: id,
        diff: diffOf(before, after, fields),
      });
      return after;
    });
    return { project };
  } catch (error) {
    if (isUniqueViolation(error)) throw keyTaken();
    throw error;
  }
}

interface Transition {
  role: Role;
  verb: ActivityVerb;
  /** Refuses the transition from this state (an error), or says it is already done (`"done"`). */
  check(project: Project): Error | "done" | null;
  change(): Partial<Project>;
  field: "status" | "deletedAt";
}

const TRANSITIONS = {
  archive: {
    role: "ADMIN",
    verb: "PROJECT_ARCHIVED",
    field: "status",
    check: (p) => (p.deletedAt ? deletedError("Project", p.id) : p.status === "ARCHIVED" ? "done" : null),
    change: () => ({ status: "ARCHIVED" }),
  },
  unarchive: {
    role: "ADMIN",
    verb: "PROJECT_UNARCHIVED",
    field: "status",
    check: (p) => (p.deletedAt ? deletedError("Project", p.id) : p.status === "ACTIVE" ? "done" : null),
    change: () => ({ status: "ACTIVE" }),
  },
  delete: {
    role: "ADMIN",
    verb: "PROJECT_DELETED",
    field: "deletedAt",
    check: (p) => (p.deletedAt ? "done" : null),
    change: () => ({ deletedAt: new Date() }),
  },
  restore: {
    role: "ADMIN",
    verb: "PROJECT_RESTORED",
    field: "deletedAt",
    check: (p) => (p.deletedAt ? null : "done"),
    change: () => ({ deletedAt: null }),
  },
} as const satisfies Record<string, Transition>;

/** Archive, unarchive, delete (to the trash) or restore; a project already there is returned as is. */
export async function transitionProject(ctx: Context, name: keyof typeof TRANSITIONS, input: unknown) {
  const transition: Transition = TRANSITIONS[name];
  const { tenantId, userId } = requireRole(ctx.principal, transition.role);
  const data = parseInput(stateInput, input);
  const id = isUuid(data.id) ? data.id : null;
  if (!id) throw notFound("Project", data.id);
  // A restored project counts against the plan again.
  const limits = name === "restore" ? await ctx.planLimits.get(tenantId) : null;
  const project = await ctx.db.$transaction(async (tx) => {
    const before = checkVersion("Project", id, await tx.project.findFirst({ where: { id } }), data.version);
    const verdict = transition.check(before);
    if (verdict === "done") return before;
    if (verdict) throw verdict;
    const after = await updateVersioned(tx.project, "Project", id, data.version, transition.change());
    if (limits) await checkProjectLimit(tx, limits);
    await recordActivity(tx, tenantId, {
      projectId: id,
      actorId: userId,
      verb: transition.verb,
      targetType: "PROJECT",
      targetId: id,
      diff: diffOf(before, after, [transition.field]),
    });
    return after;
  });
  return { project };
}

type ProjectListArgs = PageArgs & { filter?: unknown };

export async function listProjects(ctx: Context, args: ProjectListArgs) {
  requirePrincipal(ctx);
  const { take, afterId } = pageWindow(args);
  const filter = projectFilter.safeParse(args.filter);
  if (!filter.success) throw badUserInput("filter", "is not a valid project filter");
  const rows = await ctx.db.project.findMany({
    where: {
      ...(afterId ? { id: { gt: afterId } } : {}),
      ...(filter.data?.status ? { status: filter.data.status } : {}),
      deletedAt: filter.data?.deleted ? { not: null } : null,
    },
    orderBy: { id: "asc" },
    take: take + 1,
  });
  return toConnection(rows, take);
}

/** `Organization.projects`: only the caller's own organization has projects it may see. */
export function organizationProjects(ctx: Context, organizationId: string, args: ProjectListArgs) {
  if (requirePrincipal(ctx).tenantId !== organizationId) throw forbidden("That is not your organization.");
  return listProjects(ctx, args);
}

export function getProject(ctx: Context, id: string) {
  requirePrincipal(ctx);
  return isUuid(id) ? ctx.loaders.projectById.load(id) : null;
}

export function projectByKey(ctx: Context, key: string) {
  requirePrincipal(ctx);
  const parsed = projectKey.safeParse(key);
  return parsed.success ? ctx.db.project.findFirst({ where: { key: parsed.data } }) : null;
}

/** The project, or NOT_FOUND (also for another tenant's project: existence is not revealed). */
export async function requireProject(ctx: Context, id: string) {
  const project = await getProject(ctx, id);
  if (!project) throw notFound("Project", id);
  return project;
}

/**
 * The project of a task or comment write: it must exist, be live and not archived. Given the write's
 * transaction, it is read in it (a statement there instead of a read of its own).
 */
export async function requireWritableProject(ctx: Context, id: string, tx?: Tx) {
  const project = tx
    ? await (isUuid(id) ? tx.project.findFirst({ where: { id } }) : null)
    : await getProject(ctx, id);
  if (!project) throw notFound("Project", id);
  if (project.deletedAt) throw deletedError("Project", id);
  if (project.status === "ARCHIVED") throw archivedError(project.key);
  return project;
}
