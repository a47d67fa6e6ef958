import http from "node:http";
import { Lexer, Source, TokenKind } from "graphql";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import WebSocket from "ws";
import {
  type GraphQLResponse,
  gql,
  type Platform,
  signUpTenant,
  startGateway,
  startPlatform,
} from "../../test/platform.ts";

/**
 * Query limits at the gateway, with its default settings unless a test says otherwise. Each attack is
 * paired with a control: the same query just inside the limit, which is answered and does reach the
 * subgraphs, so a refusal is due to the limit it names. "Before any subgraph is called" is checked by
 * counting the GraphQL requests the subgraphs receive.
 */

let platform: Platform;
let token: string;
beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  ({ token } = await signUpTenant(platform.gatewayUrl, "limits"));
});
afterAll(() => platform?.close());

/** Sends `send` and returns its response with the number of subgraph requests it caused. */
async function counting<T>(send: () => Promise<T>): Promise<{ response: T; subgraphCalls: number }> {
  const before = platform.subgraphCalls.length;
  const response = await send();
  return { response, subgraphCalls: platform.subgraphCalls.length - before };
}

function expectRefused(res: GraphQLResponse, code: string, status = 400) {
  expect(res.status).toBe(status);
  expect(res.errors?.map((e) => e.extensions?.code)).toEqual([code]);
  expect(res.data ?? undefined).toBeUndefined();
}

