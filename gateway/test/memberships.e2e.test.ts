import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { eventually } from "../../test/eventually.ts";
import {
  gql,
  invitationToken as invitationTokenOf,
  joinOrganization,
  type Platform,
  signUpTenant,
  startGateway,
  startPlatform,
  uniqueEmail,
} from "../../test/platform.ts";

/**
 * Organizations and membership through the gateway: invitations (create, list, resend, revoke,
 * expire, accept by a new or an existing user), switching organizations, role changes and removal
 * with the last-OWNER rule, and a removed member's tokens refused.
 */
const redisUrl = inject("redisUrl");
const PASSWORD = "correct horse battery staple";

const INVITE = `mutation($input: InviteMemberInput!) { inviteMember(input: $input) { invitation { id email role status invitedBy { id } expiresAt } } }`;
const ACCEPT = `mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken refreshToken organizationId user { id email role } } }`;
const INVITATIONS = `query($status: InvitationStatus) { invitations(status: $status) { id email status } }`;
const CHANGE_ROLE = `mutation($input: ChangeMemberRoleInput!) { changeMemberRole(input: $input) { member { id role } } }`;
const REMOVE = `mutation($input: RemoveMemberInput!) { removeMember(input: $input) { removedUserId } }`;
const MY_ORGS = `{ myOrganizations { organizationId name slug role current joinedAt } }`;
const SWITCH = `mutation($id: ID!) { switchOrganization(input: { organizationId: $id }) { accessToken organizationId user { role } } }`;
const ME = `{ me { id role } }`;

let platform: Platform;

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"), {
    redisUrl: redisUrl || undefined,
    gateway: { SESSION_REVOCATION_CACHE_MS: "0" },
  });
});
afterAll(() => platform?.close());

const call = (query: string, token?: string, variables?: Record<string, unknown>) =>
  gql(platform.gatewayUrl, query, { token, variables });

const invitationToken = (invitationId: string) => invitationTokenOf(platform, invitationId);

async function invite(token: string, email: string, role: string) {
  const res = await call(INVITE, token, { input: { email, role } });
  expect(res.errors).toBeUndefined();
  return res.data!.inviteMember.invitation as { id: string; email: string; status: string };
}

const join = (owner: { token: string }, role: string, label?: string) =>
  joinOrganization(platform, owner, role, label);

function expectCode(res: Awaited<ReturnType<typeof gql>>, code: string) {
  expect(res.errors?.[0]?.extensions?.code).toBe(code);
}

