import { INTERNAL_CONTEXT_HEADER, verifyInternalContext } from "@app/common";
import type { Routes } from "@app/common/subgraph";
import type { TenantClient } from "@app/db";
import { z } from "zod";
import { resolveApiKey } from "./modules/api-keys/api-keys.service.ts";
import { memberRole } from "./modules/external-idp/external-idp.service.ts";

/**
 * JSON endpoint for the gateway only: the request must carry the gateway's signed internal context
 * (the header of every subgraph call), so nobody can use it to guess keys or probe memberships.
 */
function internalRoute<S extends z.ZodType>(
  secret: string,
  body: S,
  answer: (input: z.infer<S>) => Promise<unknown>,
) {
  return async (request: Request): Promise<Response> => {
    if (request.method !== "POST") return new Response(null, { status: 405, headers: { allow: "POST" } });
    if (!(await verifyInternalContext(secret, request.headers.get(INTERNAL_CONTEXT_HEADER)))) {
      return Response.json({ error: "This endpoint only answers the gateway." }, { status: 401 });
    }
    const input = body.safeParse(await request.json().catch(() => null));
    if (!input.success) return Response.json({ error: input.error.message }, { status: 400 });
    return Response.json(await answer(input.data));
  };
}

/** What the gateway resolves credentials with, on a miss of its cache (gateway/src/auth/). */
export function internalRoutes(tenantDb: (tenantId: string) => TenantClient, secret: string): Routes {
  return {
    // {"key": "cdt_..."} -> {"apiKey": {keyId, tenantId, scopes, roles, expiresAt} | null}
    "/internal/api-keys/resolve": internalRoute(
      secret,
      z.object({ key: z.string().max(200) }),
      async ({ key }) => ({
        apiKey: await resolveApiKey(tenantDb, key),
      }),
    ),
    // {"tenantId", "userId"} -> {"role": Role | null}: the external issuer's user is a member, or not.
    "/internal/memberships/resolve": internalRoute(
      secret,
      z.object({ tenantId: z.uuid(), userId: z.uuid() }),
      async ({ tenantId, userId }) => ({ role: await memberRole(tenantDb, tenantId, userId) }),
    ),
  };
}
