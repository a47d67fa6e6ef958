import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { type Logger, type Principal, requestIdOf } from "@app/common";
import type { Plugin } from "graphql-yoga";
import type { Redis } from "ioredis";
import { Counter, type Registry } from "prom-client";
import { createRateLimiter } from "./limits/rate-limit.ts";
import { createRateLimitPolicy, type RateLimitSettings } from "./limits/rate-limit-policy.ts";
import { createApqStore } from "./persisted-operations/apq-store.ts";
import {
  createPersistedOperations,
  type OperationParams,
  type PersistedOperationsMode,
} from "./persisted-operations/persisted-operations.ts";
import { createRegisteredOperations } from "./persisted-operations/registered-operations.ts";
import { loadTrustedDocuments } from "./persisted-operations/trusted-documents.ts";

export interface AdmissionSettings {
  PERSISTED_OPERATIONS: PersistedOperationsMode;
  TRUSTED_DOCUMENTS_PATH: string;
  REGISTERED_OPERATIONS_CACHE_SECONDS: number;
  APQ_TTL_SECONDS: number;
  APQ_LOCAL_ENTRIES: number;
  RATE_LIMITS: boolean;
  RATE_LIMIT_PLANS: Readonly<Record<string, number>>;
  RATE_LIMIT_TENANT_PER_MINUTE: number;
  RATE_LIMIT_API_KEY_PER_MINUTE: number;
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: number;
  TRUSTED_PROXY_HOPS: number;
  INTERNAL_CONTEXT_SECRET: string;
}

export interface AdmissionOptions {
  settings: AdmissionSettings;
  /** Shared rate limits and APQ entries; without it (or while it is down) each gateway keeps its own. */
  redis?: Redis;
  /** The gateway's metrics registry: the counters below are served on its /metrics. */
  registry: Registry;
  /** The tenants subgraph's URL, which owns registered operations. */
  tenantsUrl(): string;
  /** An organization's plan code (billing), for its rate; unset or null: the default rate. */
  planCodeOf?(tenantId: string): Promise<string | null>;
  logger: Logger;
}

/**
 * The address a request came from, what anonymous callers are rate-limited by: the TCP peer or, behind
 * `trustedProxyHops` proxies that each append their peer to X-Forwarded-For (load balancers), the address
 * the outermost trusted one saw. Entries further left were written by the client and are never read, so
 * a forged header cannot pick another address; without trusted proxies the header is ignored.
 */
export function clientAddressOf(req: IncomingMessage | undefined, trustedProxyHops = 0): string {
  const peer = req?.socket.remoteAddress ?? "unknown";
  if (!req || trustedProxyHops === 0) return peer;
  const header = req.headers["x-forwarded-for"];
  const entries = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  // Fewer entries than proxies: the request did not come through them all; the peer is what is known.
  const seen = entries[entries.length - trustedProxyHops];
  return seen !== undefined && isIP(seen) ? seen : peer;
}

/**
 * What a request must pass once the gateway knows who sends it, before its document is parsed: the
 * rate limits (limits/rate-limit*.ts), then the persisted-operations policy (persisted-operations/),
 * which fills in the document a persisted request names. One path for HTTP (the yoga plugin) and
 * WebSocket subscriptions (`admit`).
 */
export async function createAdmission(options: AdmissionOptions) {
  const { settings, redis, registry, logger } = options;
  const redisFallbacks = new Counter({
    name: "gateway_redis_fallback_total",
    help: "Decisions made in this process because Redis could not be used, by use (rate_limit, apq)",
    labelNames: ["use"],
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: "gateway_rate_limited_total",
    help: "Requests refused with 429, by the limit that refused them (tenant, apiKey, address)",
    labelNames: ["scope"],
    registers: [registry],
  });
  const documents = new Counter({
    name: "gateway_operation_documents_total",
    help: "Operations by where their document came from (trusted, registered, apq, arbitrary)",
    labelNames: ["source"],
    registers: [registry],
  });
  const redisFailed = (use: "rate_limit" | "apq") => (error: unknown) => {
    redisFallbacks.inc({ use });
    logger.debug({ err: error, use }, "redis unavailable: decided in this process");
  };

  const persisted = createPersistedOperations({
    mode: settings.PERSISTED_OPERATIONS,
    trusted: await loadTrustedDocuments(settings.TRUSTED_DOCUMENTS_PATH),
    registered: createRegisteredOperations({
      tenantsUrl: options.tenantsUrl,
      internalSecret: settings.INTERNAL_CONTEXT_SECRET,
      ttlMs: settings.REGISTERED_OPERATIONS_CACHE_SECONDS * 1000,
    }),
    apq: createApqStore({
      redis,
      ttlSeconds: settings.APQ_TTL_SECONDS,
      localEntries: settings.APQ_LOCAL_ENTRIES,
      onRedisError: redisFailed("apq"),
    }),
    onDocument: (source) => documents.inc({ source }),
  });

  const rateLimitSettings: RateLimitSettings = {
    tenantPerMinuteByPlan: settings.RATE_LIMIT_PLANS,
    tenantPerMinute: settings.RATE_LIMIT_TENANT_PER_MINUTE,
    apiKeyPerMinute: settings.RATE_LIMIT_API_KEY_PER_MINUTE,
    anonymousPerMinute: settings.RATE_LIMIT_ANONYMOUS_PER_MINUTE,
  };
  const rateLimits = settings.RATE_LIMITS
    ? createRateLimitPolicy({
        limiter: createRateLimiter({ redis, onFallback: redisFailed("rate_limit") }),
        settings: rateLimitSettings,
        planCodeOf: options.planCodeOf,
        onRefused: (rule) => rateLimited.inc({ scope: rule.scope }),
      })
    : null;

  /** Throws the refusal (RATE_LIMITED, PERSISTED_QUERY_*), or returns the parameters to run. */
  async function admit<P extends OperationParams>(
    params: P,
    caller: { principal: Principal | null; requestId: string; clientAddress: string },
  ): Promise<P> {
    await rateLimits?.enforce(caller.principal, caller.clientAddress);
    return persisted.resolve(params, caller.principal, caller.requestId);
  }

  const clientAddress = (req: IncomingMessage | undefined) =>
    clientAddressOf(req, settings.TRUSTED_PROXY_HOPS);

  /** HTTP: after the plugin that verified the credential (it leaves `principal` on the context). */
  const plugin: Plugin = {
    async onParams({ params, setParams, request, context }) {
      const { principal, req } = context as { principal?: Principal | null; req?: IncomingMessage };
      // yoga reads only query, operationName, variables and extensions from a GET's URL; persisted
      // documents are fetched by GET too (cacheable), so `documentId` is read from it here.
      const fromUrl = request.method === "GET" ? new URL(request.url).searchParams.get("documentId") : null;
      const received = fromUrl === null ? params : { ...params, documentId: fromUrl };
      const admitted = await admit(received as OperationParams, {
        principal: principal ?? null,
        requestId: requestIdOf(request),
        clientAddress: clientAddress(req),
      });
      if (admitted !== received) setParams(admitted as typeof params);
    },
  };

  return {
    admit,
    plugin,
    /** `clientAddressOf` with this gateway's TRUSTED_PROXY_HOPS. */
    clientAddress,
  };
}
