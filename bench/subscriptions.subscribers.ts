// A subscriber process of `bench/subscriptions.ts`, which forks one or more of these so the load
// generator's WebSockets are not in the gateway's process (they still share the machine's cores). Each
// subscriber is its own graphql-ws connection with its tenant owner's token, as a browser tab would be, subscribed
// to `taskChanged` of one project. It checks every event it receives (the task belongs to its project
// and its tenant) and keeps the arrival time; the parent collects everything over IPC.
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

/**
 * What each subscriber selects: projects answers the assignee's e-mail itself (`@provides`); with
 * `role`, identity's alone, every event also takes the gateway to identity (`--role`).
 */
export const taskChangedDocument = (withRole: boolean) => `subscription TaskChanged($p: ID!) {
  taskChanged(projectId: $p) { kind task { id title createdAt assignee { email${withRole ? " role" : ""} } } }
}`;

/** One subscriber: who it is and what it may receive. */
export interface SubscriberSpec {
  index: number;
  token: string;
  projectId: string;
  /** The tenant owner's e-mail: every task is assigned to them, resolved per event. */
  ownerEmail: string;
}

/**
 * A received event of the measured load: subscriber index, mutation number, task id, arrival, and the
 * task's `createdAt`, stamped inside the transaction that committed it (all epoch ms).
 */
export type Delivery = [
  subscriber: number,
  seq: number,
  taskId: string,
  receivedAt: number,
  writtenAt: number,
];

export type ToSubscribers =
  | {
      type: "open";
      url: string;
      query: string;
      subscribers: SubscriberSpec[];
      concurrency: number;
      timeoutMs: number;
    }
  | { type: "status" }
  | { type: "report" }
  | { type: "close" };

export type FromSubscribers =
  | { type: "opened"; ms: number; failed: string[] }
  | { type: "status"; delivered: number; unprobed: number[]; errors: number; closed: number }
  | {
      type: "report";
      deliveries: Delivery[];
      /** Events a subscriber must never have seen: another project's or another tenant's task. */
      violations: { crossTenant: number; crossProject: number; malformed: number; examples: string[] };
      errors: { count: number; examples: string[] };
      closes: { count: number; examples: string[] };
    };

/**
 * Task titles the bench sends, so a subscriber can check an event without asking the server:
 * `bench <seq> <sentAt> <projectId>` for the measured load, `probe <projectId>` for readiness probes.
 */
export function taskTitle(kind: "bench" | "probe", projectId: string, seq = 0, sentAt = 0): string {
  return kind === "probe" ? `probe ${projectId}` : `bench ${seq} ${sentAt.toFixed(3)} ${projectId}`;
}

/**
 * Wall-clock milliseconds, comparable across processes and with PostgreSQL's commit timestamps: the
 * system clock itself, read now. Not `performance.timeOrigin + performance.now()` (what this was): that
 * is the wall clock at the process's start carried on by the monotonic clock, and on a VM whose wall
 * clock is stepped against the monotonic one (measured on one session's machine: 5 ms a second) it
 * drifts from PostgreSQL's clock and from younger processes' by the process's age times that rate; a
 * minute-old subscriber then read events as arriving 300 ms early. Millisecond resolution is enough for
 * latencies of milliseconds to seconds.
 */
export const epochNow = () => Date.now();

const MAX_EXAMPLES = 10;

interface TaskChangedData {
  taskChanged?: {
    kind: string;
    task: { id: string; title: string; createdAt: string; assignee: { email: string } | null };
  };
}

