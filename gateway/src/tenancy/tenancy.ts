import { randomUUID } from "node:crypto";
import {
  appError,
  ErrorCode,
  INTERNAL_CONTEXT_HEADER,
  type Logger,
  type Principal,
  signInternalContext,
  unauthenticated,
} from "@app/common";
import type { HostName, OrganizationState } from "@app/common/organization-state";
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Redis } from "ioredis";
import { request } from "undici";
import { createOrganizationCache } from "./organization-cache.ts";

/**
 * Tenancy at the edge: tokens of a suspended or deleted organization are refused, the request's Host is
 * resolved to an organization for public pre-login queries, and export downloads are passed to the
 * tenants subgraph. What it needs to know comes from the tenants subgraph through a cache
 * (organization-cache.ts), so a request costs no database query.
 */
export interface TenancyOptions {
  /** `{slug}.{BASE_DOMAIN}` names an organization; unset: only verified custom domains do. */
  baseDomain: string | undefined;
  ttlSeconds: number;
  redis?: Redis;
  /** The tenants subgraph's GraphQL URL (its routes are beside it). */
  tenantsUrl: () => string;
  internalSecret: string;
  logger: Logger;
}

/** `Host` without port, lower-case, or null when it is not a DNS name (an IP address, garbage). */
export function hostOf(request: Request): string | null {
  const raw = request.headers.get("host")?.trim().toLowerCase();
  if (!raw || raw.length > 260 || raw.startsWith("[")) return null;
  const host = raw.replace(/:\d+$/, "").replace(/\.$/, "");
  const labels = host.split(".");
  if (labels.length < 2 || !labels.every((l) => /^(?!-)[a-z0-9-]{1,63}(?<!-)$/.test(l))) return null;
  return /[a-z]/.test(labels.at(-1)!) ? host : null;
}

/** Which organization a host would name: a slug under BASE_DOMAIN (one label), or a custom domain. */
export function hostNameOf(host: string, baseDomain: string | undefined): HostName | null {
  if (baseDomain) {
    if (host === baseDomain) return null;
    if (host.endsWith(`.${baseDomain}`)) {
      const label = host.slice(0, -baseDomain.length - 1);
      // `a.b.base` is neither a slug host nor anyone's custom domain.
      return label.includes(".") ? null : { kind: "slug", name: label };
    }
  }
  return { kind: "domain", name: host };
}

export function createTenancy(options: TenancyOptions) {
  const { logger } = options;
  const internalHeaders = async () => ({
    [INTERNAL_CONTEXT_HEADER]: await signInternalContext(options.internalSecret, {
      requestId: randomUUID(),
      principal: null,
    }),
  });
  async function ask<T>(path: string, params: Record<string, string>): Promise<T> {
    const url = new URL(path, options.tenantsUrl());
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    // undici's request, not fetch: a tenant's first request in a while pays for this look-up, and
    // fetch's Request, Response and web streams cost about four times the CPU (bench/lib/platform.ts).
    const response = await request(url, {
      headers: await internalHeaders(),
      signal: AbortSignal.timeout(3_000),
    });
    if (response.statusCode < 200 || response.statusCode >= 300) {
      await response.body.dump();
      throw new Error(`tenants ${path} answered ${response.statusCode}`);
    }
    return (await response.body.json()) as T;
  }
  const cache = createOrganizationCache({
    ttlSeconds: options.ttlSeconds,
    redis: options.redis,
    logger,
    fetchState: (tenantId) => ask<OrganizationState>("/internal/organization-state", { id: tenantId }),
    fetchHost: async (host) =>
      (await ask<{ tenantId: string | null }>("/internal/host", { kind: host.kind, name: host.name }))
        .tenantId,
  });

  /** Refuses the principal of an organization that is not ACTIVE; passes anonymous requests through. */
  async function checkOrganization<P extends Principal | null>(principal: P): Promise<P> {
    if (!principal) return principal;
    let state: OrganizationState;
    try {
      state = await cache.stateOf(principal.tenantId);
    } catch (err) {
      // Fail closed: without knowing the status, a suspended organization's token would pass.
      logger.error({ err, tenantId: principal.tenantId }, "organization status unavailable");
      // A failure of ours, not the caller's: 503, to be retried.
      throw new GraphQLError("The organization's status could not be checked; try again shortly.", {
        extensions: {
          code: "INTERNAL_SERVER_ERROR",
          reason: "ORGANIZATION_STATUS_UNAVAILABLE",
          http: { status: 503 },
        },
      });
    }
    if (state.status === "SUSPENDED") {
      throw appError(ErrorCode.FORBIDDEN, "This organization is suspended; contact support.", {
        reason: "ORGANIZATION_SUSPENDED",
        http: { status: 403 },
      });
    }
    if (state.status !== "ACTIVE") {
      const error = unauthenticated("The organization of this token no longer exists.");
      error.extensions.reason = "ORGANIZATION_DELETED";
      throw error;
    }
    return principal;
  }

  return {
    /** Wraps the credential verifier: every authenticated request, HTTP or WebSocket, is checked. */
    guard<A extends unknown[], P extends Principal | null>(verify: (...args: A) => Promise<P>) {
      return async (...args: A): Promise<P> => checkOrganization(await verify(...args));
    },

    /** The ACTIVE organization the request's Host names, for the signed context; undefined for none. */
    async hostTenantOf(request: Request | undefined): Promise<string | undefined> {
      const host = request && hostOf(request);
      const name = host ? hostNameOf(host, options.baseDomain) : null;
      if (!name) return undefined;
      try {
        return (await cache.tenantOfHost(name)) ?? undefined;
      } catch (err) {
        // Public branding only: without it the page is unbranded, the request still goes on.
        logger.warn({ err, host }, "host lookup failed");
        return undefined;
      }
    },

    /** `GET /downloads/exports/<token>`: the tenants subgraph checks the signed link and streams the file. */
    plugin: {
      async onRequest({ url, request, endResponse }) {
        const prefix = "/downloads/exports/";
        if (!url.pathname.startsWith(prefix)) return;
        if (request.method !== "GET") {
          endResponse(new Response(null, { status: 405, headers: { allow: "GET" } }));
          return;
        }
        const target = new URL("/exports/download", options.tenantsUrl());
        target.searchParams.set("token", decodeURIComponent(url.pathname.slice(prefix.length)));
        const answer = await fetch(target);
        const headers = new Headers({ "cache-control": "no-store" });
        for (const name of ["content-type", "content-length", "content-disposition"]) {
          const value = answer.headers.get(name);
          if (value) headers.set(name, value);
        }
        endResponse(new Response(answer.body, { status: answer.status, headers }));
      },
    } satisfies Plugin,

    ready: cache.ready,
    close: cache.close,
  };
}
export type Tenancy = ReturnType<typeof createTenancy>;
