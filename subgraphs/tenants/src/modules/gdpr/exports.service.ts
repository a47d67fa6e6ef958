import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { exportPath } from "@app/common/export-files";
import { pageSize } from "@app/common/pagination";
import type { Routes } from "@app/common/subgraph";
import { emitEvent, newId, type OrganizationExport } from "@app/db";
import type { Context } from "../../context.ts";
import { signDownloadToken, verifyDownloadToken } from "./download-token.ts";
import { requireOwnerUser } from "./owner.ts";

/** The event the worker's organization.export job builds the archive on (worker/src/outbox/routes.ts). */
export const EXPORT_REQUESTED = "organization.export_requested";

/** OWNER only: a new export, built in the background; poll `organizationExports` for its link. */
export async function exportOrganization(ctx: Context) {
  const { tenantId, userId } = requireOwnerUser(ctx);
  const created = await ctx.db.$transaction(async (tx) => {
    const row = await tx.organizationExport.create({ data: { tenantId, id: newId(), requestedBy: userId } });
    await emitEvent(tx, tenantId, {
      topic: EXPORT_REQUESTED,
      payload: { exportId: row.id, requestedBy: userId },
    });
    return row;
  });
  return { export: created };
}

export async function organizationExports(ctx: Context, first: number | null | undefined) {
  requireOwnerUser(ctx);
  const take = pageSize({ first: first ?? 10 }, 50);
  return ctx.db.organizationExport.findMany({ orderBy: { id: "desc" }, take });
}

/** A link through the gateway, valid for EXPORT_LINK_TTL_SECONDS; null until the archive is READY. */
export async function downloadUrl(ctx: Context, row: OrganizationExport) {
  if (row.status !== "READY") return null;
  const { EXPORT_LINK_TTL_SECONDS, INTERNAL_CONTEXT_SECRET } = ctx.services.config;
  const token = await signDownloadToken(
    INTERNAL_CONTEXT_SECRET,
    row.tenantId,
    row.id,
    EXPORT_LINK_TTL_SECONDS,
  );
  return `/downloads/exports/${token}`;
}

/** `/exports/download?token=`: streams the archive a valid link names (the gateway forwards to it). */
export function exportRoutes(config: { EXPORT_DIR: string; INTERNAL_CONTEXT_SECRET: string }): Routes {
  return {
    "/exports/download": async (request) => {
      const token = new URL(request.url).searchParams.get("token") ?? "";
      const target = await verifyDownloadToken(config.INTERNAL_CONTEXT_SECRET, token);
      if (!target) return Response.json({ error: "This link is invalid or has expired." }, { status: 403 });
      const path = exportPath(config.EXPORT_DIR, target.tenantId, target.exportId);
      const size = await stat(path).then(
        (s) => s.size,
        () => null,
      );
      if (size === null) return Response.json({ error: "This export no longer exists." }, { status: 404 });
      return new Response(Readable.toWeb(createReadStream(path)) as ReadableStream, {
        headers: {
          "content-type": "application/gzip",
          "content-length": String(size),
          "content-disposition": `attachment; filename="organization-${target.tenantId}-${target.exportId}.ndjson.gz"`,
          "cache-control": "no-store",
        },
      });
    },
  };
}
