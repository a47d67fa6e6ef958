import { randomBytes } from "node:crypto";
import { INTERNAL_CONTEXT_HEADER, signInternalContext } from "@app/common";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../../test/eventually.ts";
import { gql, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { codeOf, gqlWithHost, ok, tokenWithRoles } from "./helpers.ts";

/**
 * Organizations through the gateway: another organization for the same user, rename, slug changes
 * (globally unique, validated, the old slug stops resolving), typed settings, and the public lookups by
 * slug and by Host, with the attacks on each.
 */

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;
const suffix = randomBytes(3).toString("hex");
const BASE_DOMAIN = "coditect.test";

let platform: Platform;
/** The DNS the tenants subgraph verifies domains against: TXT records by name, published by the tests. */
const txt = new Map<string, string[][]>();
const dns = {
  resolveTxt: async (name: string) => {
    const records = txt.get(name);
    if (!records) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    return records;
  },
};
let a: Tenant;
let b: Tenant;

const CURRENT = `{ currentOrganization { id name slug status settings { featureFlags limits { maxProjects maxCustomDomains } preferences { locale timeZone weekStartsOn brandColor } } } }`;
const BY_SLUG = `query($slug: String!) { organizationBySlug(slug: $slug) { name slug brandColor } }`;
const LOG_IN = `mutation($input: LogInInput!) { logIn(input: $input) { accessToken organizationId user { role } } }`;

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"), {
    // Without Redis a gateway sees a change of hosts when its cache entry expires: keep that short.
    gateway: { BASE_DOMAIN, ORGANIZATION_CACHE_TTL_SECONDS: "1" },
    dns,
  });
  // One after another: sign-up holds a cross-tenant connection, of which the test platform has two.
  a = await signUpTenant(platform.gatewayUrl, `org-a-${suffix}`);
  b = await signUpTenant(platform.gatewayUrl, `org-b-${suffix}`);
});

afterAll(async () => {
  await platform?.close();
});

