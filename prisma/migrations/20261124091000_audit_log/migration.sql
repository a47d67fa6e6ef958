-- The audit log (issue 6): one entry per mutation, written in the transaction of the change
-- (prisma/src/audit.ts). Body as `npm run db:drift` computes it from prisma/schema/audit.prisma; added by
-- hand: the Citus block, row-level security, and the append-only grants.

-- CreateEnum
CREATE TYPE "audit_actor_type" AS ENUM ('USER', 'API_KEY', 'PLATFORM_ADMIN', 'SYSTEM');

-- CreateTable
CREATE TABLE "audit_entries" (
    "tenant_id" UUID NOT NULL,
    "id" UUID NOT NULL,
    "actor_type" "audit_actor_type" NOT NULL,
    "actor_id" UUID,
    "action" TEXT NOT NULL,
    "target_type" TEXT,
    "target_id" TEXT,
    "request_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_entries_pkey" PRIMARY KEY ("tenant_id","id")
);

-- CreateIndex
CREATE INDEX "audit_entries_tenant_id_actor_id_id_idx" ON "audit_entries"("tenant_id", "actor_id", "id");

-- CreateIndex
CREATE INDEX "audit_entries_tenant_id_action_id_idx" ON "audit_entries"("tenant_id", "action", "id");

-- Citus: co-located with organizations, distributed before the foreign key exists.
DO $citus$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    PERFORM create_distributed_table('audit_entries', 'tenant_id', colocate_with => 'organizations');
  END IF;
END
$citus$;

-- AddForeignKey
ALTER TABLE "audit_entries" ADD CONSTRAINT "audit_entries_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- Row-level security like every tenant table; then append-only for the services: a bug (or an attacker
-- with the services' credentials) cannot rewrite or erase the trail.
SELECT secure_tenant_table('audit_entries');
REVOKE UPDATE, DELETE ON "audit_entries" FROM coditect_app;
