// `npx tsx bench/startup.ts`: time from `npm start` to the first answered GraphQL query through the
// gateway, on an empty data folder (cold: initdb, migrations, keys) and on the same folder again (warm).
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePortBase } from "./lib/platform.ts";
import { machine } from "./machine.ts";

// `--smoke`: one round, results not written (CI keeps the harness from rotting).
const SMOKE = process.argv.includes("--smoke");
const ROUNDS = SMOKE ? 1 : Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 3);

async function timeToFirstAnswer(dataDir: string): Promise<number> {
  // The gateway, four subgraphs and the worker, then the embedded PostgreSQL: free ports, picked anew
  // each time (a fixed 34000 collided with the machine's outgoing connections in CI).
  const portBase = await freePortBase(7);
  const started = performance.now();
  const child = spawn("npm", ["start", "--silent"], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT_BASE: String(portBase),
      EMBEDDED_PG_PORT: String(portBase + 6),
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
    detached: true, // its own process group, so we can stop it like Ctrl-C does
  });
  let exitCode: number | null = null;
  child.once("exit", (code) => {
    exitCode = code ?? 1;
  });
  try {
    for (;;) {
      if (exitCode !== null) throw new Error(`npm start exited with ${exitCode} before answering`);
      if (performance.now() - started > 120_000) throw new Error("no answer within 120 s");
      try {
        const response = await fetch(`http://127.0.0.1:${portBase}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "{ plans { code } }" }),
        });
        const body = (await response.json()) as { data?: { plans?: unknown[] } };
        if (body.data?.plans?.length) return performance.now() - started;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    if (exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(-child.pid!, "SIGINT");
      await exited;
    }
  }
}

const cold: number[] = [];
const warm: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const dir = await mkdtemp(join(tmpdir(), "coditect-startup-"));
  await chmod(dir, 0o755); // the embedded PostgreSQL runs as OS user postgres when we are root
  cold.push(await timeToFirstAnswer(join(dir, "data")));
  warm.push(await timeToFirstAnswer(join(dir, "data")));
  await rm(dir, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const result = {
  benchmark: "startup",
  command: `npx tsx bench/startup.ts ${ROUNDS}`,
  date: new Date().toISOString(),
  machine: machine(),
  coldMs: cold.map(Math.round),
  warmMs: warm.map(Math.round),
  coldMedianMs: Math.round(median(cold)),
  warmMedianMs: Math.round(median(warm)),
};
console.table({
  cold: { medianMs: result.coldMedianMs, runs: result.coldMs.join(", ") },
  warm: { medianMs: result.warmMedianMs, runs: result.warmMs.join(", ") },
});
if (!SMOKE)
  await writeFile(new URL("results/startup.json", import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
