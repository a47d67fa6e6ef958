// `npx tsx bench/gateways.ts [--smoke]`: this gateway against its peers, in one run (issue 10, item 1).
// One fixed federated query crossing three subgraphs (tenants -> projects -> identity: the current
// organization, its project, a page of 50 tasks with their project and assignee) at 50 concurrent
// connections for 30 s (autocannon), against this gateway, the stock @apollo/gateway on @apollo/server
// (default settings) and Hive Gateway (@graphql-hive/gateway), in turn, several rounds, all on the same
// supergraph (schema/supergraph.graphql), the same subgraph processes and the same data. It reports
// requests per second, latency p50/p95/p99, errors and wrong answers, the ratios, the CPU each gateway
// spent per request, and this gateway's own overhead: the same query through it minus the same three
// subgraph calls made straight (one at a time, unloaded).
//
// The platform runs as in production (`npm start`, bench/lib/platform.ts) on a scratch database seeded
// with bench/lib/seed.ts (one organization, 10 members, a project of 50 tasks); the bench logs in
// through the gateway for a real access token. The peers run from bench/peers (their own npm install,
// made on first use; Hive Gateway on Node 22 from the npm `node` package) and forward a long-lived
// signed internal context for the same tenant: they neither verify a token nor sign per request, which
// ours does, so the comparison favours them.
//
// Flags: `--smoke` (one short round, for CI; writes to a temp file), `--rounds N`, `--seconds S`,
// `--connections C`, `--profile` (a CPU profile of this gateway during one more run; results in
// bench/results/gateways.profile.json), `--hive-no-dedupe` (Hive Gateway without its sharing of
// identical in-flight subgraph queries between requests; results in gateways.hive-no-dedupe.json).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { createScratchDatabase } from "../test/scratch-db.ts";
import { cpuProfile, summarizeProfile } from "./inspector.ts";
import { internalContextSecret, longLivedInternalContext } from "./lib/credentials.ts";
import { cpuWhile, freePort, gql, type Platform, ROOT, startPlatform } from "./lib/platform.ts";
import { SEED_PASSWORD, seedIds, seedOrganizations } from "./lib/seed.ts";
import { loadAverage, machine, resultHeader } from "./machine.ts";
import { sleep, summarize, within } from "./stats.ts";

const BASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const { values: flags } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    rounds: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string" },
    profile: { type: "boolean", default: false },
    "hive-no-dedupe": { type: "boolean", default: false },
  },
});
const SMOKE = flags.smoke!;
const positive = (value: string | undefined, fallback: number) => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${value}`);
  return n;
};
const SIZE = {
  rounds: positive(flags.rounds, SMOKE ? 1 : 3),
  seconds: positive(flags.seconds, SMOKE ? 2 : 30),
  connections: positive(flags.connections, SMOKE ? 10 : 50),
  warmupSeconds: SMOKE ? 1 : 5,
  /** Requests, one at a time, for the unloaded latency of the gateway and of the subgraphs straight. */
  sequential: SMOKE ? 20 : 500,
};
const TARGETS = { throughputVsApollo: 2, throughputVsHive: 1 };
const PEERS_DIR = join(ROOT, "bench/peers");
const READY_TIMEOUT_MS = 60_000;

const TASKS = 50;
// On the plan without an operations limit: the free plan's 10,000 a month would end the run early.
const SHAPE = {
  usersPerOrganization: 10,
  projectsPerOrganization: 1,
  tasksPerProject: TASKS,
  planCode: "ENTERPRISE",
};

/** The fixed query: tenants (the organization), projects (its project and tasks), identity (assignees). */
const QUERY = `query GatewayBench {
  currentOrganization {
    id
    name
    slug
    projects(first: 1) {
      edges {
        node {
          id
          key
          name
          tasks(first: ${TASKS}) {
            edges {
              node {
                id
                title
                status
                priority
                project { id name }
                assignee { id name email role }
              }
            }
          }
        }
      }
    }
  }
}`;

// The same query as the three subgraph calls a gateway makes for it, made straight to the subgraphs.
const DIRECT = {
  tenants: "{ currentOrganization { __typename id name slug } }",
  projects: `query($representations: [_Any!]!) { _entities(representations: $representations) {
    ... on Organization { projects(first: 1) { edges { node { id key name tasks(first: ${TASKS}) { edges { node {
      id title status priority project { id name } assignee { __typename id } } } } } } } }
  } }`,
  identity: `query($representations: [_Any!]!) { _entities(representations: $representations) {
    ... on User { id name email role }
  } }`,
};

type GatewayName = "coditect" | "apollo" | "hive";

interface Gateway {
  name: GatewayName;
  url: string;
  pid: number;
  headers: Record<string, string>;
  stop(): Promise<void>;
}

/** `npm install` of the peers' folder, once (it has its own lock file). */
function installPeers() {
  if (existsSync(join(PEERS_DIR, "node_modules/@graphql-hive/gateway"))) return;
  console.log("installing the peer gateways into bench/peers (npm ci, once)...");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: PEERS_DIR, stdio: "inherit" });
}

/**
 * Starts a peer gateway's process on a free port and waits until it answers the query; again on
 * another port if it exits first (the port can be taken meanwhile: the machine is shared).
 */
async function startPeer(
  name: GatewayName,
  executable: string,
  args: (port: number) => string[],
  env: Record<string, string>,
  url: (port: number) => string,
): Promise<Gateway> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(executable, args(port), {
      cwd: PEERS_DIR,
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    };
    const ready = (async () => {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
        try {
          await gql(url(port), QUERY, {});
          return;
        } catch {
          await sleep(250);
        }
      }
    })();
    try {
      await within(ready, READY_TIMEOUT_MS, () => `${name} gateway did not answer`);
      return { name, url: url(port), pid: child.pid!, headers: {}, stop };
    } catch (error) {
      await stop();
      if (attempt === 3) throw error;
      console.log(`  ${name} did not start (${(error as Error).message}); again on another port`);
    }
  }
}

interface Run {
  requests: number;
  rps: number;
  latencyMs: ReturnType<typeof summarize>;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** 200s whose body was not the expected answer (a GraphQL error, missing data). */
  wrongAnswers: number;
  gatewayCpuMsPerRequest: number;
  cpu: Awaited<ReturnType<typeof cpuWhile>>["cpu"];
  loadAverage: number[];
}

/** autocannon against one gateway for `seconds`, every response checked against `expectBody`. */
async function load(
  gateway: Gateway,
  seconds: number,
  expectBody: string,
  pids: Record<string, number>,
): Promise<Run> {
  const latencies: number[] = [];
  const { result, cpu } = await cpuWhile(
    { gateway: gateway.pid, ...pids },
    () =>
      new Promise<autocannon.Result>((resolve, reject) => {
        const instance = autocannon(
          {
            url: gateway.url,
            method: "POST",
            headers: { "content-type": "application/json", ...gateway.headers },
            body: JSON.stringify({ query: QUERY }),
            connections: SIZE.connections,
            duration: seconds,
            expectBody,
          },
          (error, result) => (error ? reject(error) : resolve(result)),
        );
        instance.on("response", (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
      }),
  );
  const requests = result["2xx"] + result.non2xx;
  return {
    requests,
    rps: Math.round((requests / result.duration) * 10) / 10,
    latencyMs: summarize(latencies),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    wrongAnswers: result.mismatches,
    gatewayCpuMsPerRequest: Math.round(((cpu.gateway?.cpuMs ?? 0) / Math.max(1, requests)) * 1000) / 1000,
    cpu,
    loadAverage: loadAverage(),
  };
}

/** The three subgraph calls of the query plan, in order, as one client would make them. */
async function straightToSubgraphs(platform: Platform, contextHeader: string) {
  const headers = { "x-coditect-context": contextHeader };
  const { currentOrganization: org } = await gql<{ currentOrganization: { __typename: string; id: string } }>(
    platform.subgraphUrls.tenants,
    DIRECT.tenants,
    {},
    undefined,
    headers,
  );
  const projects = await gql<{ _entities: Array<{ projects: { edges: Array<{ node: ProjectNode }> } }> }>(
    platform.subgraphUrls.projects,
    DIRECT.projects,
    { representations: [{ __typename: org.__typename, id: org.id }] },
    undefined,
    headers,
  );
  const assignees = projects._entities[0]!.projects.edges.flatMap((e) =>
    e.node.tasks.edges.map((t) => t.node.assignee),
  );
  const users = await gql<{ _entities: unknown[] }>(
    platform.subgraphUrls.identity,
    DIRECT.identity,
    { representations: assignees },
    undefined,
    headers,
  );
  return users._entities.length;
}
interface ProjectNode {
  tasks: { edges: Array<{ node: { assignee: { __typename: string; id: string } } }> };
}

async function sequentialMs(n: number, once: () => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await once();
    ms.push(performance.now() - started);
  }
  return summarize(ms);
}

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---------------------------------------------------------------------------------------------------

const loadAtStart = loadAverage();
installPeers();
const scratch = await createScratchDatabase(BASE_URL, "coditect_bch_gateways");
const dataDir = await mkdtemp(join(tmpdir(), "coditect-bench-gateways-"));
const gateways: Gateway[] = [];
let platform: Platform | undefined;
try {
  console.log(
    `gateways benchmark${SMOKE ? " (smoke)" : ""}: ${SIZE.rounds} round(s) of ${SIZE.seconds} s at ${SIZE.connections} connections per gateway`,
  );
  await seedOrganizations(scratch.url, 0, 1, SHAPE);
  platform = await startPlatform(scratch.url, dataDir, {
    // The measured runs outlast identity's default 15-minute access tokens.
    env: { ACCESS_TOKEN_TTL_SECONDS: "86400" },
  });
  const { logIn } = await gql<{ logIn: { accessToken: string } }>(
    platform.gatewayUrl,
    `mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }`,
    { input: { email: seedIds.email(0, 0), password: SEED_PASSWORD } },
  );
  const subject = {
    tenantId: seedIds.organization(0),
    userId: seedIds.user(0, 0),
    roles: ["OWNER" as const],
  };
  const contextHeader = await longLivedInternalContext(
    await internalContextSecret(dataDir),
    subject,
    24 * 3600,
  );

  // The peers read the same supergraph, with the subgraph URLs this platform listens on.
  let supergraph = await readFile(join(ROOT, "schema/supergraph.graphql"), "utf8");
  for (const [name, url] of Object.entries(platform.subgraphUrls))
    supergraph = supergraph.replace(
      new RegExp(`(@join__graph\\(name: "${name}", url: )"[^"]*"`),
      `$1"${url}"`,
    );
  const supergraphPath = join(dataDir, "supergraph.graphql");
  await writeFile(supergraphPath, supergraph);

  const { pids } = platform;
  gateways.push({
    name: "coditect",
    url: platform.gatewayUrl,
    pid: pids.gateway,
    headers: { authorization: `Bearer ${logIn.accessToken}` },
    stop: async () => {},
  });
  const peerEnv = { SUPERGRAPH_PATH: supergraphPath, CONTEXT_HEADER: contextHeader };
  gateways.push(
    await startPeer(
      "apollo",
      process.execPath,
      () => ["apollo-gateway.mjs"],
      // Apollo's gateway otherwise reports telemetry and probes cloud metadata addresses.
      { ...peerEnv, APOLLO_TELEMETRY_DISABLED: "1" },
      (port) => `http://127.0.0.1:${port}/`,
    ),
  );
  gateways.push(
    await startPeer(
      "hive",
      join(PEERS_DIR, "node_modules/.bin/node"),
      (port) => [
        "node_modules/@graphql-hive/gateway/dist/bin.js",
        "supergraph",
        supergraphPath,
        "--config-path",
        "hive-gateway.config.mjs",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
      ],
      { ...peerEnv, ...(flags["hive-no-dedupe"] ? { HIVE_DEDUPLICATE: "0" } : {}) },
      (port) => `http://127.0.0.1:${port}/graphql`,
    ),
  );
  const versions = {
    apollo: JSON.parse(await readFile(join(PEERS_DIR, "node_modules/@apollo/gateway/package.json"), "utf8"))
      .version as string,
    apolloServer: JSON.parse(
      await readFile(join(PEERS_DIR, "node_modules/@apollo/server/package.json"), "utf8"),
    ).version as string,
    hive: JSON.parse(
      await readFile(join(PEERS_DIR, "node_modules/@graphql-hive/gateway/package.json"), "utf8"),
    ).version as string,
    hiveNode: execFileSync(join(PEERS_DIR, "node_modules/.bin/node"), ["--version"], {
      encoding: "utf8",
    }).trim(),
  };

  // Every gateway must give the same answer before any is timed; its exact body is then what each
  // response must be (autocannon counts anything else as a mismatch).
  const reference = await gql<{ currentOrganization: unknown }>(
    gateways[0]!.url,
    QUERY,
    {},
    logIn.accessToken,
  );
  const tasks = JSON.stringify(reference).match(/"title"/g)?.length ?? 0;
  if (tasks !== TASKS) throw new Error(`the query returned ${tasks} tasks, not ${TASKS}`);
  const expected = new Map<GatewayName, string>();
  for (const gateway of gateways) {
    const response = await fetch(gateway.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...gateway.headers },
      body: JSON.stringify({ query: QUERY }),
    });
    const body = await response.text();
    if (JSON.stringify(JSON.parse(body)) !== JSON.stringify({ data: reference }))
      throw new Error(`${gateway.name} answered differently: ${body.slice(0, 300)}`);
    expected.set(gateway.name, body);
  }

  const subgraphPids = { tenants: pids.tenants, projects: pids.projects, identity: pids.identity };
  for (const gateway of gateways) await load(gateway, SIZE.warmupSeconds, expected.get(gateway.name)!, {});

  const runs: Record<GatewayName, Run[]> = { coditect: [], apollo: [], hive: [] };
  for (let round = 0; round < SIZE.rounds; round++) {
    // Each round starts with a different gateway, so a drift in the machine's load spreads over all.
    const order = gateways.map((_, i) => gateways[(i + round) % gateways.length]!);
    for (const gateway of order) {
      const run = await load(gateway, SIZE.seconds, expected.get(gateway.name)!, subgraphPids);
      runs[gateway.name].push(run);
      console.log(
        `round ${round + 1} ${gateway.name.padEnd(8)} ${run.rps} req/s, p50 ${run.latencyMs.p50} ms, p99 ${run.latencyMs.p99} ms, ${run.errors + run.non2xx + run.wrongAnswers} errors, gateway ${run.gatewayCpuMsPerRequest} ms CPU/request (load ${run.loadAverage.join(" ")})`,
      );
    }
  }

  // Unloaded latency: the query through this gateway, and its three subgraph calls made straight.
  const viaGateway = await sequentialMs(SIZE.sequential, () =>
    gql(platform!.gatewayUrl, QUERY, {}, logIn.accessToken),
  );
  const straight = await sequentialMs(SIZE.sequential, () => straightToSubgraphs(platform!, contextHeader));
  const overhead = {
    viaGatewayMs: viaGateway,
    straightToSubgraphsMs: straight,
    gatewayAddsMs: {
      p50: Math.round((viaGateway.p50 - straight.p50) * 1000) / 1000,
      p99: Math.round((viaGateway.p99 - straight.p99) * 1000) / 1000,
    },
  };
  console.log("one request at a time (ms)");
  console.table({ "through the gateway": viaGateway, "straight to the 3 subgraphs": straight });

  let profile: ReturnType<typeof summarizeProfile> | undefined;
  if (flags.profile) {
    const raw = await cpuProfile(pids.gateway, () =>
      load(gateways[0]!, SIZE.seconds, expected.get("coditect")!, subgraphPids),
    );
    profile = summarizeProfile(raw, 25);
    const file = join(tmpdir(), `gateways-coditect-${Date.now()}.cpuprofile`);
    await writeFile(file, JSON.stringify(raw));
    console.log(`CPU profile of this gateway under load (self time, ms; raw profile: ${file})`);
    console.table(profile.byPackage);
    console.table(profile.byFunction);
  }

  const summarizeRuns = (rs: Run[]) => ({
    medianRps: median(rs.map((r) => r.rps)),
    p50Ms: median(rs.map((r) => r.latencyMs.p50)),
    p95Ms: median(rs.map((r) => r.latencyMs.p95)),
    p99Ms: median(rs.map((r) => r.latencyMs.p99)),
    errors: rs.reduce((n, r) => n + r.errors + r.timeouts + r.non2xx + r.wrongAnswers, 0),
    gatewayCpuMsPerRequest: median(rs.map((r) => r.gatewayCpuMsPerRequest)),
  });
  const summary = {
    coditect: summarizeRuns(runs.coditect),
    apollo: summarizeRuns(runs.apollo),
    hive: summarizeRuns(runs.hive),
  };
  console.log("median of the rounds");
  console.table(summary);
  const ratios = {
    coditectVsApollo: ratio(summary.coditect.medianRps, summary.apollo.medianRps),
    coditectVsHive: ratio(summary.coditect.medianRps, summary.hive.medianRps),
  };
  const targets = {
    atLeast2xApollo: {
      target: TARGETS.throughputVsApollo,
      measured: ratios.coditectVsApollo,
      met: ratios.coditectVsApollo >= TARGETS.throughputVsApollo,
    },
    aheadOfHive: {
      target: TARGETS.throughputVsHive,
      measured: ratios.coditectVsHive,
      met: ratios.coditectVsHive > TARGETS.throughputVsHive,
    },
    noErrors: { met: Object.values(summary).every((s) => s.errors === 0) },
  };
  console.log("targets");
  console.table(targets);

  const output = {
    ...resultHeader("gateways"),
    machine: { ...machine(), loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAverage() },
    query: QUERY.replace(/\s+/g, " "),
    sizes: SIZE,
    versions,
    perRequest: {
      coditect:
        "verifies the EdDSA access token (JWKS cached), checks query limits (depth, aliases, cost...), plans (cached per document) and signs an HS256 internal context per request for its subgraph fetches",
      apollo: "plans (cached per document) and forwards one pre-signed context header; no auth, no limits",
      hive: "plans and forwards one pre-signed context header; no auth; its defaults otherwise",
    },
    summary,
    ratios,
    rounds: runs,
    overhead,
    ...(profile ? { cpuProfile: profile } : {}),
    targets,
  };
  // A profiled run is slowed by its profiler: its figures go to a file of their own, beside the profile.
  const out = SMOKE
    ? join(tmpdir(), "gateways-smoke.json")
    : new URL(
        `results/gateways${flags.profile ? ".profile" : ""}${flags["hive-no-dedupe"] ? ".hive-no-dedupe" : ""}.json`,
        import.meta.url,
      ).pathname;
  await writeFile(out, `${JSON.stringify(output, null, 2)}\n`);
  console.log(`\nresults: ${out}`);
  // Errors fail the run (and CI); missed speed targets are reported, not failed.
  if (!targets.noErrors.met) process.exitCode = 1;
} finally {
  for (const gateway of gateways) await gateway.stop().catch(() => {});
  await platform?.stop().catch((error) => console.error("could not stop the platform:", error));
  await scratch.drop();
  await rm(dataDir, { recursive: true, force: true });
}
