import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform, uniqueEmail } from "../../test/platform.ts";

/**
 * The brute-force limit on log-ins, through the gateway with the limits in Redis: a scripted attack on
 * one account gets exactly the allowed number of guesses however concurrent it is, then RATE_LIMITED
 * with Retry-After (even for the right password); the address limit then stops guesses at other
 * accounts; both unlock when their window passes. The window is shortened (LOGIN_FAILURE_WINDOW_SECONDS)
 * so the test waits under a minute, not fifteen.
 */
const baseRedisUrl = inject("redisUrl");
const PASSWORD = "correct horse battery staple";
const PER_ACCOUNT = 3;
const PER_ADDRESS = 8;
// Long enough that the attack below finishes inside one window even on a machine shared by many test
// runs; the test then waits out what Retry-After says is left.
const WINDOW_SECONDS = 40;

const LOG_IN = `mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }`;

let platform: Platform;

beforeAll(async () => {
  if (!baseRedisUrl) return;
  // A Redis database of its own: every test platform's clients share 127.0.0.1, the address this
  // limit counts, so other test files' failed log-ins must not land in this file's counters.
  const redisUrl = new URL(baseRedisUrl);
  redisUrl.pathname = "/9";
  platform = await startPlatform(inject("databaseUrl"), {
    redisUrl: redisUrl.href,
    identity: {
      LOGIN_MAX_FAILURES_PER_ACCOUNT: String(PER_ACCOUNT),
      LOGIN_MAX_FAILURES_PER_ADDRESS: String(PER_ADDRESS),
      LOGIN_FAILURE_WINDOW_SECONDS: String(WINDOW_SECONDS),
    },
  });
});
afterAll(() => platform?.close());

const logIn = (email: string, password: string) =>
  gql(platform.gatewayUrl, LOG_IN, { variables: { input: { email, password } } });

describe.skipIf(!baseRedisUrl)("log-in limits", () => {
  it("hold under a scripted attack, answer RATE_LIMITED with Retry-After, and unlock after the window", async () => {
    const [victim, bystander, other] = await Promise.all([
      signUpTenant(platform.gatewayUrl, "victim"),
      signUpTenant(platform.gatewayUrl, "bystander"),
      signUpTenant(platform.gatewayUrl, "other"),
    ]);

    // 12 guesses at once at one account: exactly PER_ACCOUNT are checked, the rest refused unchecked.
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => logIn(victim.email, `wrong password ${i}`)),
    );
    const codes = guesses.map((r) => r.errors?.[0]?.extensions?.code);
    expect(codes.filter((c) => c === "UNAUTHENTICATED")).toHaveLength(PER_ACCOUNT);
    expect(codes.filter((c) => c === "RATE_LIMITED")).toHaveLength(12 - PER_ACCOUNT);
    for (const r of guesses) expect(r.data ?? null).toBeNull();

    // Locked: even the right password is refused, with a clear code and when to come back.
    const locked = await logIn(victim.email, PASSWORD);
    expect(locked.data ?? null).toBeNull();
    expect(locked.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    const retryAfter = Number(locked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    expect(locked.errors?.[0]?.extensions?.retryAfter).toBe(retryAfter);

    // Another account is unaffected by the first one's lock; a success does not use up the address.
    expect((await logIn(bystander.email, PASSWORD)).data?.logIn.accessToken).toBeTruthy();

    // Spraying other accounts (and unknown addresses) from the same client: the address limit stops it.
    const spray = await Promise.all(
      Array.from({ length: PER_ADDRESS }, () => logIn(uniqueEmail("spray"), "any password at all")),
    );
    const sprayCodes = spray.map((r) => r.errors?.[0]?.extensions?.code);
    expect(sprayCodes.filter((c) => c === "UNAUTHENTICATED")).toHaveLength(PER_ADDRESS - PER_ACCOUNT);
    expect(sprayCodes.filter((c) => c === "RATE_LIMITED")).toHaveLength(PER_ACCOUNT);
    const blocked = await logIn(other.email, PASSWORD);
    expect(blocked.errors?.[0]?.extensions?.code).toBe("RATE_LIMITED");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    // After the window (as Retry-After said), the right password works again for both.
    const wait = Math.max(
      Number(blocked.headers.get("retry-after")),
      Number((await logIn(victim.email, PASSWORD)).headers.get("retry-after")),
    );
    await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 500));
    expect((await logIn(victim.email, PASSWORD)).data?.logIn.accessToken).toBeTruthy();
    expect((await logIn(other.email, PASSWORD)).data?.logIn.accessToken).toBeTruthy();
  }, 150_000);
});