describe("invitations", () => {
  it("a new user accepts by signing up: member with the invited role, address verified", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "inv-owner");
    const email = uniqueEmail("invitee");
    const invitation = await invite(owner.token, email.toUpperCase(), "MEMBER");
    expect(invitation).toMatchObject({ email, status: "PENDING" });
    const listed = await call(INVITATIONS, owner.token);
    expect(listed.data?.invitations).toEqual([{ id: invitation.id, email, status: "PENDING" }]);

    const token = await invitationToken(invitation.id);
    const res = await call(ACCEPT, undefined, { input: { token, password: PASSWORD, name: "Invitee" } });
    expect(res.errors).toBeUndefined();
    expect(res.data?.acceptInvitation).toMatchObject({
      organizationId: owner.tenantId,
      user: { email, role: "MEMBER" },
    });
    const user = await platform.prisma.user.findFirstOrThrow({ where: { email } });
    expect(user.emailVerifiedAt).toBeInstanceOf(Date);
    // Used up.
    expectCode(await call(ACCEPT, undefined, { input: { token, password: PASSWORD } }), "BAD_USER_INPUT");
    const accepted = await call(INVITATIONS, owner.token, { status: "ACCEPTED" });
    expect(accepted.data?.invitations).toEqual([{ id: invitation.id, email, status: "ACCEPTED" }]);
  });

  it("an existing user accepts with their password, or signed in to their own account only", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "inv-existing");
    const other = await signUpTenant(platform.gatewayUrl, "inv-other");
    const bystander = await signUpTenant(platform.gatewayUrl, "inv-bystander");
    const first = await invite(owner.token, other.email, "VIEWER");
    const token = await invitationToken(first.id);
    // Signed in as someone else: refused.
    expectCode(await call(ACCEPT, bystander.token, { input: { token } }), "FORBIDDEN");
    // Not signed in, wrong password: refused (and counted like a log-in).
    expectCode(
      await call(ACCEPT, undefined, { input: { token, password: "not the password" } }),
      "UNAUTHENTICATED",
    );
    const res = await call(ACCEPT, undefined, { input: { token, password: PASSWORD } });
    expect(res.data?.acceptInvitation).toMatchObject({
      organizationId: owner.tenantId,
      user: { id: other.userId, role: "VIEWER" },
    });

    // Now in two organizations.
    const orgs = await call(MY_ORGS, other.token);
    expect(orgs.data?.myOrganizations.map((o: { organizationId: string }) => o.organizationId)).toEqual([
      other.tenantId,
      owner.tenantId,
    ]);
    expect(orgs.data?.myOrganizations[0]).toMatchObject({ role: "OWNER", current: true });
    expect(orgs.data?.myOrganizations[1]).toMatchObject({ role: "VIEWER", current: false });

    const switched = await call(SWITCH, other.token, { id: owner.tenantId });
    expect(switched.data?.switchOrganization).toMatchObject({
      organizationId: owner.tenantId,
      user: { role: "VIEWER" },
    });
    expect(decodeJwt(switched.data!.switchOrganization.accessToken)).toMatchObject({
      tid: owner.tenantId,
      roles: ["VIEWER"],
    });
    // Not a member of the bystander's organization.
    expectCode(await call(SWITCH, other.token, { id: bystander.tenantId }), "FORBIDDEN");
    expectCode(await call(SWITCH, undefined, { id: owner.tenantId }), "UNAUTHENTICATED");
  });

  it("resend replaces the link; revoke and expiry end it", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "inv-resend");
    const invitation = await invite(owner.token, uniqueEmail("resend"), "MEMBER");
    const oldToken = await invitationToken(invitation.id);
    const resent = await call(
      `mutation($id: ID!) { resendInvitation(input: { id: $id }) { invitation { status } } }`,
      owner.token,
      { id: invitation.id },
    );
    expect(resent.data?.resendInvitation.invitation.status).toBe("PENDING");
    const newToken = await invitationToken(invitation.id);
    expect(newToken).not.toBe(oldToken);
    expectCode(
      await call(ACCEPT, undefined, { input: { token: oldToken, password: PASSWORD } }),
      "BAD_USER_INPUT",
    );

    await platform.prisma.invitation.updateMany({
      where: { id: invitation.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expect((await call(INVITATIONS, owner.token, { status: "EXPIRED" })).data?.invitations).toHaveLength(1);
    expectCode(
      await call(ACCEPT, undefined, { input: { token: newToken, password: PASSWORD } }),
      "BAD_USER_INPUT",
    );

    const second = await invite(owner.token, uniqueEmail("revoke"), "MEMBER");
    const secondToken = await invitationToken(second.id);
    const revoked = await call(
      `mutation($id: ID!) { revokeInvitation(input: { id: $id }) { invitation { status } } }`,
      owner.token,
      { id: second.id },
    );
    expect(revoked.data?.revokeInvitation.invitation.status).toBe("REVOKED");
    expectCode(
      await call(ACCEPT, undefined, { input: { token: secondToken, password: PASSWORD } }),
      "BAD_USER_INPUT",
    );
  });

  it("refuses invitations to MEMBERs, OWNER invitations to ADMINs, and another tenant's invitation ids", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "inv-roles");
    const other = await signUpTenant(platform.gatewayUrl, "inv-roles-other");
    const member = await join(owner, "MEMBER");
    const admin = await join(owner, "ADMIN", "admin");
    expectCode(
      await call(INVITE, member.token, { input: { email: uniqueEmail("x"), role: "VIEWER" } }),
      "FORBIDDEN",
    );
    expectCode(
      await call(INVITE, admin.token, { input: { email: uniqueEmail("x"), role: "OWNER" } }),
      "FORBIDDEN",
    );
    expect(
      (await call(INVITE, admin.token, { input: { email: uniqueEmail("x"), role: "ADMIN" } })).errors,
    ).toBeUndefined();
    expectCode(
      await call(INVITE, owner.token, { input: { email: member.email, role: "VIEWER" } }),
      "CONFLICT",
    );
    expectCode(
      await call(INVITE, owner.token, { input: { email: "not-an-email", role: "VIEWER" } }),
      "BAD_USER_INPUT",
    );
    const theirs = await invite(other.token, uniqueEmail("theirs"), "MEMBER");
    expectCode(
      await call(
        `mutation($id: ID!) { revokeInvitation(input: { id: $id }) { invitation { id } } }`,
        owner.token,
        { id: theirs.id },
      ),
      "NOT_FOUND",
    );
    // A token with a valid shape but another tenant's id in it opens nothing.
    const token = await invitationToken(theirs.id);
    const [, id, secret] = token.split(".");
    expectCode(
      await call(ACCEPT, undefined, {
        input: { token: `${owner.tenantId}.${id}.${secret}`, password: PASSWORD },
      }),
      "BAD_USER_INPUT",
    );
  });
});

