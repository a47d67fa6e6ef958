import { Prisma, type TenantClient } from "@app/db";
import { pageLoader } from "../shared/page-loader.ts";

/** Per request: timeline pages of many projects in one query (newest first, id cursors). */
export function createActivityLoaders(db: TenantClient) {
  return {
    activityPages: pageLoader(
      (projectIds, args: { take: number; afterId: string | null }) =>
        db.$findManySql("Activity", {
          where: Prisma.sql`t."project_id" = ANY(${projectIds}::uuid[])${
            args.afterId ? Prisma.sql` AND t."id" < ${args.afterId}::uuid` : Prisma.empty
          }`,
          orderBy: Prisma.sql`t."id" DESC`,
          take: args.take,
          partitionBy: projectIds.length > 1 ? Prisma.sql`t."project_id"` : undefined,
        }),
      (row) => row.projectId,
    ),
  };
}
export type ActivityLoaders = ReturnType<typeof createActivityLoaders>;
