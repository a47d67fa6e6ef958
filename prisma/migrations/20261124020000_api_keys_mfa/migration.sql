-- Partner API keys (tenant-owned) and the TOTP second factor with recovery codes (global, per user).
-- Body as `npm run db:drift` prints it against the previous migrations; the Citus block added by hand.

-- CreateEnum
CREATE TYPE "api_key_scope" AS ENUM ('READ', 'WRITE');

-- CreateTable
CREATE TABLE "api_keys" (
    "tenant_id" UUID NOT NULL,
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "scopes" "api_key_scope"[],
    "secret_hash" BYTEA NOT NULL,
    "hint" TEXT NOT NULL,
    "created_by" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("tenant_id","id")
);

-- CreateTable
CREATE TABLE "user_totp" (
    "user_id" UUID NOT NULL,
    "secret" TEXT NOT NULL,
    "enabled_at" TIMESTAMPTZ(3),
    "last_step" BIGINT,
    "failed_attempts" INTEGER NOT NULL DEFAULT 0,
    "locked_until" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "user_totp_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "user_recovery_codes" (
    "user_id" UUID NOT NULL,
    "code_hash" TEXT NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "user_recovery_codes_pkey" PRIMARY KEY ("user_id","code_hash")
);

-- Citus: distribute before the foreign key exists. api_keys is a tenant table, co-located with
-- organizations; the second-factor tables are per user, co-located with users (distributed by id).
DO $citus$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
    PERFORM create_distributed_table('api_keys', 'tenant_id', colocate_with => 'organizations');
    PERFORM create_distributed_table('user_totp', 'user_id', colocate_with => 'users');
    PERFORM create_distributed_table('user_recovery_codes', 'user_id', colocate_with => 'users');
  END IF;
END
$citus$;

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE RESTRICT;
