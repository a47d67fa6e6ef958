import { requirePrincipal } from "@app/common";
import type { Context } from "../../context.ts";

export function currentOrganization(ctx: Context) {
  const { tenantId } = requirePrincipal(ctx);
  return ctx.loaders.organizationById.load(tenantId);
}

/** Entity resolution for other subgraphs: another tenant's organization resolves to null. */
export function organizationReference(ctx: Context, id: string) {
  return ctx.loaders.organizationById.load(id);
}
