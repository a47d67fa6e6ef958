import {
  createOrganizationStateNotifier,
  type OrganizationStateNotifier,
} from "@app/common/organization-state";
import { DateTimeScalar } from "@app/common/scalars";
import { createSubgraphApp } from "@app/common/subgraph";
import type { PrismaClient } from "@app/db";
import { Redis } from "ioredis";
import { contextFactory } from "./context.ts";
import type { TenantsConfig } from "./env.ts";
import { auditResolvers } from "./modules/audit/audit.resolvers.ts";
import { createDirectory, type Directory, directoryRoutes } from "./modules/directory/directory.ts";
import { type DnsResolver, systemDns } from "./modules/domains/dns.ts";
import { domainResolvers } from "./modules/domains/domains.resolvers.ts";
import { exportRoutes } from "./modules/gdpr/exports.service.ts";
import { gdprResolvers } from "./modules/gdpr/gdpr.resolvers.ts";
import { createOperationResolvers } from "./modules/operations/operations.resolvers.ts";
import { organizationResolvers } from "./modules/organizations/organizations.resolvers.ts";
import { platformResolvers } from "./modules/platform/platform.resolvers.ts";
import { settingsResolvers } from "./modules/settings/settings.resolvers.ts";

/** Builds the tenants subgraph; `index.ts` listens, tests serve it on port 0. */
export function createTenantsApp(
  config: TenantsConfig,
  deps: { prisma?: PrismaClient; crossTenant?: PrismaClient; dns?: DnsResolver } = {},
) {
  let directory: Directory | undefined;
  let notifier: OrganizationStateNotifier | undefined;
  let limitsRedis: Redis | null = null;
  return createSubgraphApp({
    name: "tenants",
    config,
    prisma: deps.prisma,
    crossTenant: deps.crossTenant,
    resolvers: [
      { DateTime: DateTimeScalar },
      organizationResolvers,
      auditResolvers,
      settingsResolvers,
      domainResolvers,
      platformResolvers,
      gdprResolvers,
      createOperationResolvers(config.SUPERGRAPH_PATH),
    ],
    // Built once, when the app is: the clients come from createSubgraphApp.
    createContext: (prisma, logger, crossTenant) => {
      notifier = createOrganizationStateNotifier(config.REDIS_URL, logger);
      limitsRedis = config.REDIS_URL
        ? new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }).on(
            "error",
            (err) => logger.debug({ err }, "plan limits: redis error"),
          )
        : null;
      directory = createDirectory(crossTenant);
      return contextFactory({ dns: deps.dns ?? systemDns, notifier, limitsRedis, config })(
        prisma,
        logger,
        crossTenant,
      );
    },
    routes: {
      ...directoryRoutes(() => directory!, config.INTERNAL_CONTEXT_SECRET),
      ...exportRoutes(config),
    },
    onClose: async () => {
      await notifier?.close();
      limitsRedis?.disconnect();
    },
  });
}
