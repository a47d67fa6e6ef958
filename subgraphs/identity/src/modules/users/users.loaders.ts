import { createMemberLoader } from "@app/common/members";
import type { TenantClient } from "@app/db";

/** Per request: the caller's tenant's members by user id, one query per batch (see createMemberLoader). */
export function createUserLoaders(db: TenantClient) {
  return { memberById: createMemberLoader(db) };
}
export type UserLoaders = ReturnType<typeof createUserLoaders>;
