import { listen } from "@app/common";
import { databaseRoleUrls, emitEvent } from "@app/db";
import { type Client, createClient } from "graphql-ws";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import WebSocket from "ws";
import { createProjectsApp } from "../../subgraphs/projects/src/app.ts";
import { projectsEnv } from "../../subgraphs/projects/src/env.ts";
import { eventually } from "../../test/eventually.ts";
import {
  gql,
  joinOrganization,
  type Platform,
  signUpTenant,
  startGateway,
  startPlatform,
} from "../../test/platform.ts";
import { startRecordingProxy } from "../../test/recording-proxy.ts";
import { createScratchDatabase } from "../../test/scratch-db.ts";

const redisUrl = inject("redisUrl");

// `role` is identity's alone: each event takes the gateway to identity. Projects answers `email` itself.
const TASK_CHANGED = `subscription($projectId: ID!) {
  taskChanged(projectId: $projectId) { kind task { title project { name } assignee { email role } } }
}`;
const CREATE_PROJECT = `mutation($name: String!) { createProject(input: { name: $name }) { project { id } } }`;
const CREATE_TASK = `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`;

/** A task assigned to its creator, created through the gateway at `gatewayUrl`. */
async function createOwnTask(
  gatewayUrl: string,
  owner: { token: string; userId: string },
  projectId: string,
  title: string,
) {
  expect((await createOwnTaskVia(gatewayUrl, owner, projectId, title)).errors).toBeUndefined();
}

/** The same, answering the response whatever it says. */
async function createOwnTaskVia(
  gatewayUrl: string,
  owner: { token: string; userId: string },
  projectId: string,
  title: string,
) {
  return gql(gatewayUrl, CREATE_TASK, {
    token: owner.token,
    variables: { input: { projectId, title, assigneeId: owner.userId } },
  });
}

interface Received {
  events: unknown[];
  errors: unknown[];
  closed?: { code: number; reason: string };
}

/** A graphql-ws client of the gateway, subscribed, collecting what arrives. */
function subscribe(
  url: string,
  token: string | undefined,
  query: string,
  variables: Record<string, unknown>,
) {
  const received: Received = { events: [], errors: [] };
  let ready!: () => void;
  const acknowledged = new Promise<void>((r) => {
    ready = r;
  });
  const client: Client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
    on: {
      connected: () => ready(),
      closed: (event) => {
        const e = event as { code: number; reason: string };
        received.closed = { code: e.code, reason: e.reason };
        ready();
      },
    },
  });
  client.subscribe(
    { query, variables },
    {
      next: (value) =>
        value.errors ? received.errors.push(...value.errors) : received.events.push(value.data),
      error: (error) => received.errors.push(error),
      complete: () => {},
    },
  );
  return { client, received, acknowledged };
}