describe("profile", () => {
  it("a new name reaches every organization's copy at once", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "rename-a");
    const other = await signUpTenant(platform.gatewayUrl, "rename-b");
    const invitation = await invite(other.token, owner.email, "MEMBER");
    await call(ACCEPT, owner.token, { input: { token: await invitationToken(invitation.id) } });
    const renamed = await call(
      `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id name } } }`,
      owner.token,
      { input: { name: "  Renamed Person " } },
    );
    expect(renamed.data?.updateProfile.user).toEqual({ id: owner.userId, name: "Renamed Person" });
    const copies = await platform.prisma.membership.findMany({ where: { userId: owner.userId } });
    expect(copies.map((m) => m.name)).toEqual(["Renamed Person", "Renamed Person"]);
    expectCode(
      await call(`mutation { updateProfile(input: { name: "" }) { user { id } } }`, owner.token),
      "BAD_USER_INPUT",
    );
  });
});

describe("roles and removal", () => {
  it("an ADMIN changes roles below OWNER; the new role applies from the next refresh", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "roles");
    const admin = await join(owner, "ADMIN", "admin");
    const member = await join(owner, "MEMBER");
    const res = await call(CHANGE_ROLE, admin.token, { input: { userId: member.userId, role: "VIEWER" } });
    expect(res.data?.changeMemberRole.member).toEqual({ id: member.userId, role: "VIEWER" });
    const refreshed = await call(
      `mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken user { role } } }`,
      undefined,
      { t: member.refreshToken },
    );
    expect(refreshed.data?.refreshToken.user.role).toBe("VIEWER");
    expectCode(
      await call(CHANGE_ROLE, admin.token, { input: { userId: owner.userId, role: "MEMBER" } }),
      "FORBIDDEN",
    );
    expectCode(
      await call(CHANGE_ROLE, admin.token, { input: { userId: member.userId, role: "OWNER" } }),
      "FORBIDDEN",
    );
    expectCode(
      await call(CHANGE_ROLE, member.token, { input: { userId: admin.userId, role: "VIEWER" } }),
      "FORBIDDEN",
    );
  });

  it("an ADMIN cannot remove the last OWNER, and no one can leave it without an OWNER", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "last-owner");
    const admin = await join(owner, "ADMIN", "admin");
    expectCode(await call(REMOVE, admin.token, { input: { userId: owner.userId } }), "FORBIDDEN");
    const self = await call(REMOVE, owner.token, { input: { userId: owner.userId } });
    expect(self.errors?.[0]?.extensions).toMatchObject({ code: "CONFLICT", reason: "LAST_OWNER" });
    expectCode(
      await call(CHANGE_ROLE, owner.token, { input: { userId: owner.userId, role: "ADMIN" } }),
      "CONFLICT",
    );
    expect((await call(ME, owner.token)).data?.me).toEqual({ id: owner.userId, role: "OWNER" });
  });

  it("two OWNERs demoting each other at once leave one OWNER", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "owner-race");
    const second = await join(owner, "OWNER", "second");
    const results = await Promise.all([
      call(CHANGE_ROLE, owner.token, { input: { userId: second.userId, role: "MEMBER" } }),
      call(CHANGE_ROLE, second.token, { input: { userId: owner.userId, role: "MEMBER" } }),
    ]);
    expect(results.filter((r) => r.errors === undefined)).toHaveLength(1);
    const owners = await platform.prisma.membership.count({
      where: { tenantId: owner.tenantId, role: "OWNER" },
    });
    expect(owners).toBe(1);
  });

  it.skipIf(!redisUrl)(
    "a removed member's access and refresh tokens are refused at once, without data",
    async () => {
      const owner = await signUpTenant(platform.gatewayUrl, "removal");
      const member = await join(owner, "MEMBER");
      expect((await call(ME, member.token)).data?.me).toMatchObject({ id: member.userId });
      const removed = await call(REMOVE, owner.token, { input: { userId: member.userId } });
      expect(removed.data?.removeMember).toEqual({ removedUserId: member.userId });
      const res = await call(ME, member.token);
      expectCode(res, "UNAUTHENTICATED");
      expect(res.data ?? null).toBeNull();
      expectCode(
        await call(
          `mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken } }`,
          undefined,
          { t: member.refreshToken },
        ),
        "UNAUTHENTICATED",
      );
      // The subscriptions' close signal went out with the removal.
      const events = await platform.prisma.outboxEvent.findMany({
        where: { tenantId: owner.tenantId, topic: "membership.removed" },
      });
      expect(events.map((e) => e.payload)).toEqual([{ userId: member.userId }]);
    },
  );

  it.skipIf(!redisUrl)(
    "a gateway with the default revocation cache refuses a removed member within it",
    async () => {
      const cachedGateway = await startGateway(platform, {});
      try {
        const owner = await signUpTenant(platform.gatewayUrl, "removal-cached");
        const member = await join(owner, "MEMBER");
        // The gateway now holds "session live" for up to SESSION_REVOCATION_CACHE_MS (5 s).
        const before = await gql(cachedGateway.url, ME, { token: member.token });
        expect(before.data?.me).toMatchObject({ id: member.userId });
        await call(REMOVE, owner.token, { input: { userId: member.userId } });
        const removedAt = Date.now();
        const refused = await eventually(
          () => gql(cachedGateway.url, ME, { token: member.token }),
          (res) => res.errors?.[0]?.extensions?.code === "UNAUTHENTICATED",
          15_000,
        );
        expect(refused.data ?? null).toBeNull();
        // Within the cache's time (plus the machine's slack), far sooner than the token's 15 minutes.
        expect(Date.now() - removedAt).toBeLessThan(12_000);
      } finally {
        await cachedGateway.close();
      }
    },
  );

  it("a member may leave; a MEMBER may not remove others", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "leave");
    const member = await join(owner, "MEMBER");
    const viewer = await join(owner, "VIEWER", "viewer");
    expectCode(await call(REMOVE, member.token, { input: { userId: viewer.userId } }), "FORBIDDEN");
    expect(
      (await call(REMOVE, viewer.token, { input: { userId: viewer.userId } })).data?.removeMember,
    ).toEqual({ removedUserId: viewer.userId });
    expectCode(await call(REMOVE, owner.token, { input: { userId: viewer.userId } }), "NOT_FOUND");
  });
});
