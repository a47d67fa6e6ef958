import { cpus, totalmem } from "node:os";

/** What every results file records about the machine, so figures from different hosts are not compared blind. */
export function machine() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}
