// `npm run bench [-- <name>...] [-- --smoke]`: runs the benchmarks in this folder, each as its own
// process (`npx tsx bench/<name>.ts`), in turn. Each prints its table and writes bench/results/<name>.json
// (not in --smoke mode, which runs a few seconds each so CI keeps the harness from rotting).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BENCHMARKS = [
  "startup",
  "outbox",
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
const cwd = fileURLToPath(new URL("..", import.meta.url));
let failed = 0;
for (const name of names.length ? names : BENCHMARKS) {
  console.log(`\n== bench/${name}.ts ${flags.join(" ")}`);
  const { status } = spawnSync("npx", ["tsx", `bench/${name}.ts`, ...flags], { cwd, stdio: "inherit" });
  if (status !== 0) {
    console.error(`bench/${name}.ts failed (exit ${status})`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
