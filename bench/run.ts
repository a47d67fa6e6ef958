// `npm run bench [-- <name>...] [-- --smoke]`: runs the benchmarks in this folder, each as its own
// process (`npx tsx bench/<name>.ts`), in turn. Each prints its table and writes bench/results/<name>.json
// (not in --smoke mode, which runs a few seconds each so CI keeps the harness from rotting).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BENCHMARKS = [
  "startup",
  "outbox",
  "create-task",
  "subscriptions",
  "gateways",
  "scale",
  "mixed",
  "api-keys",
  "auth",
  "rls",
] as const;

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith("--"));
const names = args.filter((a) => !a.startsWith("--"));
const unknown = names.filter((n) => !(BENCHMARKS as readonly string[]).includes(n));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; there are: ${BENCHMARKS.join(", ")}`);
  process.exit(2);
}
// A smoke run proves the harness works: a broken harness fails every time, while a smoke run on a machine
// busy with other work can fail once (a request timing out behind the load). So in smoke mode a failed
// benchmark runs once more and fails the whole only if it fails again; both outputs stay in the log.
const ATTEMPTS = flags.includes("--smoke") ? 2 : 1;
const cwd = fileURLToPath(new URL("..", import.meta.url));
const summary: Record<string, { result: string; attempts: number; seconds: number }> = {};
for (const name of names.length ? names : BENCHMARKS) {
  const started = performance.now();
  let status: number | null = null;
  let attempt = 0;
  while (attempt < ATTEMPTS && status !== 0) {
    attempt++;
    console.log(`\n== bench/${name}.ts ${flags.join(" ")}${attempt > 1 ? ` (attempt ${attempt})` : ""}`);
    ({ status } = spawnSync("npx", ["tsx", `bench/${name}.ts`, ...flags], { cwd, stdio: "inherit" }));
    if (status !== 0) console.log(`bench/${name}.ts failed (exit ${status})`);
  }
  summary[name] = {
    result: status === 0 ? "ok" : `failed (exit ${status})`,
    attempts: attempt,
    seconds: Math.round((performance.now() - started) / 1000),
  };
}
// On stdout, last: the one place a reader of a long CI log looks.
console.log("\nbenchmarks");
console.table(summary);
const failed = Object.entries(summary).filter(([, s]) => s.result !== "ok");
if (failed.length) console.log(`failed: ${failed.map(([name]) => name).join(", ")}`);
process.exit(failed.length ? 1 : 0);