function run() {
  const send = (message: FromSubscribers) => process.send!(message);
  const clients: Client[] = [];
  const deliveries: Delivery[] = [];
  const probed = new Set<number>();
  let specs: SubscriberSpec[] = [];
  const violations = { crossTenant: 0, crossProject: 0, malformed: 0, examples: [] as string[] };
  const errors = { count: 0, examples: [] as string[] };
  const closes = { count: 0, examples: [] as string[] };
  let closing = false;
  const example = (list: string[], text: string) => list.length < MAX_EXAMPLES && list.push(text);

  function receive(spec: SubscriberSpec, data: TaskChangedData) {
    const receivedAt = epochNow();
    const task = data.taskChanged?.task;
    const words = task?.title.split(" ") ?? [];
    const projectId = words.at(-1);
    // The assignee is the subscriber's own tenant owner, resolved for this event: a
    // different e-mail is another tenant's data, whatever the title says.
    if (task?.assignee && task.assignee.email !== spec.ownerEmail) {
      violations.crossTenant++;
      example(violations.examples, `subscriber ${spec.index} got assignee ${task.assignee.email}`);
      return;
    }
    if (!task?.assignee || (words[0] !== "bench" && words[0] !== "probe")) {
      violations.malformed++;
      example(violations.examples, `subscriber ${spec.index} got ${JSON.stringify(data)}`);
      return;
    }
    if (projectId !== spec.projectId) {
      violations.crossProject++;
      example(violations.examples, `subscriber ${spec.index} (${spec.projectId}) got "${task.title}"`);
      return;
    }
    if (words[0] === "probe") probed.add(spec.index);
    else deliveries.push([spec.index, Number(words[1]), task.id, receivedAt, Date.parse(task.createdAt)]);
  }

  /** Connects one subscriber and subscribes; resolves once the gateway acknowledged the connection. */
  function open(url: string, query: string, spec: SubscriberSpec, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no connection_ack within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { Authorization: `Bearer ${spec.token}` },
        on: {
          connected: () => {
            clearTimeout(timer);
            resolve();
          },
          closed: (event) => {
            clearTimeout(timer);
            const { code, reason } = event as { code: number; reason: string };
            if (!closing) {
              closes.count++;
              example(closes.examples, `subscriber ${spec.index}: ${code} ${reason}`);
            }
            reject(new Error(`closed ${code} ${reason}`));
          },
        },
      });
      clients.push(client);
      client.subscribe<TaskChangedData>(
        { query, variables: { p: spec.projectId } },
        {
          next: (value) => {
            if (value.errors?.length) {
              errors.count++;
              example(errors.examples, `subscriber ${spec.index}: ${JSON.stringify(value.errors)}`);
            }
            if (value.data) receive(spec, value.data as TaskChangedData);
          },
          error: (error) => {
            errors.count++;
            example(errors.examples, `subscriber ${spec.index}: ${JSON.stringify(error)}`);
          },
          complete: () => {},
        },
      );
    });
  }

  async function openAll(message: Extract<ToSubscribers, { type: "open" }>) {
    specs = message.subscribers;
    const started = performance.now();
    const failed: string[] = [];
    let next = 0;
    // A bounded number of handshakes in flight: a real crowd does not arrive in one millisecond either.
    await Promise.all(
      Array.from({ length: Math.min(message.concurrency, specs.length) }, async () => {
        while (next < specs.length) {
          const spec = specs[next++]!;
          await open(message.url, message.query, spec, message.timeoutMs).catch((error: Error) => {
            if (failed.length < MAX_EXAMPLES) failed.push(`subscriber ${spec.index}: ${error.message}`);
            else failed.push("");
          });
        }
      }),
    );
    send({ type: "opened", ms: performance.now() - started, failed });
  }

  process.on("message", (message: ToSubscribers) => {
    switch (message.type) {
      case "open":
        void openAll(message);
        break;
      case "status":
        send({
          type: "status",
          delivered: deliveries.length,
          unprobed: specs.filter((s) => !probed.has(s.index)).map((s) => s.index),
          errors: errors.count,
          closed: closes.count,
        });
        break;
      case "report":
        send({ type: "report", deliveries, violations, errors, closes });
        break;
      case "close":
        closing = true;
        void Promise.all(clients.map((c) => c.dispose())).finally(() => process.exit(0));
        break;
    }
  });
  // The parent died or gave up on us: nothing left to report to, so do not linger.
  process.on("disconnect", () => process.exit(0));
}

if (process.send) run();
