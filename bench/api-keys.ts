// `npx tsx bench/api-keys.ts [--smoke]`: what authenticating a partner API key costs the gateway per
// request once its cache is warm (issue 5). Two views:
//  1. in-process, the gateway's own authenticator (gateway/src/auth/credentials.ts, the function every
//     request's Authorization goes through): an API key served from the in-process cache, beside an
//     identity access token (EdDSA signature check with the JWKS cached, plus the session check);
//  2. through the gateway over HTTP, one request at a time: the same trusted document (CurrentOrganization)
//     sent with the key and with the token, so the difference is what the credential costs end to end.
// The platform (gateway and subgraphs in this process, test/platform.ts) runs on a scratch database and
// the machine's Redis. `--smoke`: a few thousand calls, results not written.
import { writeFileSync } from "node:fs";
import { createLogger } from "@app/common";
import { createCredentials } from "../gateway/src/auth/credentials.ts";
import { gatewayEnv } from "../gateway/src/env.ts";
import manifest from "../schema/operations/generated/persisted-documents.json" with { type: "json" };
import { gql, signUpTenant, startPlatform } from "../test/platform.ts";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { REDIS_URL } from "./lib/platform.ts";
import { loadAverage, resultHeader } from "./machine.ts";
import { summarize } from "./stats.ts";

const SMOKE = process.argv.includes("--smoke");
const CALLS = SMOKE ? 2_000 : 200_000;
const HTTP_REQUESTS = SMOKE ? 100 : 500;
const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

const loadBefore = loadAverage();
const database = await createScratchDatabase(BASE_URL, "coditect_bench_keys");
const platform = await startPlatform(database.url, { redisUrl: REDIS_URL });
try {
  const owner = await signUpTenant(platform.gatewayUrl, "bench-keys");
  const created = await gql(
    platform.gatewayUrl,
    `mutation { createApiKey(input: { name: "bench", scopes: [READ] }) { secret } }`,
    { token: owner.token },
  );
  const key = created.data?.createApiKey.secret as string;
  if (!key) throw new Error(`could not create a key: ${JSON.stringify(created.errors)}`);

  // 1. The authenticator alone, as the gateway builds it from its settings.
  const credentials = createCredentials(gatewayEnv.parse(platform.gatewaySettings), {
    identityUrl: () => platform.subgraphUrls.identity,
    logger: createLogger("bench", "silent"),
  });
  async function perCall(authorization: string) {
    await credentials.authenticate(authorization); // warms the caches (key, JWKS, session)
    const ms: number[] = [];
    const cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await credentials.authenticate(authorization);
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
  const inProcess = {
    apiKeyWarmCache: await perCall(`Bearer ${key}`),
    accessToken: await perCall(`Bearer ${owner.token}`),
  };
  await credentials.close();

  // 2. Through the gateway over HTTP, one request at a time.
  const documentId = Object.entries(manifest as Record<string, string>).find(([, doc]) =>
    /query CurrentOrganization\b/.test(doc),
  )![0];
  // The two credentials alternate request by request, so both meet the same load and the same warmth
  // (run one after the other, whichever ran first was the slower: the machine's drift, not the code's).
  async function once(bearer: string): Promise<number> {
    const t0 = performance.now();
    const response = await fetch(platform.gatewayUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ documentId }),
    });
    const body = (await response.json()) as { errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return performance.now() - t0;
  }
  const keyMs: number[] = [];
  const tokenMs: number[] = [];
  await once(key); // warms the caches
  await once(owner.token);
  for (let i = 0; i < HTTP_REQUESTS; i++) {
    keyMs.push(await once(key));
    tokenMs.push(await once(owner.token));
  }
  const http = { apiKey: summarize(keyMs), accessToken: summarize(tokenMs) };

  const result = {
    ...resultHeader("api-keys"),
    // Shared machine: other helpers' work ran at the same time; the load average says how busy it was.
    loadAverage: { before: loadBefore, after: loadAverage() },
    calls: CALLS,
    inProcessMs: inProcess,
    httpRequests: HTTP_REQUESTS,
    httpMs: http,
  };
  console.table(
    Object.fromEntries(
      Object.entries(inProcess).map(([name, s]) => [
        `in-process ${name}`,
        { p50Ms: s.p50, p99Ms: s.p99, callsPerSecond: s.callsPerSecond, cpuUs: s.cpuMicrosecondsPerCall },
      ]),
    ),
  );
  console.table(
    Object.fromEntries(Object.entries(http).map(([n, s]) => [`http ${n}`, { p50Ms: s.p50, p99Ms: s.p99 }])),
  );
  console.log(`load average before ${loadBefore.join(" ")}, after ${result.loadAverage.after.join(" ")}`);
  if (!SMOKE)
    writeFileSync(new URL("results/api-keys.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await platform.close();
  await database.drop();
}
