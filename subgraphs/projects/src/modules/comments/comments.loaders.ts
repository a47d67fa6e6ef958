import { type Comment, isUuid, Prisma, type TenantClient } from "@app/db";
import DataLoader from "dataloader";
import { pageLoader } from "../shared/page-loader.ts";

/** Per request; one query per batch, scoped to the caller's tenant. */
export function createCommentLoaders(db: TenantClient) {
  return {
    commentById: new DataLoader<string, Comment | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      const rows = valid.length ? await db.comment.findMany({ where: { id: { in: valid } } }) : [];
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /** Live comments of many tasks, oldest first (id cursors). */
    commentPages: pageLoader(
      (taskIds, args: { take: number; afterId: string | null }) =>
        db.$findManySql("Comment", {
          where: Prisma.sql`t."task_id" = ANY(${taskIds}::uuid[]) AND t."deleted_at" IS NULL${
            args.afterId ? Prisma.sql` AND t."id" > ${args.afterId}::uuid` : Prisma.empty
          }`,
          orderBy: Prisma.sql`t."id" ASC`,
          take: args.take,
          partitionBy: taskIds.length > 1 ? Prisma.sql`t."task_id"` : undefined,
        }),
      (row) => row.taskId,
    ),
  };
}
export type CommentLoaders = ReturnType<typeof createCommentLoaders>;
