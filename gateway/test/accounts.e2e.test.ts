import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  gql,
  type Platform,
  SIGN_UP,
  signUpTenant,
  startPlatform,
  uniqueEmail,
} from "../../test/platform.ts";

/**
 * Accounts through the gateway: the password policy, password reset (a single-use, expiring token
 * e-mailed through the outbox) and e-mail verification. The e-mailed secrets are read from the outbox
 * row the mail job would get.
 */
const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "another long passphrase";

const LOG_IN = `mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }`;
const REQUEST_RESET = `mutation($email: String!) { requestPasswordReset(input: { email: $email }) { accepted } }`;
const RESET = `mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { reset } }`;
const VERIFY = `mutation($token: String!) { verifyEmail(input: { token: $token }) { email } }`;

let platform: Platform;

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(() => platform?.close());

/** The secret of the newest e-mail event of `topic` for `email` (what the mail job would put in the link). */
async function mailedToken(topic: string, email: string): Promise<string> {
  const rows = await platform.prisma.outboxEvent.findMany({
    where: { topic, payload: { path: ["email"], equals: email } },
    orderBy: { createdAt: "desc" },
    take: 1,
  });
  const token = (rows[0]?.payload as { token?: string } | undefined)?.token;
  if (!token) throw new Error(`no ${topic} event for ${email}`);
  return token;
}

const logIn = (email: string, password: string) =>
  gql(platform.gatewayUrl, LOG_IN, { variables: { input: { email, password } } });

describe("password policy", () => {
  it.each([
    ["too short", "short pass", "must be at least 12 characters"],
    ["too long", "x".repeat(201), "must be at most 200 characters"],
    ["a common password", "password1234", "is one of the most common passwords"],
    ["one character repeated", "aaaaaaaaaaaaaaaa", "must not be one or two characters repeated"],
  ])("refuses %s at sign-up, naming the field", async (_label, password, message) => {
    const res = await gql(platform.gatewayUrl, SIGN_UP, {
      variables: { input: { email: uniqueEmail("policy"), password, organizationName: "Policy Inc" } },
    });
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.message).toContain(`input.password: ${message}`);
  });

  it("refuses the e-mail address as the password", async () => {
    const email = uniqueEmail("self");
    const res = await gql(platform.gatewayUrl, SIGN_UP, {
      variables: { input: { email, password: email, organizationName: "Self Inc" } },
    });
    expect(res.errors?.[0]?.message).toContain("input.password: must not be your e-mail address");
  });
});

