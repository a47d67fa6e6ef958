import { checkLimit, type PlanLimits } from "@app/billing";
import type { TenantTransaction } from "@app/db";

/**
 * PLAN_LIMIT when the tenant now has more live projects than its plan allows. Called inside the
 * transaction that adds one (create, restore), after the write: the new project is counted, and a
 * refusal rolls it back. In createProject it runs after the outbox event, whose per-tenant sequence row
 * stays locked until commit, so two creates racing for the last slot are counted one after the other.
 */
export async function checkProjectLimit(tx: TenantTransaction, limits: PlanLimits): Promise<void> {
  if (limits.maxProjects === null) return;
  const live = await tx.project.count({ where: { deletedAt: null } });
  checkLimit("projects", limits, live - 1);
}
