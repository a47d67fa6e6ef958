// `npx tsx bench/auth.ts [--smoke]`: what identity's access tokens and log-in cost (issue 5).
//  1. token verification per request at the gateway, in process: the access-token verifier alone
//     (EdDSA signature, claims; JWKS cached), then with the ended-session check against Redis as the
//     gateway runs it (5 s in-process cache) and with that cache off (one Redis EXISTS per request);
//  2. the same over HTTP: one trivial query (`__typename`) anonymous and with a token, one at a time, so
//     the difference is what verifying the token costs end to end;
//  3. log-in at the chosen password hashing cost (scrypt N=2^15, r=8, p=1): one hash alone, then logIn
//     mutations through the gateway with 1, 2 and 4 clients (log-in limits raised out of the way).
// The platform (gateway and subgraphs in this process, test/platform.ts) runs on a scratch database and
// the machine's Redis. `--smoke`: a few seconds, results not written.
import { writeFileSync } from "node:fs";
import { createLogger } from "@app/common";
import { createAccessTokenVerifier } from "../gateway/src/auth/access-token.ts";
import { createSessionRevocationCheck } from "../gateway/src/auth/session-revocation.ts";
import { hashPassword, verifyPassword } from "../subgraphs/identity/src/modules/accounts/password.ts";
import { gql, signUpTenant, startPlatform } from "../test/platform.ts";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { REDIS_URL } from "./lib/platform.ts";
import { loadAverage, resultHeader } from "./machine.ts";
import { summarize } from "./stats.ts";

const SMOKE = process.argv.includes("--smoke");
const CALLS = SMOKE ? 2_000 : 50_000;
const HTTP_REQUESTS = SMOKE ? 100 : 1_000;
const HASHES = SMOKE ? 5 : 50;
const LOGIN_SECONDS = SMOKE ? 2 : 15;
const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const PASSWORD = "correct horse battery staple";

const loadBefore = loadAverage();
const database = await createScratchDatabase(BASE_URL, "coditect_bench_auth");
const platform = await startPlatform(database.url, {
  redisUrl: REDIS_URL,
  // Every log-in here succeeds, but the address limit must not be what the benchmark measures.
  identity: { LOGIN_MAX_FAILURES_PER_ADDRESS: "1000000", LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000000" },
});
try {
  const owner = await signUpTenant(platform.gatewayUrl, "bench-auth");
  const logger = createLogger("bench", "silent");
  const settings = {
    jwksUrl: new URL("/.well-known/jwks.json", platform.subgraphUrls.identity).href,
    issuer: platform.issuer,
    audience: "coditect-platform",
  };

  // 1. In process.
  async function perCall(verify: (authorization: string) => Promise<unknown>) {
    const authorization = `Bearer ${owner.token}`;
    await verify(authorization); // fetches the JWKS, warms caches
    const ms: number[] = [];
    const cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await verify(authorization);
      ms.push(performance.now() - t0);
    }
    const wallMs = performance.now() - wallStart;
    const cpu = process.cpuUsage(cpuStart);
    return {
      ...summarize(ms),
      callsPerSecond: Math.round(CALLS / (wallMs / 1000)),
      cpuMicrosecondsPerCall: Math.round(((cpu.user + cpu.system) / CALLS) * 100) / 100,
    };
  }
  const cached = createSessionRevocationCheck({ redisUrl: REDIS_URL, cacheMs: 5_000, logger });
  const uncached = createSessionRevocationCheck({ redisUrl: REDIS_URL, cacheMs: 0, logger });
  const inProcess = {
    signatureAndClaims: await perCall(createAccessTokenVerifier(settings)),
    withSessionCheckCached: await perCall(createAccessTokenVerifier(settings, undefined, cached)),
    withSessionCheckRedisEveryCall: await perCall(createAccessTokenVerifier(settings, undefined, uncached)),
  };
  await cached.close();
  await uncached.close();

  // 2. Over HTTP, sequentially.
  async function overHttp(token?: string) {
    const ms: number[] = [];
    for (let i = 0; i <= HTTP_REQUESTS; i++) {
      const t0 = performance.now();
      const res = await gql(platform.gatewayUrl, "{ __typename }", { token });
      if (res.errors) throw new Error(JSON.stringify(res.errors));
      if (i > 0) ms.push(performance.now() - t0); // the first request warms the caches
    }
    return summarize(ms);
  }
  const http = { anonymous: await overHttp(), withAccessToken: await overHttp(owner.token) };

  // 3. Log-in.
  const hashMs: number[] = [];
  const verifyMs: number[] = [];
  // CPU time says what a hash costs whatever else the machine runs (the wall time waits for a core).
  const hashCpuStart = process.cpuUsage();
  for (let i = 0; i < HASHES; i++) {
    let t0 = performance.now();
    const hash = await hashPassword(PASSWORD);
    hashMs.push(performance.now() - t0);
    t0 = performance.now();
    await verifyPassword(PASSWORD, hash);
    verifyMs.push(performance.now() - t0);
  }
  const hashCpu = process.cpuUsage(hashCpuStart);
  const cpuMsPerHash = Math.round(((hashCpu.user + hashCpu.system) / 1000 / (2 * HASHES)) * 10) / 10;
  const LOG_IN = `mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }`;
  async function logIns(clients: number) {
    const ms: number[] = [];
    const deadline = performance.now() + LOGIN_SECONDS * 1000;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          const res = await gql(platform.gatewayUrl, LOG_IN, {
            variables: { input: { email: owner.email, password: PASSWORD } },
          });
          if (!res.data?.logIn) throw new Error(JSON.stringify(res.errors));
          ms.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    return {
      clients,
      logInsPerSecond: Math.round((ms.length / seconds) * 10) / 10,
      latencyMs: summarize(ms),
    };
  }
  const logIn = [await logIns(1), await logIns(2), await logIns(4)];

  const result = {
    ...resultHeader("auth"),
    // Shared machine: other helpers' builds and tests ran at the same time; the load average says how busy.
    loadAverage: { before: loadBefore, after: loadAverage() },
    calls: CALLS,
    tokenVerificationInProcessMs: inProcess,
    httpRequests: HTTP_REQUESTS,
    httpMs: http,
    passwordHashing: {
      scheme: "scrypt N=2^15 r=8 p=1",
      hashMs: summarize(hashMs),
      verifyMs: summarize(verifyMs),
    },
    logInThroughGateway: logIn,
  };
  console.table(
    Object.fromEntries(
      Object.entries(inProcess).map(([name, s]) => [
        name,
        { p50Ms: s.p50, p99Ms: s.p99, callsPerSecond: s.callsPerSecond, cpuUs: s.cpuMicrosecondsPerCall },
      ]),
    ),
  );
  console.table(
    Object.fromEntries(Object.entries(http).map(([n, s]) => [`http ${n}`, { p50Ms: s.p50, p99Ms: s.p99 }])),
  );
  console.table({ hash: result.passwordHashing.hashMs, verify: result.passwordHashing.verifyMs });
  console.log(`CPU per scrypt hash or verification: ${cpuMsPerHash} ms`);
  console.table(
    Object.fromEntries(
      logIn.map((r) => [
        `${r.clients} client(s)`,
        { perSecond: r.logInsPerSecond, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99 },
      ]),
    ),
  );
  console.log(`load average before ${loadBefore.join(" ")}, after ${result.loadAverage.after.join(" ")}`);
  if (!SMOKE)
    writeFileSync(new URL("results/auth.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await platform.close();
  await database.drop();
}