describe.skipIf(!redisUrl)("subscriptions through the gateway", () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let a: Platform;
  let b: Platform;

  beforeAll(async () => {
    // Two replicas of one deployment (shared secret, signing keys and issuer), one Redis, one database.
    scratch = await createScratchDatabase(inject("databaseUrl"));
    a = await startPlatform(scratch.url, { redisUrl, worker: true, issuer: "http://identity.test" });
    b = await startPlatform(scratch.url, {
      redisUrl,
      internalSecret: a.internalSecret,
      keysDir: a.keysDir,
      issuer: "http://identity.test",
    });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await scratch?.drop();
  });

  it("delivers a mutation made through gateway B to a subscriber on gateway A, once, with fields of three subgraphs", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "realtime");
    const project = await gql(b.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "Live" },
    });
    const projectId = project.data!.createProject.project.id;

    // Another tenant subscribes to the same project id: it must receive nothing.
    const intruder = await signUpTenant(a.gatewayUrl, "intruder");
    const mine = subscribe(a.gatewayWsUrl, owner.token, TASK_CHANGED, { projectId });
    const theirs = subscribe(a.gatewayWsUrl, intruder.token, TASK_CHANGED, { projectId });
    await Promise.all([mine.acknowledged, theirs.acknowledged]);
    await new Promise((r) => setTimeout(r, 300)); // the subscription reaches the subgraph and Redis

    const created = await gql(b.gatewayUrl, CREATE_TASK, {
      token: owner.token,
      variables: { input: { projectId, title: "Realtime card", assigneeId: owner.userId } },
    });
    expect(created.errors).toBeUndefined();

    await eventually(() => mine.received.events.length >= 1);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive by now
    expect(mine.received.errors).toEqual([]);
    expect(mine.received.events).toEqual([
      {
        taskChanged: {
          kind: "CREATED",
          task: {
            title: "Realtime card",
            project: { name: "Live" },
            assignee: { email: owner.email, role: "OWNER" },
          },
        },
      },
    ]);
    // The other tenant cannot even subscribe to a project it cannot see, and gets no event.
    expect(theirs.received.events).toEqual([]);
    expect(JSON.stringify(theirs.received.errors)).toContain("NOT_FOUND");
    await mine.client.dispose();
    await theirs.client.dispose();
  });

  it("resolves each event once per group of subscribers with the same answer: one identity fetch per role, whoever the user", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "shared");
    const [first, second] = [
      await joinOrganization(a, owner, "MEMBER", "first"),
      await joinOrganization(a, owner, "MEMBER", "second"),
    ];
    const project = await gql(a.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "Team" },
    });
    const projectId = project.data!.createProject.project.id;
    // A gateway whose fetches to identity pass a recording proxy; the mutations go through gateway A.
    const identity = await startRecordingProxy(a.subgraphUrls.identity);
    const gateway = await startGateway(a, { IDENTITY_URL: identity.url });
    const wsUrl = gateway.url.replace(/^http/, "ws");
    // Three tabs of the owner; two of one member and one of another member with the same role.
    const subscribers = [owner, owner, owner, first, first, second].map((user) =>
      subscribe(wsUrl, user.token, TASK_CHANGED, { projectId }),
    );
    const createTask = (title: string) => createOwnTask(a.gatewayUrl, owner, projectId, title);
    try {
      await Promise.all(subscribers.map((s) => s.acknowledged));
      await new Promise((r) => setTimeout(r, 300)); // the subscriptions reach the subgraph and Redis
      // Every stream is open once its first event arrives: from then on the group is complete.
      await createTask("Warm-up");
      await eventually(() => subscribers.every((s) => s.received.events.length === 1));
      identity.bodies.length = 0;

      await createTask("One");
      await eventually(() => subscribers.every((s) => s.received.events.length === 2));
      await createTask("Two");
      await eventually(() => subscribers.every((s) => s.received.events.length === 3));
      await new Promise((r) => setTimeout(r, 300)); // a late fetch would be recorded by now

      for (const { received } of subscribers) {
        expect(received.errors).toEqual([]);
        expect(received.events.slice(1)).toEqual(
          ["One", "Two"].map((title) => ({
            taskChanged: {
              kind: "CREATED",
              task: { title, project: { name: "Team" }, assignee: { email: owner.email, role: "OWNER" } },
            },
          })),
        );
      }
      // Two events, two groups (OWNER and MEMBER): the six subscribers sent identity four requests.
      const entityFetches = identity.bodies.filter((b) => b.query.includes("_entities"));
      expect(entityFetches).toHaveLength(4);
    } finally {
      await Promise.all(subscribers.map((s) => s.client.dispose()));
      await gateway.close();
      await identity.close();
    }
  });

  it("answers the e-mail and name projects provides without asking identity, as they are at each event", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "provided");
    const project = await gql(a.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "Provided" },
    });
    const projectId = project.data!.createProject.project.id;
    const identity = await startRecordingProxy(a.subgraphUrls.identity);
    const gateway = await startGateway(a, { IDENTITY_URL: identity.url });
    const live = subscribe(
      gateway.url.replace(/^http/, "ws"),
      owner.token,
      `subscription($p: ID!) { taskChanged(projectId: $p) { task { title assignee { email name } } } }`,
      { p: projectId },
    );
    const createTask = (title: string) => createOwnTask(a.gatewayUrl, owner, projectId, title);
    try {
      await live.acknowledged;
      await new Promise((r) => setTimeout(r, 300));
      await createTask("Before");
      await eventually(() => live.received.events.length === 1);
      // The subscription's context outlives its events: the second must not reuse the first's reads.
      const renamed = await gql(
        a.gatewayUrl,
        `mutation { updateProfile(input: { name: "Renamed" }) { user { name } } }`,
        { token: owner.token },
      );
      expect(renamed.errors).toBeUndefined();
      await createTask("After");
      await eventually(() => live.received.events.length === 2);

      expect(live.received.errors).toEqual([]);
      expect(live.received.events).toEqual([
        {
          taskChanged: {
            task: {
              title: "Before",
              assignee: { email: owner.email, name: expect.not.stringMatching("Renamed") },
            },
          },
        },
        { taskChanged: { task: { title: "After", assignee: { email: owner.email, name: "Renamed" } } } },
      ]);
      expect(identity.bodies.filter((b) => b.query.includes("_entities"))).toEqual([]);
    } finally {
      await live.client.dispose();
      await gateway.close();
      await identity.close();
    }
  });

  it("delivers events while every connection of projects' request pool waits: their reads have a pool of their own", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "bulkhead");
    const other = await signUpTenant(a.gatewayUrl, "blocked");
    const [project, blockedProject] = (await Promise.all(
      [owner, other].map(async (tenant) => {
        const res = await gql(a.gatewayUrl, CREATE_PROJECT, {
          token: tenant.token,
          variables: { name: "Pools" },
        });
        return res.data!.createProject.project.id as string;
      }),
    )) as [string, string];
    // A projects replica with pools of its own, one connection each, and a gateway in front of it.
    const projects = createProjectsApp(
      projectsEnv.parse({
        DATABASE_URL: databaseRoleUrls(scratch.url).app,
        INTERNAL_CONTEXT_SECRET: a.internalSecret,
        REDIS_URL: redisUrl,
        DATABASE_POOL_SIZE: "1",
        REALTIME_POOL_SIZE: "1",
        LOG_LEVEL: "silent",
        NODE_ENV: "test",
      }),
    );
    const server = await listen(projects.yoga, 0, "127.0.0.1");
    const gateway = await startGateway(a, { PROJECTS_URL: `${server.url}/graphql` });
    const live = subscribe(gateway.url.replace(/^http/, "ws"), owner.token, TASK_CHANGED, {
      projectId: project,
    });
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let locked = () => {};
    const lockTaken = new Promise<void>((r) => {
      locked = r;
    });
    // Holds the other tenant's outbox sequence row: its createTask keeps the replica's one request
    // connection, waiting for the lock, until the end of the test.
    const lock = a.prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT seq FROM outbox_sequences WHERE tenant_id = ${other.tenantId}::uuid FOR UPDATE`;
        locked();
        await held;
      },
      { timeout: 60_000 },
    );
    try {
      await live.acknowledged;
      await new Promise((r) => setTimeout(r, 300));
      await lockTaken;
      let blockedDone = false;
      const blocked = createOwnTaskVia(gateway.url, other, blockedProject, "Blocked").finally(() => {
        blockedDone = true;
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(blockedDone).toBe(false);

      await createOwnTask(a.gatewayUrl, owner, project, "Delivered anyway");
      await eventually(() => live.received.events.length === 1);
      expect(blockedDone).toBe(false);
      expect(live.received.events[0]).toEqual({
        taskChanged: {
          kind: "CREATED",
          task: {
            title: "Delivered anyway",
            project: { name: "Pools" },
            assignee: { email: owner.email, role: "OWNER" },
          },
        },
      });
      release();
      await blocked;
    } finally {
      release();
      await lock;
      await live.client.dispose();
      await gateway.close();
      await server.close();
      await projects.close();
    }
  });

  it("opens one projects stream per user and subscription, kept while any of the user's subscribers lasts", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "streams");
    const member = await joinOrganization(a, owner, "MEMBER", "member");
    const project = await gql(a.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "Streams" },
    });
    const projectId = project.data!.createProject.project.id;
    // A gateway whose subscriptions to projects pass a recording proxy; mutations go through gateway A.
    const projects = await startRecordingProxy(a.subgraphUrls.projects);
    const gateway = await startGateway(a, { PROJECTS_URL: projects.url });
    const wsUrl = gateway.url.replace(/^http/, "ws");
    const streamsOpened = () => projects.bodies.filter((b) => b.query.includes("taskChanged")).length;
    let count = 0;
    const createTask = async () => {
      count += 1;
      const created = await gql(a.gatewayUrl, CREATE_TASK, {
        token: owner.token,
        variables: { input: { projectId, title: `Task ${count}` } },
      });
      expect(created.errors).toBeUndefined();
    };
    const titles = (r: Received) =>
      r.events.map((e) => (e as { taskChanged: { task: { title: string } } }).taskChanged.task.title);
    // Three tabs of the owner, one of a member.
    const tabs = [owner, owner, owner, member].map((user) =>
      subscribe(wsUrl, user.token, TASK_CHANGED, { projectId }),
    );
    const later: ReturnType<typeof subscribe>[] = [];
    try {
      await Promise.all(tabs.map((s) => s.acknowledged));
      await new Promise((r) => setTimeout(r, 300)); // the subscriptions reach the subgraph and Redis
      await createTask();
      await eventually(() => tabs.every((s) => s.received.events.length === 1));
      expect(streamsOpened()).toBe(2);

      // One owner tab leaves: the others keep the stream.
      await tabs[0]!.client.dispose();
      await createTask();
      await eventually(() => tabs.slice(1).every((s) => s.received.events.length === 2));

      // The last owner tabs leave: the stream ends; a new tab opens one of its own.
      await tabs[1]!.client.dispose();
      await tabs[2]!.client.dispose();
      later.push(subscribe(wsUrl, owner.token, TASK_CHANGED, { projectId }));
      await later[0]!.acknowledged;
      await eventually(streamsOpened, (n) => n === 3);
      await new Promise((r) => setTimeout(r, 300));
      await createTask();
      await eventually(() => later[0]!.received.events.length === 1 && tabs[3]!.received.events.length === 3);

      expect(titles(tabs[0]!.received)).toEqual(["Task 1"]);
      expect(titles(tabs[2]!.received)).toEqual(["Task 1", "Task 2"]);
      expect(titles(tabs[3]!.received)).toEqual(["Task 1", "Task 2", "Task 3"]);
      expect(titles(later[0]!.received)).toEqual(["Task 3"]);
      for (const { received } of [...tabs, ...later]) expect(received.errors).toEqual([]);
    } finally {
      await Promise.all([...tabs, ...later].map((s) => s.client.dispose()));
      await gateway.close();
      await projects.close();
    }
  });

  it("still resolves fields of other subgraphs for events more than a minute after subscribing", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "long-lived");
    const project = await gql(a.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "Long" },
    });
    const projectId = project.data!.createProject.project.id;
    const live = subscribe(a.gatewayWsUrl, owner.token, TASK_CHANGED, { projectId });
    await live.acknowledged;
    await new Promise((r) => setTimeout(r, 300));
    // The internal context signed when the subscription started lives 60 s; an event after that must
    // still reach identity for `assignee { role }`. Only the clock moves: no timer fires early.
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      const created = await gql(a.gatewayUrl, CREATE_TASK, {
        token: owner.token,
        variables: { input: { projectId, title: "A minute later", assigneeId: owner.userId } },
      });
      expect(created.errors).toBeUndefined();
      await eventually(() => live.received.events.length + live.received.errors.length >= 1);
    } finally {
      vi.useRealTimers();
    }
    expect(live.received.errors).toEqual([]);
    expect(live.received.events).toEqual([
      {
        taskChanged: {
          kind: "CREATED",
          task: {
            title: "A minute later",
            project: { name: "Long" },
            assignee: { email: owner.email, role: "OWNER" },
          },
        },
      },
    ]);
    await live.client.dispose();
  });

  it("delivers comments and the project timeline, with the author's role resolved from identity", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "timeline");
    const project = await gql(a.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "Timeline" },
    });
    const projectId = project.data!.createProject.project.id;
    const task = await gql(a.gatewayUrl, CREATE_TASK, {
      token: owner.token,
      variables: { input: { projectId, title: "Discuss" } },
    });
    const taskId = task.data!.createTask.task.id;

    const comments = subscribe(
      a.gatewayWsUrl,
      owner.token,
      `subscription($t: ID!) { commentAdded(taskId: $t) { body author { email role } } }`,
      { t: taskId },
    );
    const timeline = subscribe(
      a.gatewayWsUrl,
      owner.token,
      `subscription($p: ID!) { projectActivity(projectId: $p) { verb actor { email role } } }`,
      { p: projectId },
    );
    await Promise.all([comments.acknowledged, timeline.acknowledged]);
    await new Promise((r) => setTimeout(r, 300));

    const added = await gql(
      b.gatewayUrl,
      `mutation($t: ID!) { addComment(input: { taskId: $t, body: "Looks good" }) { comment { id } } }`,
      { token: owner.token, variables: { t: taskId } },
    );
    expect(added.errors).toBeUndefined();
    await eventually(() => comments.received.events.length >= 1 && timeline.received.events.length >= 1);
    expect(comments.received.events).toEqual([
      { commentAdded: { body: "Looks good", author: { email: owner.email, role: "OWNER" } } },
    ]);
    expect(timeline.received.events).toEqual([
      { projectActivity: { verb: expect.any(String), actor: { email: owner.email, role: "OWNER" } } },
    ]);
    await comments.client.dispose();
    await timeline.client.dispose();
  });

  it("also serves subscriptions over server-sent events", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "sse");
    const project = await gql(a.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "SSE" },
    });
    const projectId = project.data!.createProject.project.id;
    const abort = new AbortController();
    const response = await fetch(a.gatewayUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        authorization: `Bearer ${owner.token}`,
      },
      body: JSON.stringify({ query: TASK_CHANGED, variables: { projectId } }),
      signal: abort.signal,
    });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.getReader();
    let text = "";
    const reading = (async () => {
      while (!text.includes("Over SSE")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await gql(a.gatewayUrl, CREATE_TASK, {
      token: owner.token,
      variables: { input: { projectId, title: "Over SSE", assigneeId: owner.userId } },
    });
    await Promise.race([reading, new Promise((r) => setTimeout(r, 10_000))]);
    abort.abort();
    expect(text).toContain("event: next");
    expect(text).toContain(`"email":"${owner.email}"`);
  });

  it("closes the connection with 4403 when the subscriber's membership is removed", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "leaver");
    const project = await gql(a.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "Bye" },
    });
    const projectId = project.data!.createProject.project.id;
    const live = subscribe(a.gatewayWsUrl, owner.token, TASK_CHANGED, { projectId });
    await live.acknowledged;
    await new Promise((r) => setTimeout(r, 300));
    // What identity's member removal does: delete the membership and announce it, in one transaction.
    await a.prisma.$transaction(async (tx) => {
      await tx.membership.delete({
        where: { tenantId_userId: { tenantId: owner.tenantId, userId: owner.userId } },
      });
      await emitEvent(tx, owner.tenantId, { topic: "membership.removed", payload: { userId: owner.userId } });
    });
    await eventually(() => live.received.closed !== undefined);
    expect(live.received.closed).toEqual({ code: 4403, reason: "Forbidden: membership removed" });
  });

  it("closes the connection with 4403 when the access token expires", async () => {
    const owner = await signUpTenant(a.gatewayUrl, "expiring");
    const { exp } = decodeJwt(owner.token);
    // Connect 1.5 s before the token's expiry (only the clock moves; the close timer runs in real time).
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(exp! * 1000 - 1_500);
      const live = subscribe(a.gatewayWsUrl, owner.token, TASK_CHANGED, { projectId: crypto.randomUUID() });
      await live.acknowledged;
      expect(live.received.closed).toBeUndefined();
      await eventually(() => live.received.closed !== undefined);
      expect(live.received.closed).toEqual({ code: 4403, reason: "Forbidden: the access token expired" });
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses a connection whose token does not verify, with 4403", async () => {
    const forged = subscribe(a.gatewayWsUrl, "not.a.token", TASK_CHANGED, { projectId: crypto.randomUUID() });
    await eventually(() => forged.received.closed !== undefined);
    expect(forged.received.closed?.code).toBe(4403);
    expect(forged.received.events).toEqual([]);
  });

  it("answers a subscription without a token with UNAUTHENTICATED and no events", async () => {
    const anonymous = subscribe(a.gatewayWsUrl, undefined, TASK_CHANGED, { projectId: crypto.randomUUID() });
    await eventually(() => anonymous.received.errors.length > 0);
    expect(JSON.stringify(anonymous.received.errors)).toContain("UNAUTHENTICATED");
    await anonymous.client.dispose();
  });
});

describe("subscriptions without Redis (the embedded default)", () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let platform: Platform;

  beforeAll(async () => {
    scratch = await createScratchDatabase(inject("databaseUrl"));
    platform = await startPlatform(scratch.url, { worker: true });
  });
  afterAll(async () => {
    await platform?.close();
    await scratch?.drop();
  });

  it("delivers events through PostgreSQL LISTEN/NOTIFY", async () => {
    const owner = await signUpTenant(platform.gatewayUrl, "no-redis");
    const project = await gql(platform.gatewayUrl, CREATE_PROJECT, {
      token: owner.token,
      variables: { name: "PG" },
    });
    const projectId = project.data!.createProject.project.id;
    const live = subscribe(platform.gatewayWsUrl, owner.token, TASK_CHANGED, { projectId });
    await live.acknowledged;
    await new Promise((r) => setTimeout(r, 300));
    await gql(platform.gatewayUrl, CREATE_TASK, {
      token: owner.token,
      variables: { input: { projectId, title: "Via NOTIFY", assigneeId: owner.userId } },
    });
    await eventually(() => live.received.events.length >= 1);
    expect(live.received.events).toEqual([
      {
        taskChanged: {
          kind: "CREATED",
          task: {
            title: "Via NOTIFY",
            project: { name: "PG" },
            assignee: { email: owner.email, role: "OWNER" },
          },
        },
      },
    ]);
    await live.client.dispose();
  });
});
