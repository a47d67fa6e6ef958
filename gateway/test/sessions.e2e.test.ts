import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform } from "../../test/platform.ts";

/**
 * Sessions through the gateway: refresh tokens rotate on every use, a reused one ends its whole
 * family, log-out and password changes end sessions, and a removed member's access token is refused.
 * Needs Redis (the gateway learns of ended sessions through it).
 */
const redisUrl = inject("redisUrl");

const LOG_IN = /* GraphQL */ `
  mutation($input: LogInInput!) {
    logIn(input: $input) { accessToken refreshToken refreshExpiresIn expiresIn organizationId user { id role } }
  }
`;
const REFRESH = /* GraphQL */ `
  mutation($token: String!) {
    refreshToken(input: { refreshToken: $token }) { accessToken refreshToken user { id role } organizationId }
  }
`;
const LOG_OUT = `mutation($token: String!) { logOut(input: { refreshToken: $token }) { loggedOut } }`;
const ME = `{ me { id role } }`;
const PASSWORD = "correct horse battery staple";

let platform: Platform;

beforeAll(async () => {
  // No per-process cache of revocation answers: each check below asks Redis (production caches 5 s).
  platform = await startPlatform(inject("databaseUrl"), {
    redisUrl,
    gateway: { SESSION_REVOCATION_CACHE_MS: "0" },
  });
});
afterAll(() => platform?.close());

async function logIn(email: string, password = PASSWORD, organizationId?: string) {
  const res = await gql(platform.gatewayUrl, LOG_IN, {
    variables: { input: { email, password, organizationId } },
  });
  expect(res.errors).toBeUndefined();
  return res.data!.logIn as { accessToken: string; refreshToken: string; refreshExpiresIn: number };
}

const refresh = (token: string) => gql(platform.gatewayUrl, REFRESH, { variables: { token } });
const me = (token: string) => gql(platform.gatewayUrl, ME, { token });

function expectRefused(res: Awaited<ReturnType<typeof gql>>) {
  expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  expect(res.data ?? null).toBeNull();
}

describe.skipIf(!redisUrl)("sessions", () => {
  it("issues access tokens with sub, tenant, roles, scope, iss, aud, exp, jti and the session id", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "claims");
    const claims = decodeJwt(owner.token);
    expect(claims).toMatchObject({
      sub: owner.userId,
      tid: owner.tenantId,
      roles: ["OWNER"],
      scope: "read write",
      iss: platform.issuer,
      aud: "coditect-platform",
    });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(claims.sid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("rotates the refresh token on every use; reusing an old one ends the whole family", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "rotate");
    const first = await logIn(owner.email);
    expect(first.refreshExpiresIn).toBeGreaterThan(29 * 86_400);

    const second = await refresh(first.refreshToken);
    expect(second.errors).toBeUndefined();
    const pair2 = second.data!.refreshToken as { accessToken: string; refreshToken: string };
    expect(pair2.refreshToken).not.toBe(first.refreshToken);
    expect(decodeJwt(pair2.accessToken).sid).toBe(decodeJwt(first.accessToken).sid);
    const third = await refresh(pair2.refreshToken);
    const pair3 = third.data!.refreshToken as { accessToken: string; refreshToken: string };
    expect((await me(pair3.accessToken)).data?.me).toMatchObject({ id: owner.userId });

    // An attacker replays the first token: refused, and the family ends for the legitimate holder too.
    expectRefused(await refresh(first.refreshToken));
    expectRefused(await refresh(pair3.refreshToken));
    expectRefused(await me(pair3.accessToken));
    // Other sessions of the same user are untouched.
    expect((await me(owner.token)).data?.me).toMatchObject({ id: owner.userId });
  });

  it("lets only one of two concurrent refreshes with the same token win, and ends the family", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "race");
    const pair = await logIn(owner.email);
    const results = await Promise.all([refresh(pair.refreshToken), refresh(pair.refreshToken)]);
    const winners = results.filter((r) => r.data?.refreshToken);
    expect(winners.length).toBeLessThanOrEqual(1);
    for (const winner of winners) expectRefused(await refresh(winner.data!.refreshToken.refreshToken));
  });

  it("refuses malformed, unknown and forged refresh tokens without data", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "forged");
    const pair = await logIn(owner.email);
    const [family] = pair.refreshToken.split(".");
    for (const token of [
      "garbage",
      `${family}.`,
      `${family}.${"A".repeat(43)}`,
      `00000000-0000-7000-8000-000000000000.${"A".repeat(43)}`,
      `${pair.refreshToken}.extra`,
      "x".repeat(400),
    ]) {
      expectRefused(await refresh(token));
    }
  });

  it("log-out ends the session: its refresh and access tokens stop working", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "logout");
    const pair = await logIn(owner.email);
    expect((await me(pair.accessToken)).data?.me).toBeTruthy();
    const out = await gql(platform.gatewayUrl, LOG_OUT, { variables: { token: pair.refreshToken } });
    expect(out.data?.logOut).toEqual({ loggedOut: true });
    expectRefused(await me(pair.accessToken));
    expectRefused(await refresh(pair.refreshToken));
    const again = await gql(platform.gatewayUrl, LOG_OUT, { variables: { token: pair.refreshToken } });
    expect(again.data?.logOut).toEqual({ loggedOut: false });
  });

  it("a password change ends every other session and answers with a new one", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "change-pw");
    const other = await logIn(owner.email);
    const changed = await gql(
      platform.gatewayUrl,
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken refreshToken } }`,
      {
        token: owner.token,
        variables: { input: { currentPassword: PASSWORD, newPassword: "a new passphrase, long enough" } },
      },
    );
    expect(changed.errors).toBeUndefined();
    expectRefused(await me(other.accessToken));
    expectRefused(await me(owner.token));
    expectRefused(await refresh(other.refreshToken));
    expect((await me(changed.data!.changePassword.accessToken)).data?.me).toMatchObject({ id: owner.userId });
    const oldPassword = await gql(platform.gatewayUrl, LOG_IN, {
      variables: { input: { email: owner.email, password: PASSWORD } },
    });
    expect(oldPassword.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    await logIn(owner.email, "a new passphrase, long enough");
  });

  it("refuses a wrong current password as BAD_USER_INPUT naming the field", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "change-pw-bad");
    const res = await gql(
      platform.gatewayUrl,
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }`,
      {
        token: owner.token,
        variables: {
          input: { currentPassword: "not my password!", newPassword: "a new passphrase, long enough" },
        },
      },
    );
    expect(res.errors?.[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.currentPassword",
    });
  });
});
