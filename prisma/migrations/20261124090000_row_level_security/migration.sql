-- Row-level security as the backstop behind the tenant-scoped client (issue 6). Services connect as
-- `coditect_app`: it owns nothing, has no BYPASSRLS, and sees a tenant table's rows only for the tenant
-- its transaction names with `SET LOCAL app.tenant_id = '<uuid>'` (the form Citus propagates to the
-- workers). With no tenant set it sees no rows at all. `coditect_cross_tenant` is the role of the named
-- places that cross tenants on purpose (sign-up, log-in, platform administration): a permissive policy
-- of its own lets it through, so it needs no BYPASSRLS (which only a superuser may grant on
-- PostgreSQL 15). Migrations keep running as the owner; FORCE makes the policies apply to a
-- non-superuser owner too (the superuser of our deployments bypasses them).
--
-- Roles belong to the cluster, not the database: several databases (tests, scratch databases) create
-- them concurrently, so a lost race is ignored. Creating them needs CREATEROLE; their passwords are set
-- by the migration runner (prisma/src/roles.ts), never here.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'coditect_app') THEN
    BEGIN
      CREATE ROLE coditect_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'coditect_cross_tenant') THEN
    BEGIN
      CREATE ROLE coditect_cross_tenant LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
END
$roles$;

-- Citus runs a transaction's statements on the workers over its own connections: only with this
-- setting does a literal SET LOCAL reach them (see shared/notes/citus.md).
DO $citus$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    ALTER ROLE coditect_app SET citus.propagate_set_commands = 'local';
    ALTER ROLE coditect_cross_tenant SET citus.propagate_set_commands = 'local';
  END IF;
END
$citus$;

GRANT USAGE ON SCHEMA public TO coditect_app;
GRANT USAGE ON SCHEMA public TO coditect_cross_tenant;

-- Puts one tenant table behind row-level security: ENABLE + FORCE, the tenant policy, the cross-tenant
-- policy, and the grants of both roles. Every migration that creates a tenant table calls it
-- (`SELECT secure_tenant_table('things');`); test/rls.test.ts fails for a table with a tenant column
-- that lacks any of it.
--
-- The policy compares with NULLIF(current_setting('app.tenant_id', true), '')::uuid:
-- - `true` (missing_ok): a connection that never set the tenant gets NULL, so no row matches, rather
--   than an error;
-- - NULLIF: once a transaction has used SET LOCAL, the setting exists in that session and reads '' after
--   the transaction ends, and ''::uuid would raise; NULL matches no row instead;
-- - the expression is STABLE, so an index scan computes it once per scan, not once per row.
-- One policy covers SELECT, INSERT, UPDATE and DELETE (USING doubles as WITH CHECK), so a row can be
-- neither read, written into nor moved to another tenant.
CREATE FUNCTION secure_tenant_table(tbl regclass, tenant_column name DEFAULT 'tenant_id')
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
  EXECUTE format(
    $p$CREATE POLICY tenant_isolation ON %s USING (%I = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$,
    tbl, tenant_column);
  EXECUTE format('DROP POLICY IF EXISTS cross_tenant ON %s', tbl);
  EXECUTE format('CREATE POLICY cross_tenant ON %s TO coditect_cross_tenant USING (true) WITH CHECK (true)', tbl);
  -- One GRANT per table and role: Citus refuses a GRANT naming tables of different kinds.
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO coditect_app', tbl);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO coditect_cross_tenant', tbl);
END
$fn$;

-- Every table with a tenant column, found in the catalogue (so tables added by migrations that sort
-- before this one are covered too), and organizations, whose tenant is its own id.
DO $secure$
DECLARE
  t regclass;
BEGIN
  FOR t IN
    SELECT c.oid::regclass
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
    ORDER BY c.relname
  LOOP
    PERFORM secure_tenant_table(t);
  END LOOP;
  PERFORM secure_tenant_table('organizations', 'id');
END
$secure$;

-- Global tables (users, e-mail lookups, credentials, plans...): only the cross-tenant role reaches them,
-- since they hold every tenant's people and secrets; a tenant reads its members' profiles from
-- memberships. Plans are a public catalogue that tenants read too. A migration that adds a global table
-- grants it to coditect_cross_tenant (test/rls.test.ts checks that every table is reachable).
DO $global$
DECLARE
  t regclass;
BEGIN
  FOR t IN
    SELECT c.oid::regclass
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
      AND c.relname <> '_migrations'
    ORDER BY c.relname
  LOOP
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO coditect_cross_tenant', t);
  END LOOP;
END
$global$;

GRANT SELECT ON plans TO coditect_app;
