import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The easy mistake: reaching the database past the tenant-scoped client. Outside prisma/ (and tests,
 * benchmarks and scripts), only the named places below may create a raw client, hold one, run SQL or
 * talk to PostgreSQL directly; domain modules may not at all.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Places allowed the raw client or SQL, and why. */
const ALLOWED: Record<string, string> = {
  "packages/common/src/subgraph.ts": "creates each subgraph's client",
  "packages/common/src/context.ts": "turns the raw client into the tenant-scoped one",
  "packages/common/src/events.ts": "LISTEN for realtime events; reads an event by (tenant, seq)",
  "packages/common/src/pg-pool.ts": "builds the pg pools of the places named here (createPool)",
  "subgraphs/tenants/src/app.ts": "hands the client to the context",
  "subgraphs/tenants/src/context.ts": "builds the tenant context",
  "subgraphs/identity/src/app.ts": "hands the client to the context",
  "subgraphs/identity/src/context.ts": "sign-up and log-in run before a tenant exists (ctx.accounts)",
  "subgraphs/projects/src/app.ts": "hands the client to the context",
  "subgraphs/projects/src/context.ts": "builds the tenant context",
  "subgraphs/billing/src/app.ts": "hands the client to the context",
  "subgraphs/billing/src/context.ts": "the global plan catalogue (ctx.plans)",
  "worker/src/outbox/relay.ts": "the relay reads every tenant's pending events",
  "worker/src/outbox/postgres-sink.ts": "NOTIFY for realtime without Redis",
  "subgraphs/tenants/src/modules/directory/directory.ts":
    "public pre-login lookups: slug or host -> organization",
  "subgraphs/tenants/src/modules/platform/cross-tenant.ts": "platform administration's one audited path",
  "subgraphs/tenants/src/modules/platform/admins.ts": "grants the platform-admin role (command line only)",
  "subgraphs/tenants/src/cli/admin.ts": "npm run admin:grant / admin:revoke / admin:list",
  "subgraphs/tenants/src/modules/gdpr/account-deletion.ts":
    "deleteMyAccount: the user's rows in every organization",
  "worker/src/jobs/tenant-data.ts": "GDPR: a tenant's rows in every table, exported or purged",
  "worker/src/jobs/organization-jobs.ts": "GDPR jobs' pool",
  "subgraphs/billing/src/modules/webhooks/webhooks.route.ts": "webhooks name a Stripe customer, not a tenant",
  "subgraphs/billing/src/modules/plans/limits.route.ts": "the limits of the tenant the gateway vouches for",
  "packages/billing/src/limits.ts": "reads the global plan catalogue",
  "packages/billing/src/stripe-events.ts": "the Stripe event job: the event's tenant, and the plan catalogue",
  "packages/billing/src/usage.ts": "the usage flush writes and reports every tenant's records",
  "worker/src/jobs/billing-jobs.ts": "billing jobs' pool (Stripe events, usage flush)",
};

const RAW = [
  /\bcreatePrismaClient\b/,
  /\bPrismaClient\b(?!KnownRequestError)/,
  /from "pg"/,
  // A pool of packages/common/src/pg-pool.ts is a raw connection like any other.
  /\bcreatePool\b/,
  /\$queryRaw|\$executeRaw/,
  /getDb\(\)\.executeSql/,
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory())
      return name === "generated" || name === "node_modules" ? [] : sources(path);
    return path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  });
}

const roots = [
  "gateway/src",
  "packages/common/src",
  "packages/billing/src",
  "worker/src",
  ...["tenants", "identity", "projects", "billing"].map((s) => `subgraphs/${s}/src`),
];
const files = roots.flatMap((root) => sources(join(ROOT, root))).map((path) => relative(ROOT, path));

describe("raw database access stays in its named places", () => {
  it("finds the sources it guards", () => {
    expect(files.length).toBeGreaterThan(40);
    expect(files).toContain("subgraphs/projects/src/modules/tasks/tasks.service.ts");
  });

  it("lets no other file create, hold or bypass the tenant-scoped client", () => {
    const offenders = files
      .filter((file) => !(file in ALLOWED))
      .flatMap((file) => {
        const text = readFileSync(join(ROOT, file), "utf8");
        return RAW.filter((pattern) => pattern.test(text)).map((pattern) => `${file}: ${pattern}`);
      });
    // The worker's job handlers and admin tools read pg-boss's own tables; they are not tenant data.
    const allowedWorker = (o: string) => /^worker\/src\/(app|jobs\/admin)\.ts: \/getDb/.test(o);
    expect(offenders.filter((o) => !allowedWorker(o))).toEqual([]);
  });

  it("hands the cross-tenant role's client only to the named places", () => {
    // `crossTenant` connects as coditect_cross_tenant, which row-level security lets through every
    // tenant: each file that touches it is listed here with its reason.
    const CROSS_TENANT: Record<string, string> = {
      "packages/common/src/subgraph.ts": "creates the client from DATABASE_CROSS_TENANT_URL",
      "subgraphs/tenants/src/app.ts": "passes it to the context",
      "subgraphs/identity/src/app.ts": "passes it to the context",
      "subgraphs/projects/src/app.ts": "passes it to the context",
      "subgraphs/billing/src/app.ts": "passes it to the Stripe webhook route",
      "subgraphs/billing/src/modules/webhooks/webhooks.route.ts": "customer -> tenant lookup of a webhook",
      "subgraphs/identity/src/context.ts": "sign-up and log-in (ctx.accounts)",
      "subgraphs/tenants/src/context.ts": "public lookups, platform administration, account deletion",
    };
    const users = files.filter((file) => /\bcrossTenant\b/.test(readFileSync(join(ROOT, file), "utf8")));
    expect(users.filter((file) => !(file in CROSS_TENANT))).toEqual([]);
  });

  it("uses the cross-tenant context members only where they are meant", () => {
    const uses = (member: string) =>
      files.filter((file) => new RegExp(`ctx\\.${member}\\b`).test(readFileSync(join(ROOT, file), "utf8")));
    expect(uses("directory")).toEqual([
      "subgraphs/tenants/src/modules/organizations/organizations.service.ts",
    ]);
    expect(uses("platform")).toEqual(["subgraphs/tenants/src/modules/platform/platform.service.ts"]);
    expect(uses("accountDeletion")).toEqual(["subgraphs/tenants/src/modules/gdpr/account.service.ts"]);
    expect(uses("newTenant")).toEqual([
      "subgraphs/tenants/src/modules/organizations/organizations.service.ts",
    ]);
    // Identity's global tables (users, e-mail tokens, sessions, second factors) and a user's memberships
    // across organizations (log-in, myOrganizations, invitation acceptance).
    const ACCOUNTS = [
      "subgraphs/identity/src/modules/accounts/accounts.service.ts",
      "subgraphs/identity/src/modules/invitations/invitations.service.ts",
      "subgraphs/identity/src/modules/memberships/memberships.service.ts",
      "subgraphs/identity/src/modules/mfa/challenge.ts",
      "subgraphs/identity/src/modules/mfa/mfa.service.ts",
      "subgraphs/identity/src/modules/sessions/sessions.service.ts",
      "subgraphs/identity/src/modules/users/users.service.ts",
    ];
    expect(uses("accounts")).toContain(ACCOUNTS[0]);
    expect(uses("accounts").filter((file) => !ACCOUNTS.includes(file))).toEqual([]);
    expect(uses("plans").every((file) => file.startsWith("subgraphs/billing/src/modules/"))).toBe(true);
  });
});
