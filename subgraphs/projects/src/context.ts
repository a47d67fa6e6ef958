import {
  type BaseContext,
  baseContext,
  deferred,
  type InternalContext,
  type Logger,
  requirePrincipal,
} from "@app/common";
import { type PrismaClient, type TenantClient, tenantClient } from "@app/db";
import { createProjectLoaders, type ProjectLoaders } from "./modules/projects/projects.loaders.ts";
import { createTaskLoaders, type TaskLoaders } from "./modules/tasks/tasks.loaders.ts";

export interface Context extends BaseContext {
  readonly db: TenantClient;
  readonly loaders: ProjectLoaders & TaskLoaders;
}

export function contextFactory(prisma: PrismaClient, logger: Logger) {
  return (internal: InternalContext): Context => {
    const base = baseContext(internal, logger);
    const db = deferred(() => tenantClient(prisma, requirePrincipal(base).tenantId));
    const loaders = deferred(() => ({ ...createProjectLoaders(db), ...createTaskLoaders(db) }));
    return {
      ...base,
      db,
      loaders,
    };
  };
}