/** A query exactly `depth` fields deep: me > assignedTasks > edges > node > assignee > ... > __typename. */
function deepQuery(depth: number) {
  const cycle = ["assignee", "assignedTasks(first: 1)", "edges", "node"];
  const fields = ["me", ...Array.from({ length: depth - 2 }, (_, i) => cycle[(i + 1) % cycle.length])];
  return `{ ${fields.map((f) => `${f} {`).join(" ")} __typename ${"}".repeat(fields.length)} }`;
}

describe("query depth (QUERY_MAX_DEPTH, default 12)", () => {
  it("answers a query 12 fields deep", async () => {
    const { response, subgraphCalls } = await counting(() =>
      gql(platform.gatewayUrl, deepQuery(12), { token }),
    );
    expect(response.errors).toBeUndefined();
    expect(response.data?.me.assignedTasks.edges).toEqual([]);
    expect(subgraphCalls).toBeGreaterThan(0);
  });

  it("refuses one 13 deep with QUERY_TOO_DEEP, before any subgraph is called", async () => {
    const { response, subgraphCalls } = await counting(() =>
      gql(platform.gatewayUrl, deepQuery(13), { token }),
    );
    expectRefused(response, "QUERY_TOO_DEEP");
    expect(response.errors?.[0]?.message).toBe("Query depth limit of 12 exceeded, found 13.");
    expect(subgraphCalls).toBe(0);
  });
});

describe("aliases (QUERY_MAX_ALIASES, default 15)", () => {
  const aliased = (n: number) =>
    `{ ${Array.from({ length: n }, (_, i) => `p${i}: plans { code }`).join(" ")} }`;

  it("answers 15 aliases", async () => {
    const { response, subgraphCalls } = await counting(() => gql(platform.gatewayUrl, aliased(15)));
    expect(response.errors).toBeUndefined();
    expect(Object.keys(response.data!)).toHaveLength(15);
    expect(subgraphCalls).toBeGreaterThan(0);
  });

  it("refuses 16 with TOO_MANY_ALIASES, before any subgraph is called", async () => {
    const { response, subgraphCalls } = await counting(() => gql(platform.gatewayUrl, aliased(16)));
    expectRefused(response, "TOO_MANY_ALIASES");
    expect(subgraphCalls).toBe(0);
  });
});

describe("directives (QUERY_MAX_DIRECTIVES, default 50)", () => {
  const directed = (n: number) => `{ plans { ${"code @include(if: true) ".repeat(n)} } }`;

  it("answers 50 directives", async () => {
    const { response, subgraphCalls } = await counting(() => gql(platform.gatewayUrl, directed(50)));
    expect(response.errors).toBeUndefined();
    expect(subgraphCalls).toBeGreaterThan(0);
  });

  it("refuses 51 with TOO_MANY_DIRECTIVES, before any subgraph is called", async () => {
    const { response, subgraphCalls } = await counting(() => gql(platform.gatewayUrl, directed(51)));
    expectRefused(response, "TOO_MANY_DIRECTIVES");
    expect(subgraphCalls).toBe(0);
  });
});

describe("tokens (QUERY_MAX_TOKENS, default 2,000)", () => {
  /** Lexical tokens of a document, as the parser counts them (punctuators included, commas not). */
  function tokenCount(document: string) {
    const lexer = new Lexer(new Source(document));
    let count = 0;
    while (lexer.advance().kind !== TokenKind.EOF) count++;
    return count;
  }
  /** A valid query of exactly `tokens` tokens, padded with repeats in a list argument. */
  function long(tokens: number) {
    const query = (n: number) =>
      `{ myTasks(first: 1, filter: { status: [${"TODO ".repeat(n)}] }) { edges { cursor } } }`;
    const padding = tokens - tokenCount(query(0));
    expect(tokenCount(query(padding))).toBe(tokens);
    return query(padding);
  }

  it("answers a document of 2,000 tokens", async () => {
    const { response, subgraphCalls } = await counting(() =>
      gql(platform.gatewayUrl, long(2_000), { token }),
    );
    expect(response.errors).toBeUndefined();
    expect(subgraphCalls).toBeGreaterThan(0);
  });

  it("refuses 2,001 with TOO_MANY_TOKENS while parsing, before any subgraph is called", async () => {
    const { response, subgraphCalls } = await counting(() =>
      gql(platform.gatewayUrl, long(2_001), { token }),
    );
    expectRefused(response, "TOO_MANY_TOKENS");
    expect(response.errors?.[0]?.message).toBe("Token limit of 2000 exceeded.");
    expect(subgraphCalls).toBe(0);
  });
});

describe("cost (QUERY_MAX_COST, default 50,000), with lists counted at their page size", () => {
  const BOARD = /* GraphQL */ `
    query Board($projects: Int!, $tasks: Int!, $comments: Int!) {
      projects(first: $projects) {
        edges { node { name tasks(first: $tasks) { edges { node { title comments(first: $comments) { edges { node { body } } } } } } } }
      }
    }`;

  it("answers a board whose pages multiply to a cost within the limit", async () => {
    const { response, subgraphCalls } = await counting(() =>
      gql(platform.gatewayUrl, BOARD, { token, variables: { projects: 20, tasks: 20, comments: 20 } }),
    );
    expect(response.errors).toBeUndefined();
    expect(subgraphCalls).toBeGreaterThan(0);
  });

  it("refuses the same query with larger pages (from variables) with QUERY_TOO_COSTLY, before any subgraph is called", async () => {
    const { response, subgraphCalls } = await counting(() =>
      gql(platform.gatewayUrl, BOARD, { token, variables: { projects: 100, tasks: 100, comments: 100 } }),
    );
    expectRefused(response, "QUERY_TOO_COSTLY");
    // projects: 1 + 100 x (edges 1 + node 1 + tasks (1 + 100 x (1 + 1 + comments (1 + 100 x (1 + 1)))))
    expect(response.errors?.[0]?.extensions).toMatchObject({ cost: 2_030_301, maxCost: 50_000 });
    expect(subgraphCalls).toBe(0);
  });

  it("counts a list at the schema's default page size when the query gives none", async () => {
    // tasks and comments default to 50 each: 1 + 20 x (2 + 1 + 50 x (2 + 1 + 50 x 2)) = 103,061.
    const { response, subgraphCalls } = await counting(() =>
      gql(
        platform.gatewayUrl,
        `{ projects { edges { node { tasks { edges { node { comments { edges { node { body } } } } } } } } } }`,
        { token },
      ),
    );
    expectRefused(response, "QUERY_TOO_COSTLY");
    expect(response.errors?.[0]?.extensions?.cost).toBe(103_061);
    expect(subgraphCalls).toBe(0);
  });
});

describe("request body size (REQUEST_MAX_BODY_BYTES, default 256 KiB)", () => {
  /** A valid request padded with a variable the operation ignores, `bytes` long in all. */
  function body(bytes: number) {
    const shell = JSON.stringify({ query: "{ plans { code } }", variables: { pad: "" } });
    return JSON.stringify({
      query: "{ plans { code } }",
      variables: { pad: "x".repeat(bytes - shell.length) },
    });
  }
  const post = (payload: BodyInit, extra: RequestInit = {}) =>
    fetch(platform.gatewayUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: payload,
      ...extra,
    });

  it("answers a request of exactly 256 KiB", async () => {
    const { response, subgraphCalls } = await counting(() => post(body(262_144)));
    expect(response.status).toBe(200);
    expect(subgraphCalls).toBeGreaterThan(0);
  });

  it("refuses one byte more with 413 REQUEST_ENTITY_TOO_LARGE, before any subgraph is called", async () => {
    const { response, subgraphCalls } = await counting(() => post(body(262_145)));
    expect(response.status).toBe(413);
    expect((await response.json()).errors[0].extensions.code).toBe("REQUEST_ENTITY_TOO_LARGE");
    expect(subgraphCalls).toBe(0);
  });

  it("closes the connection after a 413, so a keep-alive client's next request is not lost", async () => {
    // One socket at most: a second request goes over the first one's connection if it stays open.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (payload: string, chunked = false) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          platform.gatewayUrl,
          { method: "POST", agent, headers: { "content-type": "application/json" }, timeout: 3_000 },
          (res) => {
            let text = "";
            res
              .on("data", (chunk) => (text += chunk))
              .on("end", () => resolve({ status: res.statusCode!, body: text }));
          },
        );
        req.on("error", reject).on("timeout", () => req.destroy(new Error("no answer within 3 s")));
        if (!chunked) return req.end(payload);
        // Without Content-Length: the size is only found out while reading.
        for (let i = 0; i < payload.length; i += 16_384) req.write(payload.slice(i, i + 16_384));
        req.end();
      });
    try {
      expect((await send(body(400_000))).status).toBe(413);
      expect((await send(body(400_000), true)).status).toBe(413);
      const next = await send(JSON.stringify({ query: "{ plans { code } }" }));
      expect(next.status).toBe(200);
      expect(JSON.parse(next.body).data.plans.length).toBeGreaterThan(0);
    } finally {
      agent.destroy();
    }
  });

  it("also refuses a body sent in chunks, without Content-Length", async () => {
    const bytes = new TextEncoder().encode(body(300_000));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 16_384) controller.enqueue(bytes.slice(i, i + 16_384));
        controller.close();
      },
    });
    const { response, subgraphCalls } = await counting(() => post(stream, { duplex: "half" } as RequestInit));
    expect(response.status).toBe(413);
    expect((await response.json()).errors[0].extensions.code).toBe("REQUEST_ENTITY_TOO_LARGE");
    expect(subgraphCalls).toBe(0);
    // The half-read connection is closed, not handed back to the client's pool for its next request.
    const next = await gql(platform.gatewayUrl, "{ plans { code } }");
    expect(next.errors).toBeUndefined();
  });
});