describe("createOrganization", () => {
  it("creates another organization whose OWNER is the caller, who can log in to it", async () => {
    const slug = `second-${suffix}`;
    const created = await ok(
      platform.gatewayUrl,
      `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id name slug status } } }`,
      {
        token: a.token,
        variables: { input: { name: "Second Org", slug } },
      },
    );
    const org = created.createOrganization.organization;
    expect(org).toMatchObject({ name: "Second Org", slug, status: "ACTIVE" });
    expect(org.id).not.toBe(a.tenantId);

    const login = await ok(platform.gatewayUrl, LOG_IN, {
      variables: {
        input: { email: a.email, password: "correct horse battery staple", organizationId: org.id },
      },
    });
    expect(login.logIn).toMatchObject({ organizationId: org.id, user: { role: "OWNER" } });
    const current = await ok(platform.gatewayUrl, CURRENT, { token: login.logIn.accessToken });
    expect(current.currentOrganization).toMatchObject({ id: org.id, slug });
    // Its audit log starts with its creation, by the caller.
    const log = await ok(
      platform.gatewayUrl,
      `{ auditLog { edges { node { actorType actorId action targetId } } } }`,
      {
        token: login.logIn.accessToken,
      },
    );
    expect(log.auditLog.edges.map((e: { node: unknown }) => e.node)).toContainEqual({
      actorType: "USER",
      actorId: a.userId,
      action: "createOrganization",
      targetId: org.id,
    });
    // The first organization is untouched.
    expect((await ok(platform.gatewayUrl, CURRENT, { token: a.token })).currentOrganization.id).toBe(
      a.tenantId,
    );
  });

  it("derives a free slug from the name when none is given", async () => {
    const name = `Derived ${suffix}`;
    const res = await ok(
      platform.gatewayUrl,
      `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { slug } } }`,
      {
        token: a.token,
        variables: { input: { name } },
      },
    );
    expect(res.createOrganization.organization.slug).toMatch(new RegExp(`^derived-${suffix}`));
  });

  it("refuses a taken slug, an invalid one and a reserved one, naming the field", async () => {
    const create = (slug: string) =>
      gql(
        platform.gatewayUrl,
        `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
        {
          token: b.token,
          variables: { input: { name: "Squatter", slug } },
        },
      );
    const taken = await create(`second-${suffix}`);
    expect(codeOf(taken)).toBe("CONFLICT");
    expect(taken.errors![0]!.message).toContain("input.slug");
    for (const bad of [
      "ab",
      "Has-Upper",
      "-dash",
      "dash-",
      "two--hyphens",
      "a".repeat(41),
      "www",
      "admin",
      "x.y",
      "spa ce",
      "ünï",
    ]) {
      const res = await create(bad);
      expect(codeOf(res), bad).toBe("BAD_USER_INPUT");
      expect(res.errors![0]!.message, bad).toContain("input.slug");
    }
  });

  it("needs a signed-in caller", async () => {
    const res = await gql(
      platform.gatewayUrl,
      `mutation { createOrganization(input: { name: "Anon" }) { organization { id } } }`,
    );
    expect(codeOf(res)).toBe("UNAUTHENTICATED");
  });
});

describe("rename and slug", () => {
  it("renames (ADMIN+) and refuses an empty name", async () => {
    const res = await ok(
      platform.gatewayUrl,
      `mutation { renameOrganization(input: { name: "  Renamed A  " }) { organization { name } } }`,
      { token: a.token },
    );
    expect(res.renameOrganization.organization.name).toBe("Renamed A");
    const empty = await gql(
      platform.gatewayUrl,
      `mutation { renameOrganization(input: { name: "   " }) { organization { name } } }`,
      { token: a.token },
    );
    expect(codeOf(empty)).toBe("BAD_USER_INPUT");
  });

  it("changes the slug: the new one resolves, the old one stops resolving, and another tenant cannot take a taken one", async () => {
    const before = (await ok(platform.gatewayUrl, CURRENT, { token: b.token })).currentOrganization.slug;
    expect(
      (await ok(platform.gatewayUrl, BY_SLUG, { variables: { slug: before } })).organizationBySlug,
    ).toMatchObject({ slug: before });
    const next = `b-renamed-${suffix}`;
    await ok(
      platform.gatewayUrl,
      `mutation($slug: String!) { changeOrganizationSlug(input: { slug: $slug }) { organization { slug } } }`,
      {
        token: b.token,
        variables: { slug: next },
      },
    );
    expect(
      (await ok(platform.gatewayUrl, BY_SLUG, { variables: { slug: next } })).organizationBySlug,
    ).toEqual({ name: expect.any(String), slug: next, brandColor: null });
    expect(
      (await ok(platform.gatewayUrl, BY_SLUG, { variables: { slug: before } })).organizationBySlug,
    ).toBeNull();

    // A squats B's new slug: refused.
    const squat = await gql(
      platform.gatewayUrl,
      `mutation($slug: String!) { changeOrganizationSlug(input: { slug: $slug }) { organization { slug } } }`,
      {
        token: a.token,
        variables: { slug: next },
      },
    );
    expect(codeOf(squat)).toBe("CONFLICT");
  });

  it("public lookups answer public fields only, and nothing for unknown or malformed slugs", async () => {
    const res = await gql(
      platform.gatewayUrl,
      `query($slug: String!) { organizationBySlug(slug: $slug) { name slug id } }`,
      { variables: { slug: "x" } },
    );
    // `id` is not a field of PublicOrganization: the schema itself refuses it.
    expect(codeOf(res)).toBe("GRAPHQL_VALIDATION_FAILED");
    for (const slug of ["no-such-org-here", "", "'; DROP TABLE organizations; --", "a".repeat(500)]) {
      expect(
        (await ok(platform.gatewayUrl, BY_SLUG, { variables: { slug } })).organizationBySlug,
        slug,
      ).toBeNull();
    }
  });
});

describe("settings", () => {
  it("starts with defaults, updates flags and preferences (ADMIN+), validates each field", async () => {
    const initial = (await ok(platform.gatewayUrl, CURRENT, { token: a.token })).currentOrganization.settings;
    expect(initial).toEqual({
      featureFlags: [],
      limits: { maxProjects: null, maxCustomDomains: null },
      preferences: { locale: "en", timeZone: "UTC", weekStartsOn: "MONDAY", brandColor: null },
    });
    const UPDATE = `mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) { organization { settings { featureFlags preferences { locale timeZone weekStartsOn brandColor } } } } }`;
    const updated = await ok(platform.gatewayUrl, UPDATE, {
      token: a.token,
      variables: {
        input: {
          featureFlags: ["BETA_FEATURES", "BETA_FEATURES", "API_ACCESS"],
          preferences: { locale: "fr-FR", timeZone: "Europe/Paris", brandColor: "#12AB34" },
        },
      },
    });
    expect(updated.updateOrganizationSettings.organization.settings).toEqual({
      featureFlags: ["BETA_FEATURES", "API_ACCESS"],
      preferences: {
        locale: "fr-FR",
        timeZone: "Europe/Paris",
        weekStartsOn: "MONDAY",
        brandColor: "#12AB34",
      },
    });
    // Only what is given changes.
    const partial = await ok(platform.gatewayUrl, UPDATE, {
      token: a.token,
      variables: { input: { preferences: { weekStartsOn: "SUNDAY" } } },
    });
    expect(partial.updateOrganizationSettings.organization.settings.preferences).toMatchObject({
      locale: "fr-FR",
      weekStartsOn: "SUNDAY",
    });

    const bad = await gql(platform.gatewayUrl, UPDATE, {
      token: a.token,
      variables: {
        input: { preferences: { locale: "not a locale!", timeZone: "Mars/Olympus", brandColor: "red" } },
      },
    });
    expect(codeOf(bad)).toBe("BAD_USER_INPUT");
    const fields = (bad.errors![0]!.extensions!.fields as Array<{ field: string }>).map((f) => f.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        "input.preferences.locale",
        "input.preferences.timeZone",
        "input.preferences.brandColor",
      ]),
    );

    // The brand colour is public: the log-in page shows it.
    const slug = (await ok(platform.gatewayUrl, CURRENT, { token: a.token })).currentOrganization.slug;
    expect(
      (await ok(platform.gatewayUrl, BY_SLUG, { variables: { slug } })).organizationBySlug.brandColor,
    ).toBe("#12AB34");
  });
});

describe("tenant by host", () => {
  const BY_HOST = `{ currentOrganizationByHost { name slug brandColor } }`;

  it("resolves {slug}.BASE_DOMAIN to the organization, public fields only", async () => {
    const slug = (await ok(platform.gatewayUrl, CURRENT, { token: b.token })).currentOrganization.slug;
    const res = await gqlWithHost(platform.gatewayUrl, `${slug}.${BASE_DOMAIN}`, BY_HOST);
    expect(res.data?.currentOrganizationByHost).toMatchObject({ slug });
    // With a port, and in upper case: the same host.
    const upper = await gqlWithHost(
      platform.gatewayUrl,
      `${slug.toUpperCase()}.${BASE_DOMAIN.toUpperCase()}:443`,
      BY_HOST,
    );
    expect(upper.data?.currentOrganizationByHost).toMatchObject({ slug });
  });

  it("answers null for forged, unknown, nested, bare and malformed hosts, and ignores forwarded-host headers", async () => {
    const slug = (await ok(platform.gatewayUrl, CURRENT, { token: b.token })).currentOrganization.slug;
    for (const host of [
      BASE_DOMAIN,
      `no-such-${suffix}.${BASE_DOMAIN}`,
      `x.${slug}.${BASE_DOMAIN}`,
      `${slug}.${BASE_DOMAIN}.evil.example`,
      `${slug}.evil.example`,
      "127.0.0.1",
      "localhost",
      "[::1]:80",
      "bad_host!.example",
    ]) {
      const res = await gqlWithHost(platform.gatewayUrl, host, BY_HOST);
      expect(res.data?.currentOrganizationByHost, host).toBeNull();
    }
    const forwarded = await gqlWithHost(platform.gatewayUrl, "127.0.0.1", BY_HOST, {
      "x-forwarded-host": `${slug}.${BASE_DOMAIN}`,
      forwarded: `host=${slug}.${BASE_DOMAIN}`,
    });
    expect(forwarded.data?.currentOrganizationByHost).toBeNull();
  });
});

describe("custom domains", () => {
  const ADD = `mutation($d: String!) { addOrganizationDomain(input: { domain: $d }) { domain { id domain verified verificationRecord { name value } } } }`;
  const VERIFY = `mutation($id: ID!) { verifyOrganizationDomain(input: { id: $id }) { domain { id verified verifiedAt } } }`;
  const REMOVE = `mutation($id: ID!) { removeOrganizationDomain(input: { id: $id }) { removedId } }`;
  const BY_HOST = `{ currentOrganizationByHost { slug } }`;

  it("resolves a domain only once its TXT record proves it, first prover wins, and stops at removal", async () => {
    const domain = `login.a-${suffix}.example.com`;
    const added = (
      await ok(platform.gatewayUrl, ADD, {
        token: a.token,
        variables: { d: ` Login.A-${suffix}.Example.com. ` },
      })
    ).addOrganizationDomain.domain;
    expect(added).toMatchObject({
      domain,
      verified: false,
      verificationRecord: { name: `_coditect-challenge.${domain}` },
    });
    expect(added.verificationRecord.value).toMatch(/^coditect-verification=[0-9a-f]{40}$/);
    // B claims the same domain too: a claim is free, and gives its own token.
    const squatter = (await ok(platform.gatewayUrl, ADD, { token: b.token, variables: { d: domain } }))
      .addOrganizationDomain.domain;
    expect(squatter.verificationRecord.value).not.toBe(added.verificationRecord.value);

    // Unverified: the host names no one.
    expect(
      (await gqlWithHost(platform.gatewayUrl, domain, BY_HOST)).data?.currentOrganizationByHost,
    ).toBeNull();
    const early = await gql(platform.gatewayUrl, VERIFY, { token: a.token, variables: { id: added.id } });
    expect(codeOf(early)).toBe("BAD_USER_INPUT");
    expect(early.errors![0]!.message).toContain(`_coditect-challenge.${domain}`);
    // A record with someone else's token proves nothing.
    txt.set(added.verificationRecord.name, [["coditect-verification=", "0".repeat(40)]]);
    expect(
      codeOf(await gql(platform.gatewayUrl, VERIFY, { token: a.token, variables: { id: added.id } })),
    ).toBe("BAD_USER_INPUT");

    // The owner of the DNS publishes A's token (split in character strings, as DNS may): verified.
    const value = added.verificationRecord.value as string;
    txt.set(added.verificationRecord.name, [["v=spf1 -all"], [value.slice(0, 10), value.slice(10)]]);
    const verified = (await ok(platform.gatewayUrl, VERIFY, { token: a.token, variables: { id: added.id } }))
      .verifyOrganizationDomain.domain;
    expect(verified).toMatchObject({ verified: true, verifiedAt: expect.any(String) });
    const slugA = (await ok(platform.gatewayUrl, CURRENT, { token: a.token })).currentOrganization.slug;
    const resolved = await eventually(
      () => gqlWithHost(platform.gatewayUrl, domain, BY_HOST),
      (res) => res.data?.currentOrganizationByHost !== null,
      5_000,
    );
    expect(resolved.data.currentOrganizationByHost).toEqual({ slug: slugA });

    // B cannot verify it now, even with its own token published, nor reach A's domain by id.
    txt.set(added.verificationRecord.name, [[squatter.verificationRecord.value]]);
    expect(
      codeOf(await gql(platform.gatewayUrl, VERIFY, { token: b.token, variables: { id: squatter.id } })),
    ).toBe("CONFLICT");
    for (const query of [VERIFY, REMOVE])
      expect(
        codeOf(await gql(platform.gatewayUrl, query, { token: b.token, variables: { id: added.id } })),
        query,
      ).toBe("NOT_FOUND");
    // B sees only its own claim; A its verified domain.
    const domainsOf = async (token: string) =>
      (await ok(platform.gatewayUrl, `{ currentOrganization { domains { id verified } } }`, { token }))
        .currentOrganization.domains;
    expect(await domainsOf(b.token)).toEqual([{ id: squatter.id, verified: false }]);
    expect(await domainsOf(a.token)).toEqual([{ id: added.id, verified: true }]);

    await ok(platform.gatewayUrl, REMOVE, { token: a.token, variables: { id: added.id } });
    await eventually(
      () => gqlWithHost(platform.gatewayUrl, domain, BY_HOST),
      (res) => res.data?.currentOrganizationByHost === null,
      5_000,
    );
    // Now B can prove it.
    expect(
      (await ok(platform.gatewayUrl, VERIFY, { token: b.token, variables: { id: squatter.id } }))
        .verifyOrganizationDomain.domain.verified,
    ).toBe(true);
  });

  it("is for ADMINs, validates the name, and refuses a duplicate", async () => {
    const member = await tokenWithRoles(platform.keysDir, a.token, ["MEMBER"]);
    expect(
      codeOf(
        await gql(platform.gatewayUrl, ADD, { token: member, variables: { d: `m-${suffix}.example.com` } }),
      ),
    ).toBe("FORBIDDEN");
    expect(
      await ok(platform.gatewayUrl, `{ currentOrganization { domains { id } } }`, { token: member }),
    ).toEqual({ currentOrganization: { domains: [] } });
    for (const bad of [
      "localhost",
      "127.0.0.1",
      "10.0.0.1",
      "exa mple.com",
      "under_score.example.com",
      "-x.example.com",
      "a..b.com",
      `${"a".repeat(64)}.com`,
      "xn--.com",
      "http://example.com",
      "",
    ]) {
      const res = await gql(platform.gatewayUrl, ADD, { token: a.token, variables: { d: bad } });
      expect(codeOf(res), bad).toBe("BAD_USER_INPUT");
      expect(res.errors![0]!.message, bad).toContain("input.domain");
    }
    await ok(platform.gatewayUrl, ADD, { token: a.token, variables: { d: `dup-${suffix}.example.com` } });
    expect(
      codeOf(
        await gql(platform.gatewayUrl, ADD, {
          token: a.token,
          variables: { d: `DUP-${suffix}.example.com` },
        }),
      ),
    ).toBe("CONFLICT");
    expect(
      codeOf(await gql(platform.gatewayUrl, VERIFY, { token: a.token, variables: { id: "not-an-id" } })),
    ).toBe("BAD_USER_INPUT");
  });
});

describe("the tenants subgraph's routes for the gateway", () => {
  it("answer only a caller holding the internal secret", async () => {
    const origin = new URL(platform.subgraphUrls.tenants).origin;
    const forged = await signInternalContext("not-the-secret-".padEnd(64, "x"), {
      requestId: "r",
      principal: null,
    });
    for (const path of [
      `/internal/organization-state?id=${a.tenantId}`,
      `/internal/host?kind=slug&name=abc`,
    ]) {
      expect((await fetch(`${origin}${path}`)).status, path).toBe(401);
      expect(
        (await fetch(`${origin}${path}`, { headers: { [INTERNAL_CONTEXT_HEADER]: forged } })).status,
        path,
      ).toBe(401);
    }
    const genuine = await signInternalContext(platform.internalSecret, { requestId: "r", principal: null });
    const state = await fetch(`${origin}/internal/organization-state?id=${a.tenantId}`, {
      headers: { [INTERNAL_CONTEXT_HEADER]: genuine },
    });
    expect(await state.json()).toEqual({ status: "ACTIVE" });
    // A forged download link is refused by the subgraph as by the gateway.
    expect((await fetch(`${origin}/exports/download?token=x.y.z`)).status).toBe(403);
  });
});
