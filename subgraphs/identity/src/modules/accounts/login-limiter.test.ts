import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { type LoginLimiter, memoryLoginLimiter, redisLoginLimiter } from "./login-limiter.ts";

/** Both limiters keep the same promises: the Redis one across replicas, the memory one in a process. */
const redisUrl = inject("redisUrl");
const redis = redisUrl ? new Redis(redisUrl) : null;
afterAll(() => redis?.disconnect());

const limits = { perAccount: 3, perAddress: 5, windowSeconds: 2 };
const unique = () => `${Date.now()}-${Math.random().toString(36).slice(2)}`;

async function outcome(limiter: LoginLimiter, account: string, address: string) {
  try {
    return { attempt: await limiter.begin(account, address) };
  } catch (error) {
    return { refused: error as { extensions: { code: string; retryAfter: number } } };
  }
}

const implementations: Array<[string, () => LoginLimiter]> = [["memory", () => memoryLoginLimiter(limits)]];
if (redis) implementations.push(["redis", () => redisLoginLimiter(redis, limits)]);

describe.each(implementations)("%s login limiter", (_name, make) => {
  it("lets exactly the allowance through when attempts race", async () => {
    const limiter = make();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => outcome(limiter, `a-${unique()}`, `ip-${unique()}`)),
    );
    expect(results.every((r) => r.attempt)).toBe(true); // different accounts and addresses: no limit hit
    const account = `a-${unique()}`;
    const raced = await Promise.all(
      Array.from({ length: 10 }, () => outcome(limiter, account, `ip-${unique()}`)),
    );
    expect(raced.filter((r) => r.attempt)).toHaveLength(limits.perAccount);
    const refused = raced.find((r) => r.refused)!.refused!;
    expect(refused.extensions.code).toBe("RATE_LIMITED");
    expect(refused.extensions.retryAfter).toBeGreaterThanOrEqual(1);
    expect(refused.extensions.retryAfter).toBeLessThanOrEqual(limits.windowSeconds);
  });

  it("limits an address across accounts; a success gives its attempt back and clears the account", async () => {
    const limiter = make();
    const address = `ip-${unique()}`;
    const account = `a-${unique()}`;
    const first = await outcome(limiter, account, address);
    await outcome(limiter, account, address);
    await first.attempt!.succeeded(); // account cleared, address back to 1
    for (let i = 0; i < limits.perAddress - 1; i++)
      expect((await outcome(limiter, `a-${unique()}`, address)).attempt).toBeTruthy();
    expect((await outcome(limiter, `a-${unique()}`, address)).refused?.extensions.code).toBe("RATE_LIMITED");
  });

  it("unlocks when the window has passed", async () => {
    const limiter = make();
    const account = `a-${unique()}`;
    for (let i = 0; i < limits.perAccount; i++) await outcome(limiter, account, `ip-${unique()}`);
    expect((await outcome(limiter, account, `ip-${unique()}`)).refused).toBeTruthy();
    await new Promise((resolve) => setTimeout(resolve, limits.windowSeconds * 1000 + 200));
    expect((await outcome(limiter, account, `ip-${unique()}`)).attempt).toBeTruthy();
  });
});