describe("batching (REQUEST_MAX_BATCH, default 0: off)", () => {
  const batch = (url: string, n: number) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify(Array.from({ length: n }, () => ({ query: "{ plans { code } }" }))),
    });

  it("refuses a batch with BATCHING_DISABLED, before any subgraph is called", async () => {
    const { response, subgraphCalls } = await counting(() => batch(platform.gatewayUrl, 2));
    expect(response.status).toBe(400);
    expect((await response.json()).errors[0].extensions.code).toBe("BATCHING_DISABLED");
    expect(subgraphCalls).toBe(0);
  });

  it("with REQUEST_MAX_BATCH=2, answers two operations and refuses three with BATCH_TOO_LARGE", async () => {
    const gateway = await startGateway(platform, { REQUEST_MAX_BATCH: "2" });
    try {
      const two = await batch(gateway.url, 2);
      expect(two.status).toBe(200);
      const results = (await two.json()) as Array<{ data: { plans: unknown[] } }>;
      expect(results.map((r) => r.data.plans.length > 0)).toEqual([true, true]);

      const { response, subgraphCalls } = await counting(() => batch(gateway.url, 3));
      expect(response.status).toBe(413);
      expect((await response.json()).errors[0].extensions.code).toBe("BATCH_TOO_LARGE");
      expect(subgraphCalls).toBe(0);
    } finally {
      await gateway.close();
    }
  });
});

