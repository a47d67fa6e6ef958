// `npm run jobs -- <command>`: look at the job queues and act on dead letters.
//   list                 queue depth per queue (queued, active, dead letters)
//   dead [queue]         dead letters, newest first: id, queue, when, error
//   retry <id>           put a dead letter back on its queue for fresh tries
import { parseEnv, postgresUrl } from "@app/common/env";
import PgBoss from "pg-boss";
import { z } from "zod";
import { listDeadLetters, queueStats, retryDeadLetter } from "../jobs/admin.ts";
import { QUEUES } from "../jobs/queues.ts";

const USAGE = `usage: npm run jobs -- list | dead [queue] | retry <dead-letter id>
(reads DATABASE_URL; with npm start's embedded database: DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:54329/coditect)`;

const [command = "list", argument] = process.argv.slice(2);
if (command === "--help" || command === "-h" || !["list", "dead", "retry"].includes(command)) {
  console.log(USAGE);
  process.exit(command === "--help" || command === "-h" ? 0 : 1);
}
const env = parseEnv(z.object({ DATABASE_URL: postgresUrl }));
// Reading and retrying only: no maintenance, no schema migration, no cron from this process.
const boss = new PgBoss({
  connectionString: env.DATABASE_URL,
  max: 2,
  supervise: false,
  schedule: false,
  migrate: false,
});
boss.on("error", (error) => console.error(error.message));
await boss.start();
try {
  if (command === "list") {
    console.table(await queueStats(boss, QUEUES));
  } else if (command === "dead") {
    if (argument && !(argument in QUEUES))
      throw new Error(`unknown queue ${argument}; queues: ${Object.keys(QUEUES).join(", ")}`);
    const dead = await listDeadLetters(boss, QUEUES, argument);
    if (dead.length === 0) console.log("no dead letters");
    for (const d of dead) {
      const error = (d.error as { message?: string } | null)?.message ?? JSON.stringify(d.error);
      console.log(`${d.id}  ${d.queue}  ${d.createdOn.toISOString()}  ${error}`);
    }
  } else {
    if (!argument) throw new Error("retry needs the id of a dead letter (see `npm run jobs -- dead`)");
    const { queue, jobId } = await retryDeadLetter(boss, QUEUES, argument);
    console.log(`queued again on ${queue} as job ${jobId}`);
  }
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
} finally {
  await boss.stop({ graceful: false, close: true });
}
