import { INTERNAL_CONTEXT_HEADER, signInternalContext } from "@app/common";
import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform } from "../../../test/platform.ts";
import { MAX_FAILED_CODES } from "../src/modules/mfa/mfa.service.ts";

/**
 * TOTP second factor through the gateway: enrolment, confirmation, log-in in two steps, recovery codes
 * used once, replayed codes, forged challenges and the lock after wrong codes.
 */

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;
const PASSWORD = "correct horse battery staple";

const ENROLL = `mutation { enrollTotp { otpauthUri qrCodeDataUrl secret } }`;
const CONFIRM = `mutation($code: String!) { confirmTotp(input: { code: $code }) { recoveryCodes } }`;
const DISABLE = `mutation($code: String!) { disableTotp(input: { code: $code }) { totpEnabled } }`;
const STATUS = `{ secondFactor { totpEnabled recoveryCodesLeft } }`;
const LOG_IN = `mutation($email: String!, $password: String!) {
  logIn(input: { email: $email, password: $password }) { accessToken organizationId }
}`;
const COMPLETE = `mutation($challenge: String!, $code: String!) {
  completeLogIn(input: { challenge: $challenge, code: $code }) { accessToken organizationId user { id } }
}`;
const ME = `{ me { id } }`;
const INVITE = `mutation($input: InviteMemberInput!) { inviteMember(input: $input) { invitation { id } } }`;
const ACCEPT = `mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { organizationId } }`;

let platform: Platform;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
});
afterAll(() => platform?.close());

const codes = (res: { errors?: Array<{ extensions?: { code?: string } }> }) =>
  res.errors?.map((e) => e.extensions?.code);
/** The code for the time step `steps` away from now (the server accepts one step either side). */
const totp = (secret: string, steps = 0) =>
  generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

async function enrolled(label: string) {
  const user = await signUpTenant(platform.gatewayUrl, label);
  const enrolment = await gql(platform.gatewayUrl, ENROLL, { token: user.token });
  const secret = enrolment.data!.enrollTotp.secret as string;
  const confirmed = await gql(platform.gatewayUrl, CONFIRM, {
    token: user.token,
    variables: { code: await totp(secret, -1) },
  });
  if (confirmed.errors) throw new Error(JSON.stringify(confirmed.errors));
  return { user, secret, recoveryCodes: confirmed.data!.confirmTotp.recoveryCodes as string[] };
}

/** logIn's first step: the challenge from SECOND_FACTOR_REQUIRED. */
async function challengeFor(user: Tenant): Promise<string> {
  const res = await gql(platform.gatewayUrl, LOG_IN, {
    variables: { email: user.email, password: PASSWORD },
  });
  expect(codes(res)).toEqual(["SECOND_FACTOR_REQUIRED"]);
  expect(JSON.stringify(res)).not.toContain('accessToken":"');
  return res.errors![0]!.extensions!.challenge as string;
}

describe("enrolment", () => {
  it("gives an otpauth URI and a QR code, and turns on only after a correct code", async () => {
    const user = await signUpTenant(platform.gatewayUrl, "mfa-enrol");
    const res = await gql(platform.gatewayUrl, ENROLL, { token: user.token });
    const { otpauthUri, qrCodeDataUrl, secret } = res.data!.enrollTotp;
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/CODITECT:/);
    expect(otpauthUri).toContain(`secret=${secret}`);
    expect(Buffer.from(qrCodeDataUrl.split(",")[1], "base64").toString()).toContain("<svg");

    // Not on yet: log-in still answers tokens.
    const before = await gql(platform.gatewayUrl, LOG_IN, {
      variables: { email: user.email, password: PASSWORD },
    });
    expect(before.data?.logIn.accessToken).toBeTruthy();

    const wrong = await gql(platform.gatewayUrl, CONFIRM, {
      token: user.token,
      variables: { code: "000000" },
    });
    expect(codes(wrong)).toEqual(["BAD_USER_INPUT"]);
    expect(wrong.errors?.[0]?.message).toContain("input.code");
    const ok = await gql(platform.gatewayUrl, CONFIRM, {
      token: user.token,
      variables: { code: await totp(secret) },
    });
    expect(ok.data?.confirmTotp.recoveryCodes).toHaveLength(10);
    const status = await gql(platform.gatewayUrl, STATUS, { token: user.token });
    expect(status.data?.secondFactor).toEqual({ totpEnabled: true, recoveryCodesLeft: 10 });
    // Enrolling again while on is refused (it would replace the working secret).
    expect(codes(await gql(platform.gatewayUrl, ENROLL, { token: user.token }))).toEqual(["CONFLICT"]);
  });

  it("is refused to API-key principals, even at identity itself", async () => {
    const user = await signUpTenant(platform.gatewayUrl, "mfa-key");
    const context = await signInternalContext(platform.internalSecret, {
      requestId: "mfa-api-key",
      principal: {
        tenantId: user.tenantId,
        userId: user.userId,
        roles: ["MEMBER"],
        credential: "apiKey",
        scopes: ["read", "write"],
      },
    });
    const res = await gql(platform.subgraphUrls.identity, ENROLL, {
      headers: { [INTERNAL_CONTEXT_HEADER]: context },
    });
    expect(codes(res)).toEqual(["FORBIDDEN"]);
  });
});