describe("introspection (INTROSPECTION)", () => {
  const INTROSPECT = `{ __schema { queryType { name } } }`;

  it("is open to anyone outside production by default", async () => {
    const res = await gql(platform.gatewayUrl, INTROSPECT);
    expect(res.data).toEqual({ __schema: { queryType: { name: "Query" } } });
  });

  describe("in production (default: authenticated)", () => {
    let gateway: Awaited<ReturnType<typeof startGateway>>;
    beforeAll(async () => {
      gateway = await startGateway(platform, { NODE_ENV: "production" });
    });
    afterAll(() => gateway?.close());

    it("is refused to an anonymous caller with INTROSPECTION_DISABLED, __type included", async () => {
      for (const query of [INTROSPECT, `{ __type(name: "Task") { name } }`]) {
        const { response, subgraphCalls } = await counting(() => gql(gateway.url, query));
        expectRefused(response, "INTROSPECTION_DISABLED");
        expect(subgraphCalls).toBe(0);
      }
    });

    it("is answered for a caller with a valid access token", async () => {
      const res = await gql(gateway.url, INTROSPECT, { token });
      expect(res.errors).toBeUndefined();
      expect(res.data).toEqual({ __schema: { queryType: { name: "Query" } } });
    });

    it("does not spell out the schema in field suggestions either", async () => {
      const res = await gql(gateway.url, `{ plan { code } }`);
      expect(res.errors?.[0]?.message).toMatch(/Cannot query field "plan"/);
      expect(res.errors?.[0]?.message).not.toMatch(/Did you mean/);
      // The development gateway still helps.
      const dev = await gql(platform.gatewayUrl, `{ plan { code } }`);
      expect(dev.errors?.[0]?.message).toMatch(/Did you mean "plans"/);
    });

    it("still answers __typename", async () => {
      const res = await gql(gateway.url, `{ __typename }`);
      expect(res.data).toEqual({ __typename: "Query" });
    });
  });

  it("INTROSPECTION=never refuses even an authenticated caller", async () => {
    const gateway = await startGateway(platform, { INTROSPECTION: "never" });
    try {
      const res = await gql(gateway.url, INTROSPECT, { token });
      expectRefused(res, "INTROSPECTION_DISABLED");
      expect(res.errors?.[0]?.message).toBe("Introspection is disabled on this gateway.");
    } finally {
      await gateway.close();
    }
  });
});

describe("over WebSocket", () => {
  type Errors = ReadonlyArray<{ extensions?: { code?: unknown } }>;
  /** The errors graphql-ws reports for one operation: in a result, or as the operation's error. */
  async function wsErrors(query: string): Promise<Errors> {
    const client = createClient({
      url: platform.gatewayWsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { Authorization: `Bearer ${token}` },
    });
    try {
      return await new Promise<Errors>((resolve) =>
        client.subscribe(
          { query },
          {
            next: (result) => resolve((result.errors ?? []) as Errors),
            error: (error) => resolve(error as Errors),
            complete: () => resolve([]),
          },
        ),
      );
    } finally {
      await client.dispose();
    }
  }

  it("the same limits apply to operations sent over graphql-ws, before any subgraph is called", async () => {
    const before = platform.subgraphCalls.length;
    expect((await wsErrors(deepQuery(13))).map((e) => e.extensions?.code)).toEqual(["QUERY_TOO_DEEP"]);
    const board = `{ projects(first: 100) { edges { node { tasks(first: 100) { edges { node { comments(first: 100) { edges { cursor } } } } } } } } }`;
    expect((await wsErrors(board)).map((e) => e.extensions?.code)).toEqual(["QUERY_TOO_COSTLY"]);
    expect(platform.subgraphCalls.length).toBe(before);
    // The control: within the limits, the same connection reaches the subgraphs.
    expect(await wsErrors(deepQuery(12))).toEqual([]);
    expect(platform.subgraphCalls.length).toBeGreaterThan(before);
  });
});
