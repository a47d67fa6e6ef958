import { randomBytes } from "node:crypto";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import WebSocket from "ws";
import { eventually } from "../../../test/eventually.ts";
import { gql, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { grantPlatformAdmin, revokePlatformAdmin } from "../src/modules/platform/admins.ts";
import { codeOf, ok } from "./helpers.ts";

/**
 * Platform administration through the gateway: a role outside every tenant; search, list, view, suspend,
 * reactivate and limits; every access recorded in the organization's own trail; a suspended
 * organization's valid token refused at the gateway within the cache lifetime (without Redis: each
 * gateway's own cache expires) or at once (with Redis: the change is announced).
 */

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;
const suffix = randomBytes(3).toString("hex");
const TTL_SECONDS = 2;

const LIST = `query($search: String, $status: OrganizationStatus, $first: Int, $after: String) {
  platformOrganizations(search: $search, status: $status, first: $first, after: $after) {
    edges { cursor node { id name slug status plan memberCount projectCount suspendedReason } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const VIEW = `query($id: ID!) { platformOrganization(id: $id) { id name status memberCount projectCount limits { maxCustomDomains } } }`;
const SUSPEND = `mutation($id: ID!, $reason: String!) { suspendOrganization(input: { organizationId: $id, reason: $reason }) { organization { status suspendedReason } } }`;
const REACTIVATE = `mutation($id: ID!) { reactivateOrganization(input: { organizationId: $id }) { organization { status suspendedReason } } }`;
const CURRENT = `{ currentOrganization { id status } }`;

let platform: Platform;
let admin: Tenant;
let owner: Tenant;
let other: Tenant;

/** The organization's own audit log, as its ADMINs read it through the gateway. */
async function trail(tenant: Tenant, action: string) {
  const res = await ok(
    platform.gatewayUrl,
    `query($action: String) { auditLog(filter: { action: $action }, first: 100) { edges { node { actorType actorId action targetType targetId requestId } } } }`,
    { token: tenant.token, variables: { action } },
  );
  return res.auditLog.edges.map((e: { node: unknown }) => e.node).reverse() as Array<Record<string, string>>;
}

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"), {
    gateway: { ORGANIZATION_CACHE_TTL_SECONDS: String(TTL_SECONDS) },
  });
  // One after another: sign-up holds a cross-tenant connection, of which the test platform has two.
  admin = await signUpTenant(platform.gatewayUrl, `support-${suffix}`);
  owner = await signUpTenant(platform.gatewayUrl, `customer-${suffix}`);
  other = await signUpTenant(platform.gatewayUrl, `other-${suffix}`);
  await grantPlatformAdmin(platform.prisma, admin.email);
  for (const name of ["One", "Two"])
    await ok(
      platform.gatewayUrl,
      `mutation($n: String!) { createProject(input: { name: $n }) { project { id } } }`,
      {
        token: owner.token,
        variables: { n: name },
      },
    );
});

afterAll(async () => {
  await platform?.close();
});

describe("who may administer the platform", () => {
  it("refuses tenant OWNERs and anonymous callers every query and mutation, and changes nothing", async () => {
    const calls: Array<[string, Record<string, unknown>]> = [
      [LIST, {}],
      [VIEW, { id: owner.tenantId }],
      [SUSPEND, { id: owner.tenantId, reason: "takeover" }],
      [REACTIVATE, { id: owner.tenantId }],
      [
        `mutation($id: ID!) { setOrganizationLimits(input: { organizationId: $id, maxProjects: 999 }) { organization { id } } }`,
        { id: owner.tenantId },
      ],
    ];
    for (const [query, variables] of calls) {
      const asOwner = await gql(platform.gatewayUrl, query, { token: other.token, variables });
      expect(codeOf(asOwner), query).toBe("FORBIDDEN");
      expect(asOwner.data?.platformOrganizations ?? asOwner.data?.suspendOrganization ?? null).toBeNull();
      const anonymous = await gql(platform.gatewayUrl, query, { variables });
      expect(codeOf(anonymous), query).toBe("UNAUTHENTICATED");
    }
    expect((await ok(platform.gatewayUrl, CURRENT, { token: owner.token })).currentOrganization.status).toBe(
      "ACTIVE",
    );
  });

  it("loses access at once when revoked", async () => {
    const temp = await signUpTenant(platform.gatewayUrl, `temp-admin-${suffix}`);
    await grantPlatformAdmin(platform.prisma, temp.email);
    expect(
      codeOf(await gql(platform.gatewayUrl, LIST, { token: temp.token, variables: { first: 1 } })),
    ).toBeUndefined();
    await revokePlatformAdmin(platform.prisma, temp.email);
    expect(codeOf(await gql(platform.gatewayUrl, LIST, { token: temp.token, variables: { first: 1 } }))).toBe(
      "FORBIDDEN",
    );
  });
});

describe("search, list and view", () => {
  it("finds an organization by slug, id or name prefix with its plan and counts", async () => {
    const slug = (await ok(platform.gatewayUrl, `{ currentOrganization { slug } }`, { token: owner.token }))
      .currentOrganization.slug;
    for (const search of [slug, owner.tenantId, `CUSTOMER-${suffix}`]) {
      const res = await ok(platform.gatewayUrl, LIST, { token: admin.token, variables: { search } });
      const nodes = res.platformOrganizations.edges.map((e: { node: unknown }) => e.node);
      expect(nodes, search).toEqual([
        expect.objectContaining({
          id: owner.tenantId,
          slug,
          status: "ACTIVE",
          memberCount: 1,
          projectCount: 2,
          plan: null,
        }),
      ]);
    }
  });

  it("pages through a name search in name order, and lists newest first without one", async () => {
    const prefix = `Zeta${suffix}`;
    for (const n of ["c", "a", "b"])
      await ok(
        platform.gatewayUrl,
        `mutation($n: String!) { createOrganization(input: { name: $n }) { organization { id } } }`,
        {
          token: other.token,
          variables: { n: `${prefix} ${n}` },
        },
      );
    const first = await ok(platform.gatewayUrl, LIST, {
      token: admin.token,
      variables: { search: prefix.toLowerCase(), first: 2 },
    });
    expect(first.platformOrganizations.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual([
      `${prefix} a`,
      `${prefix} b`,
    ]);
    expect(first.platformOrganizations.pageInfo.hasNextPage).toBe(true);
    const second = await ok(platform.gatewayUrl, LIST, {
      token: admin.token,
      variables: { search: prefix, first: 2, after: first.platformOrganizations.pageInfo.endCursor },
    });
    expect(second.platformOrganizations.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual([
      `${prefix} c`,
    ]);
    expect(second.platformOrganizations.pageInfo.hasNextPage).toBe(false);

    // LIKE wildcards are searched for as characters.
    expect(
      (await ok(platform.gatewayUrl, LIST, { token: admin.token, variables: { search: "%" } }))
        .platformOrganizations.edges,
    ).toEqual([]);

    // Newest first (other tests' organizations may come between, never out of order).
    const newest = await ok(platform.gatewayUrl, LIST, { token: admin.token, variables: { first: 100 } });
    const names = newest.platformOrganizations.edges.map((e: { node: { name: string } }) => e.node.name);
    expect(names.filter((n: string) => n.startsWith(prefix))).toEqual([
      `${prefix} b`,
      `${prefix} a`,
      `${prefix} c`,
    ]);

    const badCursor = await gql(platform.gatewayUrl, LIST, {
      token: admin.token,
      variables: { first: 2, after: first.platformOrganizations.pageInfo.endCursor },
    });
    expect(codeOf(badCursor)).toBe("BAD_USER_INPUT");
    expect(
      codeOf(await gql(platform.gatewayUrl, LIST, { token: admin.token, variables: { first: 1000 } })),
    ).toBe("BAD_USER_INPUT");
  });

  it("views one organization and records it in that organization's trail, and only there", async () => {
    const before = (await trail(owner, "platform.organization.viewed")).length;
    const res = await ok(platform.gatewayUrl, VIEW, {
      token: admin.token,
      variables: { id: owner.tenantId },
    });
    expect(res.platformOrganization).toMatchObject({
      id: owner.tenantId,
      memberCount: 1,
      projectCount: 2,
      limits: { maxCustomDomains: null },
    });
    const entries = await trail(owner, "platform.organization.viewed");
    expect(entries).toHaveLength(before + 1);
    expect(entries.at(-1)).toMatchObject({
      actorType: "PLATFORM_ADMIN",
      actorId: admin.userId,
      targetType: "Organization",
      targetId: owner.tenantId,
    });
    expect(await trail(other, "platform.organization.viewed")).toHaveLength(0);

    expect(
      (
        await ok(platform.gatewayUrl, VIEW, {
          token: admin.token,
          variables: { id: "0190f2d4-7a4b-7c3e-8a1b-000000000000" },
        })
      ).platformOrganization,
    ).toBeNull();
    expect(
      (await ok(platform.gatewayUrl, VIEW, { token: admin.token, variables: { id: "not-a-uuid" } }))
        .platformOrganization,
    ).toBeNull();
  });
});

describe("suspend and reactivate", () => {
  it("refuses the suspended organization's valid token at the gateway within the cache lifetime, then lets it back", async () => {
    // Warm the gateway's cache with ACTIVE, so the refusal below has to come from expiry.
    expect((await ok(platform.gatewayUrl, CURRENT, { token: owner.token })).currentOrganization.status).toBe(
      "ACTIVE",
    );
    const suspended = await ok(platform.gatewayUrl, SUSPEND, {
      token: admin.token,
      variables: { id: owner.tenantId, reason: "unpaid invoices" },
    });
    expect(suspended.suspendOrganization.organization).toEqual({
      status: "SUSPENDED",
      suspendedReason: "unpaid invoices",
    });
    // Without Redis this gateway may answer from its cache until the entry expires, and not after: once
    // the cache lifetime has passed, the very next request is refused.
    await new Promise((resolve) => setTimeout(resolve, TTL_SECONDS * 1000 + 100));
    const refused = await gql(platform.gatewayUrl, CURRENT, { token: owner.token });
    expect(refused.status).toBe(403);
    expect(refused.errors![0]!.extensions).toMatchObject({
      code: "FORBIDDEN",
      reason: "ORGANIZATION_SUSPENDED",
    });
    expect(refused.data ?? null).toBeNull();
    // Mutations too, and the other organizations are not affected.
    const write = await gql(
      platform.gatewayUrl,
      `mutation { createProject(input: { name: "sneaky" }) { project { id } } }`,
      { token: owner.token },
    );
    expect(codeOf(write)).toBe("FORBIDDEN");
    expect((await ok(platform.gatewayUrl, CURRENT, { token: other.token })).currentOrganization.id).toBe(
      other.tenantId,
    );
    // Log-in to a suspended organization gives no new token either.
    const login = await gql(
      platform.gatewayUrl,
      `mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }`,
      {
        variables: { input: { email: owner.email, password: "correct horse battery staple" } },
      },
    );
    expect(login.data?.logIn ?? null).toBeNull();

    expect((await trail(other, "platform.organization.suspended")).length).toBe(0);

    await ok(platform.gatewayUrl, REACTIVATE, { token: admin.token, variables: { id: owner.tenantId } });
    await eventually(
      () => gql(platform.gatewayUrl, CURRENT, { token: owner.token }),
      (res) => res.data?.currentOrganization?.status === "ACTIVE",
      (TTL_SECONDS + 3) * 1000,
    );
    // Both changes are in the organization's own log, by the platform administrator.
    for (const action of ["platform.organization.suspended", "platform.organization.reactivated"])
      expect(await trail(owner, action), action).toEqual([
        expect.objectContaining({
          actorType: "PLATFORM_ADMIN",
          actorId: admin.userId,
          targetId: owner.tenantId,
        }),
      ]);
  });

  it("closes the suspended organization's open subscriptions with 4403", async () => {
    const victim = await signUpTenant(platform.gatewayUrl, `subscriber-${suffix}`);
    const created = await ok(
      platform.gatewayUrl,
      `mutation { createProject(input: { name: "Watched" }) { project { id } } }`,
      { token: victim.token },
    );
    let closed: { code: number; reason: string } | undefined;
    let connected!: () => void;
    const acknowledged = new Promise<void>((resolve) => {
      connected = resolve;
    });
    const client = createClient({
      url: platform.gatewayWsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      // The close is what this test waits for (on.closed): not an error to print.
      onNonLazyError: () => {},
      connectionParams: { Authorization: `Bearer ${victim.token}` },
      on: {
        connected: () => connected(),
        closed: (event) => {
          const e = event as { code: number; reason: string };
          closed = { code: e.code, reason: e.reason };
        },
      },
    });
    try {
      client.subscribe(
        {
          query: `subscription($id: ID!) { taskChanged(projectId: $id) { kind } }`,
          variables: { id: created.createProject.project.id },
        },
        { next: () => {}, error: () => {}, complete: () => {} },
      );
      await acknowledged;
      await ok(platform.gatewayUrl, SUSPEND, {
        token: admin.token,
        variables: { id: victim.tenantId, reason: "abuse" },
      });
      // The connection checks its credential every 5 s, through the status cache (lifetime 2 s here).
      await eventually(() => closed, Boolean, (TTL_SECONDS + 5 + 5) * 1000);
      expect(closed).toEqual({ code: 4403, reason: "Forbidden: the organization is suspended" });
    } finally {
      await client.dispose();
    }
  });

  it("validates its input and says NOT_FOUND for an unknown organization", async () => {
    const empty = await gql(platform.gatewayUrl, SUSPEND, {
      token: admin.token,
      variables: { id: owner.tenantId, reason: " " },
    });
    expect(codeOf(empty)).toBe("BAD_USER_INPUT");
    expect(empty.errors![0]!.message).toContain("input.reason");
    const malformed = await gql(platform.gatewayUrl, SUSPEND, {
      token: admin.token,
      variables: { id: "1 OR 1=1", reason: "x" },
    });
    expect(codeOf(malformed)).toBe("BAD_USER_INPUT");
    const unknown = await gql(platform.gatewayUrl, SUSPEND, {
      token: admin.token,
      variables: { id: "0190f2d4-7a4b-7c3e-8a1b-000000000000", reason: "x" },
    });
    expect(codeOf(unknown)).toBe("NOT_FOUND");
  });
});

describe.skipIf(!inject("redisUrl"))("with Redis", () => {
  it("refuses a suspended organization's token at once, however long the cache lifetime", async () => {
    // A second deployment of the same database whose gateway caches for an hour: only the
    // announcement of the change can make it refuse the token.
    const shared = await startPlatform(inject("databaseUrl"), {
      redisUrl: inject("redisUrl"),
      // The same signing keys and issuer: the first deployment's tokens work here.
      keysDir: platform.keysDir,
      issuer: platform.issuer,
      gateway: { ORGANIZATION_CACHE_TTL_SECONDS: "3600" },
    });
    try {
      const victim = await signUpTenant(shared.gatewayUrl, `redis-${suffix}`);
      expect((await ok(shared.gatewayUrl, CURRENT, { token: victim.token })).currentOrganization.status).toBe(
        "ACTIVE",
      );
      await ok(shared.gatewayUrl, SUSPEND, {
        token: admin.token,
        variables: { id: victim.tenantId, reason: "abuse" },
      });
      const refused = await eventually(
        () => gql(shared.gatewayUrl, CURRENT, { token: victim.token }),
        (res) => codeOf(res) === "FORBIDDEN",
        3_000,
      );
      expect(refused.errors![0]!.extensions!.reason).toBe("ORGANIZATION_SUSPENDED");
      await ok(shared.gatewayUrl, REACTIVATE, { token: admin.token, variables: { id: victim.tenantId } });
      await eventually(
        () => gql(shared.gatewayUrl, CURRENT, { token: victim.token }),
        (res) => res.data?.currentOrganization?.status === "ACTIVE",
        3_000,
      );
    } finally {
      await shared.close();
    }
  });
});

describe("limit overrides", () => {
  it("are set by a platform admin and enforced in the tenant", async () => {
    const set = await ok(
      platform.gatewayUrl,
      `mutation($id: ID!) { setOrganizationLimits(input: { organizationId: $id, maxCustomDomains: 1 }) { organization { limits { maxCustomDomains maxProjects } } } }`,
      {
        token: admin.token,
        variables: { id: other.tenantId },
      },
    );
    expect(set.setOrganizationLimits.organization.limits).toEqual({ maxCustomDomains: 1, maxProjects: null });
    const ADD = `mutation($d: String!) { addOrganizationDomain(input: { domain: $d }) { domain { id } } }`;
    await ok(platform.gatewayUrl, ADD, { token: other.token, variables: { d: `one-${suffix}.example.com` } });
    const second = await gql(platform.gatewayUrl, ADD, {
      token: other.token,
      variables: { d: `two-${suffix}.example.com` },
    });
    expect(codeOf(second)).toBe("PLAN_LIMIT");
    const negative = await gql(
      platform.gatewayUrl,
      `mutation($id: ID!) { setOrganizationLimits(input: { organizationId: $id, maxProjects: -1 }) { organization { id } } }`,
      {
        token: admin.token,
        variables: { id: other.tenantId },
      },
    );
    expect(codeOf(negative)).toBe("BAD_USER_INPUT");
  });
});
