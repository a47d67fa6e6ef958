-- Registered operations (issue 9): the named GraphQL operations an organization's ADMIN registers for
-- its partners' API keys. Tenant-owned: tenant_id leads the primary key and both unique indexes, and the
-- table is co-located with organizations on Citus.

-- CreateEnum
CREATE TYPE "operation_type" AS ENUM ('QUERY', 'MUTATION', 'SUBSCRIPTION');

-- CreateTable
CREATE TABLE "registered_operations" (
    "tenant_id" UUID NOT NULL,
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "sha256_hash" TEXT NOT NULL,
    "document" TEXT NOT NULL,
    "operation_type" "operation_type" NOT NULL,
    "created_by" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "registered_operations_pkey" PRIMARY KEY ("tenant_id","id")
);

-- Citus: distribute before the foreign key exists.
DO $citus$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    PERFORM create_distributed_table('registered_operations', 'tenant_id', colocate_with => 'organizations');
  END IF;
END
$citus$;

-- CreateIndex
CREATE UNIQUE INDEX "registered_operations_tenant_id_name_key" ON "registered_operations"("tenant_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "registered_operations_tenant_id_sha256_hash_key" ON "registered_operations"("tenant_id", "sha256_hash");

-- AddForeignKey
ALTER TABLE "registered_operations" ADD CONSTRAINT "registered_operations_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE RESTRICT;

-- Row-level security like every tenant table. The migration that introduces it (..._row_level_security)
-- secures every tenant table it finds, which includes this one when it runs later; on a database where
-- it already ran, this does it.
DO $rls$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'secure_tenant_table') THEN
    PERFORM secure_tenant_table('registered_operations');
  END IF;
END
$rls$;
