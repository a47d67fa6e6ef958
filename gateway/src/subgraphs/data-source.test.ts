import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { DedupingDataSource } from "./data-source.ts";

/**
 * A stand-in subgraph that records what it was asked and answers each `_entities` representation with
 * its id (and an error for id "bad"), so the test sees what went over the wire and what came back.
 */
const received: Array<{ query: string; variables?: { representations?: Array<{ id: string }> } }> = [];
const server = createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => {
    body += chunk;
  });
  req.on("end", () => {
    const request = JSON.parse(body);
    received.push(request);
    const representations: Array<{ id: string }> = request.variables?.representations ?? [];
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        data: representations.length
          ? {
              _entities: representations.map((r) =>
                r.id === "bad" ? null : { __typename: "User", email: `${r.id}@x` },
              ),
            }
          : { plans: [{ code: "FREE" }] },
        errors: representations
          .map((r, i) => (r.id === "bad" ? { message: "no such user", path: ["_entities", i] } : null))
          .filter(Boolean),
      }),
    );
  });
});
let source: DedupingDataSource;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  source = new DedupingDataSource({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
  });
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  received.length = 0;
});

const ENTITIES =
  "query($representations:[_Any!]!){_entities(representations:$representations){...on User{email}}}";

function fetchOf(
  context: object,
  query: string,
  variables?: Record<string, unknown>,
  operation: "query" | "mutation" = "query",
) {
  return source.process({
    kind: "incoming operation" as never,
    request: { query, variables, http: { method: "POST", url: "", headers: new Headers() as never } },
    context,
    incomingRequestContext: { operation: { operation } } as never,
  });
}

it("sends each distinct representation once and answers every entity that asked, errors included", async () => {
  const ids = ["u1", "u2", "u1", "bad", "u1", "u2", "bad"];
  const response = await fetchOf({}, ENTITIES, {
    representations: ids.map((id) => ({ __typename: "User", id })),
  });
  expect(received).toHaveLength(1);
  expect(received[0]!.variables!.representations!.map((r) => r.id)).toEqual(["u1", "u2", "bad"]);
  expect(response.data?._entities).toEqual(
    ids.map((id) => (id === "bad" ? null : { __typename: "User", email: `${id}@x` })),
  );
  // Copies, not one object shared by three entities (the executor writes into each).
  expect(response.data?._entities[0]).not.toBe(response.data?._entities[2]);
  expect(response.errors?.map((e) => e.path)).toEqual([
    ["_entities", 3],
    ["_entities", 6],
  ]);
});

it("sends an identical fetch once per operation, and again for another operation", async () => {
  const operation = {};
  const [a, b] = await Promise.all([
    fetchOf(operation, "{ plans { code } }"),
    fetchOf(operation, "{ plans { code } }"),
  ]);
  await fetchOf(operation, "{ plans { code } }"); // later in the same plan: still the same answer
  expect(received).toHaveLength(1);
  expect(a.data).toEqual(b.data);
  expect(a.data).not.toBe(b.data);
  await fetchOf({}, "{ plans { code } }");
  expect(received).toHaveLength(2);
});

it("gives a later consumer of a shared fetch the answer as it arrived, whatever the first one wrote into its own", async () => {
  const operation = {};
  const [first, parallel] = await Promise.all([
    fetchOf(operation, "{ plans { code } }"),
    fetchOf(operation, "{ plans { code } }"),
  ]);
  // What the executor does: it merges the next fetches' answers into the objects it received.
  first.data!.plans[0].code = "WRITTEN";
  const later = await fetchOf(operation, "{ plans { code } }");
  expect(received).toHaveLength(1);
  expect(parallel.data).toEqual({ plans: [{ code: "FREE" }] });
  expect(later.data).toEqual({ plans: [{ code: "FREE" }] });
});

it("never merges mutations: two identical ones are two writes", async () => {
  const operation = {};
  await Promise.all([
    fetchOf(operation, "mutation { plans { code } }"),
    fetchOf(operation, "mutation { plans { code } }"),
  ]);
  expect(received).toHaveLength(2);
});

it("within a mutation operation sends a later identical read again: the mutation may have changed it", async () => {
  const operation = {};
  await fetchOf(operation, ENTITIES, { representations: [{ __typename: "User", id: "u1" }] }, "mutation");
  await fetchOf(operation, ENTITIES, { representations: [{ __typename: "User", id: "u1" }] }, "mutation");
  expect(received).toHaveLength(2);
});
