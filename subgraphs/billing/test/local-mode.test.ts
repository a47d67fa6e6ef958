import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../../test/eventually.ts";
import {
  gql,
  onPlan,
  type Platform,
  signUpTenant,
  startPlatform,
  uniqueEmail,
} from "../../../test/platform.ts";
import { createScratchDatabase } from "../../../test/scratch-db.ts";
import { CANCEL, CHANGE_PLAN, CREATE_PROJECT, START_CHECKOUT, SUBSCRIPTION } from "./helpers.ts";

const INVITE = `mutation($email: String!) { inviteMember(input: { email: $email, role: MEMBER }) { invitation { id } } }`;
const SET_LIMITS = `mutation($input: SetOrganizationLimitsInput!) {
  setOrganizationLimits(input: $input) { organization { limits { maxProjects maxMembers } } }
}`;

/**
 * No STRIPE_SECRET_KEY (what `npm start` runs with): plan changes apply at once, without payment. With
 * Redis, so every service caches plan limits and the change must reach those caches.
 */
// Whole flows through every service and the worker: generous on a busy machine.
describe.skipIf(!inject("redisUrl"))(
  "billing in local mode (no Stripe), limits cached in Redis",
  { timeout: 60_000 },
  () => {
    let platform: Platform;
    beforeAll(async () => {
      platform = await startPlatform(inject("databaseUrl"), { redisUrl: `${inject("redisUrl")}/13` });
      // A cold platform's first requests are slow on a busy machine: paid here, under the hook's timeout.
      await signUpTenant(platform.gatewayUrl, "warm-up");
    });
    afterAll(() => platform?.close());

    // biome-ignore lint/suspicious/noExplicitAny: tests read the shapes they assert on
    const subscription = async (token: string): Promise<any> =>
      (await gql(platform.gatewayUrl, SUBSCRIPTION, { token })).data!.currentOrganization.subscription;
    const createProject = (token: string, name: string) =>
      gql(platform.gatewayUrl, CREATE_PROJECT, { token, variables: { name } });

    it("a free organization hits its project limit; upgrading applies at once and lifts it; cancelling brings it back", async () => {
      const tenant = await signUpTenant(platform.gatewayUrl, "local");
      for (const name of ["A", "B", "C"])
        expect((await createProject(tenant.token, name)).errors).toBeUndefined();
      const refused = await createProject(tenant.token, "D");
      expect(refused.errors?.[0]?.extensions).toMatchObject({
        code: "PLAN_LIMIT",
        limit: "projects",
        max: 3,
      });

      const upgraded = await gql(platform.gatewayUrl, START_CHECKOUT, {
        token: tenant.token,
        variables: { input: { planCode: "PRO" } },
      });
      expect(upgraded.errors).toBeUndefined();
      expect(upgraded.data!.startCheckout).toEqual({
        checkoutUrl: null,
        subscription: { status: "ACTIVE", plan: { code: "PRO" } },
      });
      expect(await subscription(tenant.token)).toMatchObject({
        localMode: true,
        plan: { code: "PRO" },
        limits: { maxProjects: 100 },
      });
      // The projects subgraph had FREE's limits cached; the change dropped them.
      expect((await createProject(tenant.token, "D")).errors).toBeUndefined();

      const enterprise = await gql(platform.gatewayUrl, CHANGE_PLAN, {
        token: tenant.token,
        variables: { input: { planCode: "ENTERPRISE", interval: "YEAR" } },
      });
      expect(enterprise.data!.changePlan.subscription).toMatchObject({
        interval: "YEAR",
        limits: { maxProjects: null },
      });

      const canceled = await gql(platform.gatewayUrl, CANCEL, { token: tenant.token });
      expect(canceled.data!.cancelSubscription.subscription.plan.code).toBe("FREE");
      const again = await createProject(tenant.token, "E");
      expect(again.errors?.[0]?.extensions?.code).toBe("PLAN_LIMIT");
      expect(await platform.prisma.project.count({ where: { tenantId: tenant.tenantId } })).toBe(4);
    });

    it("inviting beyond the plan's seats fails with PLAN_LIMIT, pending invitations counted", async () => {
      const tenant = await signUpTenant(platform.gatewayUrl, "seats");
      // FREE has 5 seats: the owner and four pending invitations fill them.
      for (let i = 0; i < 4; i++) {
        const res = await gql(platform.gatewayUrl, INVITE, {
          token: tenant.token,
          variables: { email: uniqueEmail("seat") },
        });
        expect(res.errors).toBeUndefined();
      }
      const refused = await gql(platform.gatewayUrl, INVITE, {
        token: tenant.token,
        variables: { email: uniqueEmail("seat") },
      });
      expect(refused.errors?.[0]?.extensions).toMatchObject({
        code: "PLAN_LIMIT",
        limit: "seats",
        max: 5,
        plan: "FREE",
      });
      expect(refused.errors?.[0]?.message).toMatch(/5 members.*upgrade/);
      expect(await platform.prisma.invitation.count({ where: { tenantId: tenant.tenantId } })).toBe(4);

      await gql(platform.gatewayUrl, START_CHECKOUT, {
        token: tenant.token,
        variables: { input: { planCode: "PRO" } },
      });
      const allowed = await gql(platform.gatewayUrl, INVITE, {
        token: tenant.token,
        variables: { email: uniqueEmail("seat") },
      });
      expect(allowed.errors).toBeUndefined();
    });

    it("applies a platform administrator's limit overrides at once: raised, lowered, cleared", async () => {
      const tenant = await signUpTenant(platform.gatewayUrl, "override");
      const support = await signUpTenant(platform.gatewayUrl, "support");
      await platform.prisma.platformAdmin.create({ data: { userId: support.userId, email: support.email } });
      const setLimits = async (limits: { maxProjects?: number; maxMembers?: number }) => {
        const res = await gql(platform.gatewayUrl, SET_LIMITS, {
          token: support.token,
          variables: { input: { organizationId: tenant.tenantId, ...limits } },
        });
        expect(res.errors).toBeUndefined();
        return res.data!.setOrganizationLimits.organization.limits;
      };
      const invite = () =>
        gql(platform.gatewayUrl, INVITE, { token: tenant.token, variables: { email: uniqueEmail("over") } });

      for (const name of ["A", "B", "C"])
        expect((await createProject(tenant.token, name)).errors).toBeUndefined();
      // The refusal leaves FREE's limits cached in the projects subgraph (and in Redis).
      expect((await createProject(tenant.token, "D")).errors?.[0]?.extensions).toMatchObject({
        code: "PLAN_LIMIT",
        max: 3,
        overridden: false,
      });

      expect(await setLimits({ maxProjects: 5 })).toEqual({ maxProjects: 5, maxMembers: null });
      expect((await createProject(tenant.token, "D")).errors).toBeUndefined();
      expect((await createProject(tenant.token, "E")).errors).toBeUndefined();
      const beyond = await createProject(tenant.token, "F");
      expect(beyond.errors?.[0]?.extensions).toMatchObject({
        code: "PLAN_LIMIT",
        limit: "projects",
        max: 5,
        plan: "FREE",
        overridden: true,
      });
      expect(beyond.errors?.[0]?.message).toMatch(/support team.*Ask support/);
      expect((await subscription(tenant.token)).limits).toMatchObject({
        planCode: "FREE",
        maxProjects: 5,
        maxSeats: 5,
      });

      // Identity caches the seats on the first invitation; lowering below the plan's 5 holds at once.
      expect((await invite()).errors).toBeUndefined();
      await setLimits({ maxProjects: 5, maxMembers: 2 });
      expect((await invite()).errors?.[0]?.extensions).toMatchObject({
        code: "PLAN_LIMIT",
        limit: "seats",
        max: 2,
        overridden: true,
      });

      // Cleared: the plan's numbers again. The five projects stay; a sixth is refused at FREE's 3.
      expect(await setLimits({})).toEqual({ maxProjects: null, maxMembers: null });
      expect((await invite()).errors).toBeUndefined();
      expect((await createProject(tenant.token, "F")).errors?.[0]?.extensions).toMatchObject({
        code: "PLAN_LIMIT",
        max: 3,
        overridden: false,
      });
      expect(
        await platform.prisma.project.count({ where: { tenantId: tenant.tenantId, deletedAt: null } }),
      ).toBe(5);
    });

    it("counts a restored project against the plan too", async () => {
      const tenant = await signUpTenant(platform.gatewayUrl, "restore");
      const ids: string[] = [];
      for (const name of ["A", "B", "C"])
        ids.push((await createProject(tenant.token, name)).data!.createProject.project.id);
      const deleted = await gql(
        platform.gatewayUrl,
        "mutation($id: ID!) { deleteProject(input: { id: $id, version: 1 }) { project { version } } }",
        {
          token: tenant.token,
          variables: { id: ids[0] },
        },
      );
      expect(deleted.errors).toBeUndefined();
      expect((await createProject(tenant.token, "D")).errors).toBeUndefined();
      const restore = await gql(
        platform.gatewayUrl,
        "mutation($id: ID!, $version: Int!) { restoreProject(input: { id: $id, version: $version }) { project { id } } }",
        {
          token: tenant.token,
          variables: { id: ids[0], version: deleted.data!.deleteProject.project.version },
        },
      );
      expect(restore.errors?.[0]?.extensions).toMatchObject({ code: "PLAN_LIMIT", limit: "projects" });
      expect(
        await platform.prisma.project.count({ where: { tenantId: tenant.tenantId, deletedAt: null } }),
      ).toBe(3);
    });

    it("lets only a platform administrator change a plan, and every organization on it follows at once", async () => {
      // A plan of this test's own, so no other test's organizations see the change.
      const code = `TEST_${Date.now().toString(36).toUpperCase()}`;
      await platform.prisma.plan.create({
        data: { code, name: "Test", monthlyPriceCents: 0, yearlyPriceCents: 0, maxProjects: 1 },
      });
      const tenant = await signUpTenant(platform.gatewayUrl, "catalogue");
      await onPlan(platform, tenant.tenantId, code);
      expect((await createProject(tenant.token, "One")).errors).toBeUndefined();
      expect((await createProject(tenant.token, "Two")).errors?.[0]?.extensions?.code).toBe("PLAN_LIMIT");

      const UPDATE = `mutation($input: UpdatePlanInput!) { updatePlan(input: $input) { plan { code maxProjects features } } }`;
      const raise = { input: { code, maxProjects: null, features: ["projects"] } };
      // The organization's OWNER is no platform administrator.
      const refused = await gql(platform.gatewayUrl, UPDATE, { token: tenant.token, variables: raise });
      expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect((await platform.prisma.plan.findUniqueOrThrow({ where: { code } })).maxProjects).toBe(1);

      await platform.prisma.platformAdmin.create({ data: { userId: tenant.userId, email: tenant.email } });
      const bad = await gql(platform.gatewayUrl, UPDATE, {
        token: tenant.token,
        variables: { input: { code, maxSeats: -1, stripeMonthlyPriceId: "nope" } },
      });
      expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(bad.errors?.[0]?.message).toContain("input.maxSeats: must be 0 or more");
      expect(bad.errors?.[0]?.message).toContain("input.stripeMonthlyPriceId: must be a Stripe price id");
      const raised = await gql(platform.gatewayUrl, UPDATE, { token: tenant.token, variables: raise });
      expect(raised.data!.updatePlan.plan).toEqual({ code, maxProjects: null, features: ["projects"] });
      // The projects subgraph had the old limit cached; the change dropped it.
      expect((await createProject(tenant.token, "Two")).errors).toBeUndefined();
    });

    it("has no portal or invoices without Stripe, and says it runs locally", async () => {
      const tenant = await signUpTenant(platform.gatewayUrl, "portal");
      const portal = await gql(platform.gatewayUrl, "mutation { createBillingPortalSession { url } }", {
        token: tenant.token,
      });
      expect(portal.data!.createBillingPortalSession.url).toBeNull();
      const invoices = await gql(platform.gatewayUrl, "{ currentOrganization { invoices { id } } }", {
        token: tenant.token,
      });
      expect(invoices.data!.currentOrganization.invoices).toEqual([]);
      expect((await subscription(tenant.token)).localMode).toBe(true);
    });

    it("refuses the Stripe webhook endpoint: there is no Stripe to hear from", async () => {
      const response = await fetch(new URL("/webhooks/stripe", platform.subgraphUrls.billing), {
        method: "POST",
        body: "{}",
      });
      expect(response.status).toBe(404);
    });

    it("answers the plan-limits route only to the gateway's signed context", async () => {
      const response = await fetch(new URL("/internal/plan-limits", platform.subgraphUrls.billing), {
        headers: { "x-coditect-context": "forged" },
      });
      expect(response.status).toBe(401);
    });
  },
);

