import type PgBoss from "pg-boss";
import { deadLetterQueue, type QueueDefinition } from "./queues.ts";

export interface QueueStats {
  queue: string;
  /** Waiting to run (new and waiting for a retry). */
  queued: number;
  active: number;
  /** Ended after their last try; their copies wait in the dead-letter queue. */
  deadLetters: number;
}

const SCHEMA = "pgboss";

/** Depth of every queue; what `npm run jobs` and the metrics show. */
export async function queueStats(
  boss: PgBoss,
  queues: Record<string, QueueDefinition>,
): Promise<QueueStats[]> {
  const names = Object.keys(queues);
  const { rows } = await boss.getDb().executeSql(
    `SELECT name, state, count(*)::int AS n FROM ${SCHEMA}.job
      WHERE name = ANY($1) AND state IN ('created', 'retry', 'active') GROUP BY name, state`,
    [[...names, ...names.map(deadLetterQueue)]],
  );
  const count = (name: string, states: string[]) =>
    rows.filter((r) => r.name === name && states.includes(r.state)).reduce((sum, r) => sum + Number(r.n), 0);
  return names.map((queue) => ({
    queue,
    queued: count(queue, ["created", "retry"]),
    active: count(queue, ["active"]),
    deadLetters: count(deadLetterQueue(queue), ["created"]),
  }));
}

export interface DeadLetter {
  id: string;
  queue: string;
  data: Record<string, unknown>;
  error: unknown;
  createdOn: Date;
}

/** Jobs that failed their last try, newest first. */
export async function listDeadLetters(
  boss: PgBoss,
  queues: Record<string, QueueDefinition>,
  queue?: string,
): Promise<DeadLetter[]> {
  const names = (queue ? [queue] : Object.keys(queues)).map(deadLetterQueue);
  const { rows } = await boss.getDb().executeSql(
    `SELECT id, name, data, output, created_on FROM ${SCHEMA}.job
      WHERE name = ANY($1) AND state = 'created' ORDER BY created_on DESC LIMIT 500`,
    [names],
  );
  return rows.map((r) => ({
    id: r.id,
    queue: String(r.name).replace(/\.dead$/, ""),
    data: r.data ?? {},
    error: r.output,
    createdOn: r.created_on,
  }));
}

/** Puts a dead letter back on its queue as a new job (fresh tries) and removes it from the list. */
export async function retryDeadLetter(boss: PgBoss, queues: Record<string, QueueDefinition>, id: string) {
  const dead = (await listDeadLetters(boss, queues)).find((d) => d.id === id);
  if (!dead) throw new Error(`no dead letter with id ${id} (see \`npm run jobs -- dead\`)`);
  const newId = await boss.send(dead.queue, dead.data);
  await boss.deleteJob(deadLetterQueue(dead.queue), id);
  return { queue: dead.queue, jobId: newId };
}
