import { loadPlanLimits } from "@app/billing";
import { INTERNAL_CONTEXT_HEADER, verifyInternalContext } from "@app/common";
import { type PrismaClient, tenantClient } from "@app/db";

/**
 * GET /internal/plan-limits: the limits in force for the tenant of the signed internal context. The
 * gateway asks it on a cache miss (it has no database); the context is verified like any GraphQL
 * request's, so only the gateway gets an answer, and only for the tenant it vouches for.
 */
export function planLimitsRoute(secret: string, prisma: PrismaClient) {
  return async (request: Request): Promise<Response> => {
    const context = await verifyInternalContext(secret, request.headers.get(INTERNAL_CONTEXT_HEADER));
    const tenantId = context?.principal?.tenantId;
    if (!tenantId) return Response.json({ error: "This service only answers the gateway." }, { status: 401 });
    const limits = await loadPlanLimits(tenantClient(prisma, tenantId), prisma.plan);
    return Response.json(limits, { headers: { "cache-control": "no-store" } });
  };
}