describe("password reset", () => {
  it("answers the same for unknown addresses and sends nothing", async () => {
    const email = uniqueEmail("nobody");
    const res = await gql(platform.gatewayUrl, REQUEST_RESET, { variables: { email } });
    expect(res.data?.requestPasswordReset).toEqual({ accepted: true });
    await expect(mailedToken("user.password_reset_requested", email)).rejects.toThrow();
  });

  it("sets a new password with the mailed token once; the token then fails and sessions end", async () => {
    const user = await signUpTenant(platform.gatewayUrl, "reset");
    const res = await gql(platform.gatewayUrl, REQUEST_RESET, {
      variables: { email: user.email.toUpperCase() },
    });
    expect(res.data?.requestPasswordReset).toEqual({ accepted: true });
    const token = await mailedToken("user.password_reset_requested", user.email);
    // Only the hash is stored.
    const stored = await platform.prisma.accountToken.findMany({ where: { userId: user.userId } });
    expect(stored.some((t) => t.tokenHash === token)).toBe(false);

    const first = await gql(platform.gatewayUrl, RESET, {
      variables: { input: { token, newPassword: NEW_PASSWORD } },
    });
    expect(first.errors).toBeUndefined();
    expect(first.data?.resetPassword).toEqual({ reset: true });
    expect((await logIn(user.email, NEW_PASSWORD)).data?.logIn.accessToken).toBeTruthy();
    expect((await logIn(user.email, PASSWORD)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");

    const second = await gql(platform.gatewayUrl, RESET, {
      variables: { input: { token, newPassword: "a third passphrase here" } },
    });
    expect(second.data ?? null).toBeNull();
    expect(second.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.token" });
    expect((await logIn(user.email, NEW_PASSWORD)).data?.logIn.accessToken).toBeTruthy();
  });

  it("lets only one of two concurrent resets with the same token through", async () => {
    const user = await signUpTenant(platform.gatewayUrl, "reset-race");
    await gql(platform.gatewayUrl, REQUEST_RESET, { variables: { email: user.email } });
    const token = await mailedToken("user.password_reset_requested", user.email);
    const results = await Promise.all(
      ["first racing passphrase", "second racing passphrase"].map((newPassword) =>
        gql(platform.gatewayUrl, RESET, { variables: { input: { token, newPassword } } }),
      ),
    );
    expect(results.filter((r) => r.data?.resetPassword?.reset)).toHaveLength(1);
  });

  it("refuses an expired token, a newer request's predecessor, and garbage", async () => {
    const user = await signUpTenant(platform.gatewayUrl, "reset-expired");
    await gql(platform.gatewayUrl, REQUEST_RESET, { variables: { email: user.email } });
    const older = await mailedToken("user.password_reset_requested", user.email);
    await gql(platform.gatewayUrl, REQUEST_RESET, { variables: { email: user.email } });
    const newer = await mailedToken("user.password_reset_requested", user.email);
    expect(newer).not.toBe(older);
    // Expire the newer one in the database: what an hour's wait would do.
    await platform.prisma.accountToken.updateMany({
      where: { userId: user.userId, usedAt: null, expiresAt: { gt: new Date() } },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    for (const token of [older, newer, "garbage", `${newer}x`]) {
      const res = await gql(platform.gatewayUrl, RESET, {
        variables: { input: { token, newPassword: NEW_PASSWORD } },
      });
      expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    }
    expect((await logIn(user.email, PASSWORD)).data?.logIn.accessToken).toBeTruthy();
  });

  it("limits reset requests per address, with Retry-After, whether or not it has an account", async () => {
    for (const email of [uniqueEmail("flood"), (await signUpTenant(platform.gatewayUrl, "flooded")).email]) {
      for (let i = 0; i < 5; i++) {
        const res = await gql(platform.gatewayUrl, REQUEST_RESET, { variables: { email } });
        expect(res.data?.requestPasswordReset).toEqual({ accepted: true });
      }
      const refused = await gql(platform.gatewayUrl, REQUEST_RESET, { variables: { email } });
      expect(refused.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    }
  });

  it("refuses a verification token used as a reset token", async () => {
    const user = await signUpTenant(platform.gatewayUrl, "wrong-purpose");
    const token = await mailedToken("user.email_verification_requested", user.email);
    const res = await gql(platform.gatewayUrl, RESET, {
      variables: { input: { token, newPassword: NEW_PASSWORD } },
    });
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("e-mail verification", () => {
  it("sign-up mails a verification link; its token verifies the address once", async () => {
    const user = await signUpTenant(platform.gatewayUrl, "verify");
    const token = await mailedToken("user.email_verification_requested", user.email);
    const res = await gql(platform.gatewayUrl, VERIFY, { variables: { token } });
    expect(res.data?.verifyEmail).toEqual({ email: user.email });
    const row = await platform.prisma.user.findUniqueOrThrow({ where: { id: user.userId } });
    expect(row.emailVerifiedAt).toBeInstanceOf(Date);
    const again = await gql(platform.gatewayUrl, VERIFY, { variables: { token } });
    expect(again.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    // Already verified: nothing more is sent.
    const resend = await gql(platform.gatewayUrl, `mutation { sendEmailVerification { sent } }`, {
      token: user.token,
    });
    expect(resend.data?.sendEmailVerification).toEqual({ sent: false });
  });

  it("sendEmailVerification needs a signed-in user", async () => {
    const res = await gql(platform.gatewayUrl, `mutation { sendEmailVerification { sent } }`);
    expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});

describe("OIDC discovery", () => {
  it("publishes the issuer and the JWKS location", async () => {
    const res = await fetch(new URL("/.well-known/openid-configuration", platform.subgraphUrls.identity));
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc.issuer).toBe(platform.issuer);
    const jwks = await fetch(doc.jwks_uri as string);
    expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
  });
});