describe("log-in with a second factor", () => {
  it("asks for the second step; a TOTP code completes it once", async () => {
    const { user, secret } = await enrolled("mfa-login");
    const challenge = await challengeFor(user);
    const wrong = await gql(platform.gatewayUrl, COMPLETE, { variables: { challenge, code: "123456" } });
    expect(codes(wrong)).toEqual(["UNAUTHENTICATED"]);

    const code = await totp(secret, 1);
    const done = await gql(platform.gatewayUrl, COMPLETE, { variables: { challenge, code } });
    expect(done.errors).toBeUndefined();
    expect(done.data?.completeLogIn).toMatchObject({
      organizationId: user.tenantId,
      user: { id: user.userId },
    });
    const me = await gql(platform.gatewayUrl, ME, { token: done.data!.completeLogIn.accessToken });
    expect(me.data?.me.id).toBe(user.userId);

    // The same code again (a replay, even with a fresh challenge) is refused.
    const replay = await gql(platform.gatewayUrl, COMPLETE, {
      variables: { challenge: await challengeFor(user), code },
    });
    expect(codes(replay)).toEqual(["UNAUTHENTICATED"]);
  });

  it("accepts each recovery code once", async () => {
    const { user, recoveryCodes } = await enrolled("mfa-recovery");
    const [first] = recoveryCodes;
    const done = await gql(platform.gatewayUrl, COMPLETE, {
      variables: { challenge: await challengeFor(user), code: first!.toUpperCase().replace("-", " ") },
    });
    expect(done.data?.completeLogIn.accessToken).toBeTruthy();
    const again = await gql(platform.gatewayUrl, COMPLETE, {
      variables: { challenge: await challengeFor(user), code: first },
    });
    expect(codes(again)).toEqual(["UNAUTHENTICATED"]);
    const status = await gql(platform.gatewayUrl, STATUS, { token: done.data!.completeLogIn.accessToken });
    expect(status.data?.secondFactor.recoveryCodesLeft).toBe(9);
  });

  it("refuses forged, altered and misused challenges", async () => {
    const { user, secret } = await enrolled("mfa-forged");
    const challenge = await challengeFor(user);
    const [header, payload, signature] = challenge.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    const altered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: "01a20000-0000-7000-8000-000000000000" })).toString("base64url")}.${signature}`;
    const other = await signUpTenant(platform.gatewayUrl, "mfa-other");
    for (const bad of [altered, other.token, `${challenge}x`, "not-a-jwt"]) {
      const res = await gql(platform.gatewayUrl, COMPLETE, {
        variables: { challenge: bad, code: await totp(secret) },
      });
      expect(codes(res), bad).toEqual(["UNAUTHENTICATED"]);
      expect(res.data ?? null).toBeNull();
    }
    // A challenge is not an access token.
    expect(codes(await gql(platform.gatewayUrl, ME, { token: challenge }))).toEqual(["UNAUTHENTICATED"]);
  });

  it(`locks the second step after ${MAX_FAILED_CODES} wrong codes, even sent all at once`, async () => {
    const { user, secret } = await enrolled("mfa-lock");
    const challenge = await challengeFor(user);
    const burst = await Promise.all(
      Array.from({ length: MAX_FAILED_CODES + 4 }, () =>
        gql(platform.gatewayUrl, COMPLETE, { variables: { challenge, code: "000000" } }),
      ),
    );
    const answers = burst.map((res) => codes(res)?.[0]);
    // Each guess takes an attempt before it is checked: exactly the allowance is tried, the rest refused.
    expect(answers.filter((c) => c === "UNAUTHENTICATED")).toHaveLength(MAX_FAILED_CODES);
    expect(answers.filter((c) => c === "RATE_LIMITED")).toHaveLength(4);
    const locked = await gql(platform.gatewayUrl, COMPLETE, {
      variables: { challenge, code: await totp(secret, 1) },
    });
    expect(codes(locked)).toEqual(["RATE_LIMITED"]);
    expect(locked.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(800);
    expect(locked.data ?? null).toBeNull();
  });

  it("a password alone cannot accept an invitation for the account; signed in with the second factor it can", async () => {
    const { user, secret } = await enrolled("mfa-invitee");
    const inviter = await signUpTenant(platform.gatewayUrl, "mfa-inviter");
    const invited = await gql(platform.gatewayUrl, INVITE, {
      token: inviter.token,
      variables: { input: { email: user.email, role: "MEMBER" } },
    });
    const invitationId = invited.data!.inviteMember.invitation.id as string;
    const rows = await platform.prisma.outboxEvent.findMany({
      where: { topic: "invitation.sent", payload: { path: ["invitationId"], equals: invitationId } },
    });
    const token = (rows[0]!.payload as { token: string }).token;

    const byPassword = await gql(platform.gatewayUrl, ACCEPT, {
      variables: { input: { token, password: PASSWORD } },
    });
    expect(codes(byPassword)).toEqual(["FORBIDDEN"]);
    expect(byPassword.data ?? null).toBeNull();

    const session = await gql(platform.gatewayUrl, COMPLETE, {
      variables: { challenge: await challengeFor(user), code: await totp(secret, 1) },
    });
    const signedIn = await gql(platform.gatewayUrl, ACCEPT, {
      token: session.data!.completeLogIn.accessToken,
      variables: { input: { token } },
    });
    expect(signedIn.data?.acceptInvitation.organizationId).toBe(inviter.tenantId);
  });

  it("turned off with a recovery code, log-in answers tokens again", async () => {
    const { user, recoveryCodes } = await enrolled("mfa-off");
    const done = await gql(platform.gatewayUrl, COMPLETE, {
      variables: { challenge: await challengeFor(user), code: recoveryCodes[0] },
    });
    const token = done.data!.completeLogIn.accessToken;
    const off = await gql(platform.gatewayUrl, DISABLE, { token, variables: { code: recoveryCodes[1] } });
    expect(off.data?.disableTotp.totpEnabled).toBe(false);
    const res = await gql(platform.gatewayUrl, LOG_IN, {
      variables: { email: user.email, password: PASSWORD },
    });
    expect(res.data?.logIn.accessToken).toBeTruthy();
  });
});