describe.skipIf(!inject("redisUrl"))(
  "limit overrides when the tenants subgraph cannot reach Redis",
  { timeout: 90_000 },
  () => {
    let platform: Platform;
    let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
    beforeAll(async () => {
      // The worker's relay leads one per database: a database of this test's own.
      scratch = await createScratchDatabase(inject("databaseUrl"), "coditect_ovr");
      platform = await startPlatform(scratch.url, {
        redisUrl: `${inject("redisUrl")}/10`,
        worker: true,
        workerSettings: { USAGE_FLUSH_CRON: "0 0 1 1 *" },
        // Nothing listens there: the mutation's own invalidation fails.
        tenants: { REDIS_URL: "redis://127.0.0.1:1" },
      });
      await signUpTenant(platform.gatewayUrl, "warm-up");
    }, 90_000);
    afterAll(async () => {
      await platform?.close();
      await scratch?.drop();
    });

    it("the worker drops the cached limits on the outbox announcement of the change", async () => {
      const tenant = await signUpTenant(platform.gatewayUrl, "repair");
      const support = await signUpTenant(platform.gatewayUrl, "support");
      await platform.prisma.platformAdmin.create({ data: { userId: support.userId, email: support.email } });
      const createProject = (name: string) =>
        gql(platform.gatewayUrl, CREATE_PROJECT, { token: tenant.token, variables: { name } });
      for (const name of ["A", "B", "C"]) expect((await createProject(name)).errors).toBeUndefined();
      expect((await createProject("D")).errors?.[0]?.extensions?.code).toBe("PLAN_LIMIT");

      const raised = await gql(platform.gatewayUrl, SET_LIMITS, {
        token: support.token,
        variables: { input: { organizationId: tenant.tenantId, maxProjects: 4 } },
      });
      expect(raised.errors).toBeUndefined();
      // The cached FREE limits would otherwise hold for the Redis entry's 10 minutes.
      const created = await eventually(
        () => createProject("D"),
        (res) => res.errors?.[0]?.extensions?.code !== "PLAN_LIMIT",
        30_000,
      );
      expect(created.errors).toBeUndefined();
    });
  },
);
