import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What every results file records about the machine, so figures from different hosts are not compared blind. */
export function machine() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** Load averages (1, 5, 15 min): the machine is shared, and a busy one explains a slow run. */
export const loadAverage = () => loadavg().map((x) => Math.round(x * 100) / 100);

/** The working tree measured: results from uncommitted code say so. */
export function source() {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" });
  return {
    commit: git("rev-parse", "HEAD").trim(),
    uncommittedFiles: git("status", "--porcelain").split("\n").filter(Boolean).length,
  };
}

/** The command that reproduces a results file. */
export const command = (script: string) => ["npx tsx", script, ...process.argv.slice(2)].join(" ");

/** The head of every results file: which benchmark, how to rerun it, when, where, on what code. */
export function resultHeader(benchmark: string) {
  return {
    benchmark,
    command: command(`bench/${benchmark}.ts`),
    date: new Date().toISOString(),
    machine: machine(),
    source: source(),
  };
}
