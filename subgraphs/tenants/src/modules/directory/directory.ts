import { INTERNAL_CONTEXT_HEADER, verifyInternalContext } from "@app/common";
import type { HostName, OrganizationState } from "@app/common/organization-state";
import { slugSchema } from "@app/common/slugs";
import type { Routes } from "@app/common/subgraph";
import { isUuid, type PrismaClient } from "@app/db";
import { domainName } from "../domains/domains.service.ts";
import { readSettings } from "../settings/settings.schema.ts";

/**
 * Lookups that cross tenants on purpose, before anyone has signed in: slug or host -> organization, and
 * an organization's status for the gateway. A named place allowed the cross-tenant client
 * (test/raw-client-guard.test.ts); it answers with public fields only, and only for ACTIVE
 * organizations (a suspended or deleted one is indistinguishable from none).
 */
export interface PublicOrganization {
  name: string;
  slug: string;
  brandColor: string | null;
}

export function createDirectory(db: PrismaClient) {
  async function activeById(id: string) {
    if (!isUuid(id)) return null;
    const organization = await db.organization.findUnique({
      where: { id },
      select: { name: true, slug: true, status: true, settings: true },
    });
    return organization?.status === "ACTIVE" ? organization : null;
  }
  const toPublic = (o: { name: string; slug: string; settings: unknown }): PublicOrganization => ({
    name: o.name,
    slug: o.slug,
    brandColor: readSettings(o.settings).preferences.brandColor,
  });

  async function tenantOfSlug(slug: string): Promise<string | null> {
    const row = await db.organizationSlug.findUnique({ where: { slug } });
    return row ? row.tenantId : null;
  }

  return {
    async publicBySlug(slug: string): Promise<PublicOrganization | null> {
      const tenantId = await tenantOfSlug(slug);
      const organization = tenantId ? await activeById(tenantId) : null;
      return organization && organization.slug === slug ? toPublic(organization) : null;
    },
    async publicById(id: string): Promise<PublicOrganization | null> {
      const organization = await activeById(id);
      return organization ? toPublic(organization) : null;
    },
    /** The ACTIVE organization a host names: its current slug, or a verified custom domain. */
    async tenantOfHost(host: HostName): Promise<string | null> {
      const tenantId =
        host.kind === "slug"
          ? await tenantOfSlug(host.name)
          : ((await db.customDomain.findUnique({ where: { domain: host.name } }))?.tenantId ?? null);
      return tenantId && (await activeById(tenantId)) ? tenantId : null;
    },
    /** What the gateway checks on every request (through its cache): a missing organization is DELETED. */
    async stateOf(tenantId: string): Promise<OrganizationState> {
      const organization = await db.organization.findUnique({
        where: { id: tenantId },
        select: { status: true },
      });
      return { status: organization?.status ?? "DELETED" };
    },
  };
}
export type Directory = ReturnType<typeof createDirectory>;

/**
 * The gateway's lookups, beside /graphql: `/internal/organization-state/<id>` and
 * `/internal/host/<slug|domain>/<name>`. Only the gateway may ask: the request must carry a context it
 * signed, like every GraphQL request to a subgraph.
 */
export function directoryRoutes(directoryOf: () => Directory, internalSecret: string): Routes {
  const refuse = (status: number, message: string) => Response.json({ error: message }, { status });
  return {
    "/internal/organization-state": async (request) => {
      if (!(await verifyInternalContext(internalSecret, request.headers.get(INTERNAL_CONTEXT_HEADER))))
        return refuse(401, "This service only answers the gateway.");
      const id = new URL(request.url).searchParams.get("id") ?? "";
      if (!isUuid(id)) return refuse(400, "id must be an organization id");
      return Response.json(await directoryOf().stateOf(id), { headers: { "cache-control": "no-store" } });
    },
    "/internal/host": async (request) => {
      if (!(await verifyInternalContext(internalSecret, request.headers.get(INTERNAL_CONTEXT_HEADER))))
        return refuse(401, "This service only answers the gateway.");
      const params = new URL(request.url).searchParams;
      const kind = params.get("kind");
      const parsed =
        kind === "slug"
          ? slugSchema.safeParse(params.get("name"))
          : kind === "domain"
            ? domainName.safeParse(params.get("name"))
            : null;
      const tenantId = parsed?.success
        ? await directoryOf().tenantOfHost({ kind: kind as HostName["kind"], name: parsed.data })
        : null;
      return Response.json({ tenantId }, { headers: { "cache-control": "no-store" } });
    },
  };
}
