import { isUuid, type Task, type TaskStatus, type TenantClient } from "@app/db";
import DataLoader from "dataloader";
import { pageLoader } from "../shared/page-loader.ts";
import { TASK_STATUSES, type TaskListArgs, taskListQuery } from "./tasks.query.ts";

export type TaskCounts = Array<{ status: TaskStatus; count: number }>;

/** Per request; one query per batch, scoped to the caller's tenant. */
export function createTaskLoaders(db: TenantClient) {
  return {
    taskById: new DataLoader<string, Task | null>(async (ids) => {
      const valid = ids.filter(isUuid);
      const rows = valid.length ? await db.task.findMany({ where: { id: { in: valid } } }) : [];
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /** Live tasks per status, every status present. */
    taskCountsByProject: new DataLoader<string, TaskCounts>(async (projectIds) => {
      const valid = projectIds.filter(isUuid);
      const groups = valid.length
        ? await db.task.groupBy({
            by: ["projectId", "status"],
            where: { projectId: { in: valid }, deletedAt: null },
            _count: { _all: true },
          })
        : [];
      const count = (projectId: string, status: TaskStatus) =>
        groups.find((g) => g.projectId === projectId && g.status === status)?._count._all ?? 0;
      return projectIds.map((projectId) =>
        TASK_STATUSES.map((status) => ({ status, count: count(projectId, status) })),
      );
    }),
    projectTaskPages: pageLoader(
      (projectIds, args: TaskListArgs) => db.$findManySql("Task", taskListQuery("project", projectIds, args)),
      (task) => task.projectId,
    ),
    assigneeTaskPages: pageLoader(
      (userIds, args: TaskListArgs) => db.$findManySql("Task", taskListQuery("assignee", userIds, args)),
      (task) => task.assigneeId,
    ),
  };
}
export type TaskLoaders = ReturnType<typeof createTaskLoaders>;
